/**
 * The BGP lab of docs/drivers/routed.md: hosts on two underlay segments joined by a router
 * namespace that runs a second BIRD (its configuration written here, as a site's router
 * would have its own). Each host runs the routed driver and a BIRD supervised by
 * BirdSupervisor (services/bgp), announcing its blocks: the router learns them and carries
 * traffic between sandboxes on different segments, in both families. BIRD killed: the
 * supervisor restarts it and a ping that was flowing keeps flowing (kernel routes persist,
 * graceful restart on the router). BIRD stopped for good: its routes are withdrawn on the
 * router and on the other hosts, and purged on its own. The leak check covers BIRD
 * processes, their files and the routes. Needs root and bird2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { BirdSupervisor } from '../../src/services/bgp/supervisor.js';
import { KERNEL_METRIC } from '../../src/services/bgp/config.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { assertNoLeaks, inNs, type TestNs } from '../helpers/netns.js';
import { birdRouterConfig, processesMentioning, startBirdRouter, type BirdRouter } from '../helpers/bird-router.js';
import { waitFor } from '../helpers/wait.js';
import { ping, routedEndpoint, routedNetwork, RoutedLab, type LabHost } from '../helpers/routed-lab.js';

before(async () => {
  await warmThreadpool();
});

const NET = 'f6'.repeat(32);
const SUBNETS = ['10.20.0.0/16', 'fd20::/64'];
const ROUTER_ASN = 65000;

interface BgpHost {
  host: LabHost;
  asn: number;
  addr4: string;
  addr6: string;
  router4: string;
  block4: string;
  block6: string;
  bird: BirdSupervisor;
  sandbox: { ns: TestNs; ep: EndpointRecord };
}

interface Lab {
  lab: RoutedLab;
  dir: string;
  net: NetworkRecord;
  router: TestNs;
  routerBird: BirdRouter;
  hosts: BgpHost[];
  logs: string[];
}

let lab: Lab | undefined;

async function build(): Promise<Lab> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-bgp-'));
  const logs: string[] = [];
  const l = new RoutedLab();
  const seg1 = l.segment('bgs');
  const seg2 = l.segment('bgs');
  const router = l.ns('bgr');
  l.plug(router, seg1, 'syseg1', ['10.99.1.1/24', 'fd99:1::1/64']);
  l.plug(router, seg2, 'syseg2', ['10.99.2.1/24', 'fd99:2::1/64']);
  inNs(router.name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  const net = routedNetwork(NET, SUBNETS, { name: 'bgp' });
  const specs = [
    { seg: seg1, addr4: '10.99.1.2', addr6: 'fd99:1::2', router4: '10.99.1.1', router6: 'fd99:1::1', n: 0 },
    { seg: seg1, addr4: '10.99.1.3', addr6: 'fd99:1::3', router4: '10.99.1.1', router6: 'fd99:1::1', n: 1 },
    { seg: seg2, addr4: '10.99.2.2', addr6: 'fd99:2::2', router4: '10.99.2.1', router6: 'fd99:2::1', n: 2 },
  ];
  const hosts: BgpHost[] = specs.map((s) => {
    const host = l.host('bgh');
    l.plug(host.ns, s.seg, 'sywan0', [`${s.addr4}/24`, `${s.addr6}/64`]);
    const block4 = `10.20.0.${s.n * 64}/26`;
    const block6 = s.n === 0 ? 'fd20::/122' : `fd20::${(s.n * 64).toString(16)}/122`;
    host.run(() => host.driver.ensureNetwork(net));
    const ep = routedEndpoint(net, `10.20.0.${s.n * 64 + 2}`, `fd20::${(s.n * 64 + 2).toString(16)}`);
    const ns = l.ns('bgsb');
    host.run(() => host.driver.join(net, ep, { id: ep.sandboxId, nsPath: ns.path }, { gateway: true }));
    const bird = new BirdSupervisor({ dir: path.join(dir, `host${s.n + 1}`), netnsPath: host.ns.path, backoffMs: 100, log: (m) => logs.push(`host${s.n + 1}: ${m}`) });
    return { host, asn: 65001 + s.n, addr4: s.addr4, addr6: s.addr6, router4: s.router4, block4, block6, bird, sandbox: { ns, ep } };
  });
  const routerBird = startBirdRouter(router.name, dir, birdRouterConfig({ routerId: '10.99.1.1', asn: ROUTER_ASN, peers: hosts.map((h, n) => ({ addr4: h.addr4, asn: h.asn, nextHop6: specs[n]!.router6 })) }), (l) => logs.push(l));
  for (const h of hosts) {
    await h.bird.start({ routerId: h.addr4, asn: h.asn, peers: [{ address: h.router4, asn: ROUTER_ASN }], blocks: [h.block4, h.block6], subnets: SUBNETS, nextHop6: h.addr6, holdTime: 6 });
  }
  return { lab: l, dir, net, router, routerBird, hosts, logs };
}

const getLogs = (): string[] => lab?.logs ?? [];

async function getLab(): Promise<Lab> {
  lab ??= await build();
  return lab;
}

after(async () => {
  if (!lab) return;
  const { hosts, routerBird, dir } = lab;
  for (const h of hosts) await h.bird.stop({ withdraw: true, rtnl: h.host.rtnl });
  await routerBird.stop();
  const names = lab.lab.names();
  await lab.lab.destroy();
  assert.deepEqual(processesMentioning(dir), [], 'no BIRD process of the lab is left');
  for (const h of hosts) assert.ok(!fs.existsSync(h.bird.paths.config) && !fs.existsSync(h.bird.paths.socket) && !fs.existsSync(h.bird.paths.pidFile), 'the supervisor removed its files');
  fs.rmSync(dir, { recursive: true, force: true });
  assertNoLeaks(names);
});

const routes = (ns: string, family: 4 | 6): string => inNs(ns, 'ip', [`-${family}`, 'route']).stdout;
const a4 = (h: BgpHost) => h.sandbox.ep.ipv4!.split('/')[0]!;
const a6 = (h: BgpHost) => h.sandbox.ep.ipv6!.split('/')[0]!;

test('BGP lab: the router learns every host\'s blocks, hosts learn the others\' through it, sandboxes on two segments talk in both families', async () => {
  const { hosts, router, logs } = await getLab();
  try {
    await waitFor(() => hosts.every((h) => routes(router.name, 4).includes(`${h.block4} via ${h.addr4}`)), 'the router\'s IPv4 routes to every block', 30_000, 200);
    await waitFor(() => hosts.every((h) => routes(router.name, 6).includes(`${h.block6} via ${h.addr6}`)), 'the router\'s IPv6 routes to every block', 30_000, 200);
    const [h1, , h3] = hosts as [BgpHost, BgpHost, BgpHost];
    await waitFor(() => routes(h3.host.ns.name, 4).includes(`${h1.block4} via 10.99.2.1 dev sywan0 proto bird metric ${KERNEL_METRIC}`), 'host 3 learned host 1\'s block', 30_000, 200);
    await waitFor(() => routes(h1.host.ns.name, 6).includes(`${h3.block6} via fd99:1::1 dev sywan0 proto bird metric ${KERNEL_METRIC}`), 'host 1 learned host 3\'s IPv6 block', 30_000, 200);
    assert.doesNotMatch(routes(h1.host.ns.name, 4), new RegExp(`${h1.block4.replace(/\./g, '\\.')} via`), 'a host never learns its own block back');
    assert.ok(ping(h1.sandbox.ns.name, a4(h3)), 'host 1\'s sandbox → host 3\'s (another segment, v4)');
    assert.ok(ping(h3.sandbox.ns.name, a4(h1)), 'host 3\'s sandbox → host 1\'s (v4)');
    assert.ok(ping(h1.sandbox.ns.name, a6(h3)), 'host 1\'s sandbox → host 3\'s (v6)');
    assert.ok(ping(h3.sandbox.ns.name, a6(hosts[1]!)), 'host 3\'s sandbox → host 2\'s (v6)');
    // The path crosses the router: TTL 64 - 3 (host 3, router, host 1).
    assert.match(inNs(h3.sandbox.ns.name, 'ping', ['-c', '1', a4(h1)]).stdout, /ttl=61/);
  } catch (err) {
    throw new Error(`${String(err)}\nrouter v6: ${routes(router.name, 6)}\nhost3 v6: ${routes(hosts[2]!.host.ns.name, 6)}\n${logs.slice(-30).join('\n')}`);
  }
});

/** Host 3's sandbox pings host 1's, 60 echo requests 50 ms apart, while host 1's BIRD is SIGKILLed; resolves with [sent, received] and the new PID. */
async function flowAcrossKill(h1: BgpHost, h3: BgpHost): Promise<{ sent: number; got: number; before: number; after: number }> {
  const before = h1.bird.pid!;
  assert.ok(before > 0);
  const flow = spawn('nsenter', [`--net=${h3.sandbox.ns.path}`, '--', 'ping', '-c', '60', '-i', '0.05', '-W', '1', a4(h1)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  flow.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<void>((r) => flow.once('exit', () => r()));
  await new Promise((r) => setTimeout(r, 500));
  process.kill(before, 'SIGKILL');
  const after = Number(await waitFor(() => h1.bird.pid !== undefined && h1.bird.pid !== before && h1.bird.pid, 'the supervisor restarted BIRD', 10_000, 50));
  await done;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert.ok(m, out);
  await h1.bird.waitReady();
  await h1.bird.waitEstablished(20_000);
  return { sent: Number(m![1]), got: Number(m![2]), before, after };
}

const configOf = (h: BgpHost, o: { gracefulRestart?: boolean } = {}) => ({
  routerId: h.addr4, asn: h.asn, peers: [{ address: h.router4, asn: ROUTER_ASN }], blocks: [h.block4, h.block6], subnets: SUBNETS, nextHop6: h.addr6, holdTime: 6, ...o,
});

test('BGP lab: BIRD killed is restarted by the supervisor, and a ping that was flowing keeps flowing (control: without graceful restart the flow breaks)', async () => {
  const { hosts, logs } = await getLab();
  const [h1, , h3] = hosts as [BgpHost, BgpHost, BgpHost];
  const startsBefore = h1.bird.starts;
  const { sent, got, before, after } = await flowAcrossKill(h1, h3);
  assert.ok(sent === 60 && got === 60, `every echo request of the flow was answered across the restart (${got}/${sent})\n${logs.slice(-10).join('\n')}`);
  assert.equal(h1.bird.starts, startsBefore + 1, 'started again');
  assert.notEqual(after, before);
  // The restarted BIRD re-established its session and still announces host 1's block.
  await waitFor(() => routes(h3.host.ns.name, 4).includes(`${h1.block4} via 10.99.2.1`), 'host 1\'s block still routed on host 3', 20_000, 200);
  assert.ok(ping(h3.sandbox.ns.name, a4(h1)), 'and traffic flows after the restart');
  // Control: the same kill with graceful restart off on host 1's session: the router drops
  // host 1's block when the session goes, and the flow loses packets until BIRD is back.
  await h1.bird.update(configOf(h1, { gracefulRestart: false }));
  await h1.bird.waitEstablished(20_000);
  await waitFor(() => ping(h3.sandbox.ns.name, a4(h1)), 'traffic flows with graceful restart off', 20_000, 200);
  const control = await flowAcrossKill(h1, h3);
  assert.ok(control.got < control.sent, `control: without graceful restart the flow lost packets (${control.got}/${control.sent})`);
  await h1.bird.update(configOf(h1));
  await h1.bird.waitEstablished(20_000);
  await waitFor(() => routes(h3.host.ns.name, 4).includes(`${h1.block4} via 10.99.2.1`), 'host 1\'s block routed on host 3 again', 20_000, 200);
});

test('BGP lab: a configuration change is loaded without a restart (birdc configure); a host\'s BIRD stopped for good has its routes withdrawn everywhere', async () => {
  const { hosts, router } = await getLab();
  const [h1, h2, h3] = hosts as [BgpHost, BgpHost, BgpHost];
  // Host 2 takes a second block: announced by a reload, same PID.
  const pid = h2.bird.pid;
  const extra = '10.20.1.0/26';
  assert.equal(await h2.bird.update({ routerId: h2.addr4, asn: h2.asn, peers: [{ address: h2.router4, asn: ROUTER_ASN }], blocks: [h2.block4, h2.block6, extra], subnets: SUBNETS, nextHop6: h2.addr6, holdTime: 6 }), true);
  assert.equal(await h2.bird.update({ routerId: h2.addr4, asn: h2.asn, peers: [{ address: h2.router4, asn: ROUTER_ASN }], blocks: [h2.block4, h2.block6, extra], subnets: SUBNETS, nextHop6: h2.addr6, holdTime: 6 }), false, 'an unchanged configuration is not reloaded');
  await waitFor(() => routes(h3.host.ns.name, 4).includes(`${extra} via 10.99.2.1`), 'host 3 learned host 2\'s new block', 20_000, 200);
  assert.equal(h2.bird.pid, pid, 'reloaded, not restarted');
  // Host 1 stops for good: the router and host 3 drop its blocks; host 1 drops what BIRD put in its kernel.
  await h1.bird.stop({ withdraw: true, rtnl: h1.host.rtnl });
  assert.equal(h1.bird.pid, undefined);
  await waitFor(() => !routes(router.name, 4).includes(h1.block4) && !routes(router.name, 6).includes(h1.block6), 'the router withdrew host 1\'s blocks', 20_000, 200).catch((err) => {
    throw new Error(`${String(err)}\n${lab!.routerBird.birdc(['show', 'route', 'all', 'for', '10.20.0.1'])}\n${routes(router.name, 4)}\n${routes(router.name, 6)}\n${getLogs().slice(-30).join('\n')}`);
  });
  await waitFor(() => !routes(h3.host.ns.name, 4).includes(h1.block4), 'host 3 withdrew host 1\'s block', 20_000, 200);
  assert.doesNotMatch(inNs(h1.host.ns.name, 'ip', ['route', 'show', 'proto', 'bird']).stdout + inNs(h1.host.ns.name, 'ip', ['-6', 'route', 'show', 'proto', 'bird']).stdout, /via/, 'host 1 kept none of BIRD\'s routes');
  assert.ok(!ping(h3.sandbox.ns.name, a4(h1)), 'host 1\'s sandbox is no longer reached');
  assert.ok(ping(h3.sandbox.ns.name, a4(h2)), 'host 2\'s still is');
});
