/**
 * Routed networks across two underlay segments through the daemons' own BGP flags
 * (docs/drivers/routed.md "BGP through the daemon"): the cluster lab with host0 and host1 on
 * segment 0 and host2 on segment 1, joined by a router namespace running a BIRD of its own
 * (test/helpers/bird-router.ts, eBGP to every host). Every daemon is started with
 * `--bgp-asn 6500N --bgp-peer ROUTER:65000` and its two data-path addresses. The router
 * learns every host's IPv4 and IPv6 blocks (birdc show route), the hosts learn the other
 * segment's blocks through it (protocol bird, metric 377; same-segment blocks stay direct,
 * protocol 83), sandboxes on the two segments ping and talk TCP both ways in both families,
 * host2's BIRD killed → the daemon's supervisor restarts it and a flow that was running loses
 * nothing. Leak check: the network removed → no block route is left on any host or on the
 * router; the daemons' and the router's BIRD processes are gone after close().
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { inNs, waitFor } from '../helpers/netns.js';
import { birdRouterConfig, processesMentioning, startBirdRouter, type BirdRouter } from '../helpers/bird-router.js';
import { tcpAsk, tcpServer, type TcpServer } from '../helpers/sandbox-tcp.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/routed.js';
import { KERNEL_METRIC } from '../../src/services/bgp/config.js';

const ROUTER_ASN = 65000;
const asnOf = (i: number) => 65001 + i;
const names = ['bga', 'bgb', 'bgc'];
let lab: ClusterLab;
let router: BirdRouter | undefined;
let dir = '';
const servers: TcpServer[] = [];
const birdPids = new Set<number>();
const logs: string[] = [];

before(async () => {
  lab = await startClusterLab({
    hosts: 3,
    segments: [0, 0, 1],
    dataPath6: true,
    hostArgs: (i, at) => ['--bgp-asn', String(asnOf(i)), '--bgp-peer', `${at.router!.address[at.segment]}:${ROUTER_ASN}`],
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-bgpc-'));
  const r = lab.router!;
  router = startBirdRouter(r.ns.name, dir, birdRouterConfig({
    routerId: r.address[0],
    asn: ROUTER_ASN,
    peers: lab.hosts.map((h, i) => ({ addr4: h.address, asn: asnOf(i), nextHop6: r.address6[h.segment] })),
  }), (l) => logs.push(l));
});

after(async () => {
  for (const s of servers) await s.stop();
  for (let i = 0; i < 3; i++) lab?.cli(i, ['rm', '-f', names[i]!], { allowFail: true });
  lab?.cli(0, ['network', 'rm', 'rbgp'], { allowFail: true });
  await router?.stop();
  await lab?.close();
  // BIRD leak check: every BIRD a daemon ran (each PID seen) and the router's are gone.
  for (const pid of birdPids) assert.ok(!fs.existsSync(`/proc/${pid}`), `BIRD ${pid} stopped with its daemon`);
  if (dir) {
    assert.deepEqual(processesMentioning(dir), [], 'the router\'s BIRD is gone');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const h of lab?.hosts ?? []) assert.deepEqual(processesMentioning(h.daemon.execRoot), [], `no process of ${h.name}'s exec root is left`);
});

type Net = { IPAddress: string; GlobalIPv6Address: string };
type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, Net> } }[];
interface Sb { ns: string; v4: string; v6: string }
let sb: Sb[] = [];

const routes = (ns: string, family: 4 | 6, ...sel: string[]) => inNs(ns, 'ip', [`-${family}`, 'route', 'show', ...sel]).stdout;
const hostNs = (i: number) => lab.hosts[i]!.ns.name;
const ping = (i: number, nsPath: string, to: string) => lab.hosts[i]!.daemon.inSandbox(nsPath, 'ping', ['-c1', '-W1', to], { allowFail: true }).status === 0;
const birdPidOf = (i: number): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(path.join(lab.hosts[i]!.daemon.execRoot, 'bird', 'bird.pid'), 'utf8').trim());
    if (pid > 0 && fs.existsSync(`/proc/${pid}`)) {
      birdPids.add(pid);
      return pid;
    }
  } catch {
    // not written yet
  }
  return undefined;
};
const blocksOf = (host: string) =>
  Object.entries((JSON.parse(lab.cli(0, ['network', 'inspect', 'rbgp']).stdout) as { Blocks?: Record<string, string> }[])[0]!.Blocks ?? {})
    .filter(([, n]) => n === host).map(([c]) => c);
const esc = (s: string) => s.replace(/[.]/g, '\\.');

test('two segments through the daemons\' --bgp-asn/--bgp-peer: the router learns every block, hosts learn the other segment\'s, traffic both ways in both families', async (t) => {
  for (let i = 0; i < 3; i++) assert.ok(birdPidOf(i), `host${i}'s daemon runs BIRD`);
  lab.cli(0, ['network', 'create', '-d', 'routed', '--attachable', '--subnet', '10.79.0.0/24', '--subnet', 'fd79::/64', '--ipv6', '-o', 'com.switchyard.routed.block_size=29', 'rbgp']);
  const t0 = Date.now();
  sb = names.map((name, i) => {
    lab.cli(i, ['run', '-d', '--name', name, '--network', 'rbgp', 'sleep', '600']);
    const s = (JSON.parse(lab.cli(i, ['inspect', name]).stdout) as Inspect)[0]!.NetworkSettings;
    return { ns: s.SandboxKey, v4: s.Networks['rbgp']!.IPAddress, v6: s.Networks['rbgp']!.GlobalIPv6Address };
  });
  const r = lab.router!;
  const blocks = [0, 1, 2].map((i) => blocksOf(`host${i}`));
  try {
    await waitFor(() => blocks.every((b) => b.length === 2), 'every host holds an IPv4 and an IPv6 block', 10_000, 100);
    const all = [0, 1, 2].map((i) => blocksOf(`host${i}`));
    // The router's BIRD shows every host's blocks, and its kernel routes them via the host.
    await waitFor(() => {
      const shown = router!.birdc(['show', 'route']);
      return all.flat().every((c) => shown.includes(c));
    }, 'the router\'s BIRD shows every block (birdc show route)', 30_000, 200);
    for (let i = 0; i < 3; i++) {
      const h = lab.hosts[i]!;
      for (const c of all[i]!) {
        const fam = c.includes(':') ? 6 : 4;
        await waitFor(() => routes(r.ns.name, fam, c).includes(`via ${fam === 4 ? h.address : h.address6}`), `the router routes ${c} via host${i}`, 30_000, 200);
      }
    }
    t.diagnostic(`router show route:\n${router!.birdc(['show', 'route'])}`);
    // host2 (segment 1) learns host0's blocks through the router, by BGP; host0 learns host2's.
    for (const [at, of] of [[2, 0], [0, 2], [2, 1]] as const) {
      for (const c of all[of]!) {
        const fam = c.includes(':') ? 6 : 4;
        const via = fam === 4 ? r.address[lab.hosts[at]!.segment] : r.address6[lab.hosts[at]!.segment];
        await waitFor(() => routes(hostNs(at), fam, c).includes(`via ${via} dev uplink proto bird metric ${KERNEL_METRIC}`), `host${at} learned host${of}'s ${c} via the router`, 30_000, 200);
      }
    }
    // No etcd route to a host on the other segment (not a next hop of ours); same segment: direct, protocol 83.
    assert.doesNotMatch(routes(hostNs(0), 4, 'proto', String(RTPROT_SWITCHYARD)), new RegExp(`via ${esc(lab.hosts[2]!.address)}`));
    for (const c of all[1]!) {
      const fam = c.includes(':') ? 6 : 4;
      await waitFor(() => routes(hostNs(0), fam, c).split('\n')[0]!.includes(`via ${fam === 4 ? lab.hosts[1]!.address : lab.hosts[1]!.address6} dev uplink proto ${RTPROT_SWITCHYARD}`), `host0 reaches host1's ${c} directly (the preferred route)`, 10_000, 100);
    }
    await waitFor(() => ping(0, sb[0]!.ns, sb[2]!.v4) && ping(2, sb[2]!.ns, sb[0]!.v6), 'ping across the segments', 20_000, 200);
    t.diagnostic(`network create + three runs → ping across the segments after ${Date.now() - t0} ms`);
    for (const [a, b] of [[0, 2], [2, 0], [1, 2], [2, 1], [0, 1], [1, 0]] as const) {
      assert.ok(ping(a, sb[a]!.ns, sb[b]!.v4), `host${a} → host${b} (IPv4)`);
      assert.ok(ping(a, sb[a]!.ns, sb[b]!.v6), `host${a} → host${b} (IPv6)`);
    }
    // Through the router: TTL 64 - 3 (host2, router, host0).
    assert.match(lab.hosts[2]!.daemon.inSandbox(sb[2]!.ns, 'ping', ['-c1', '-W1', sb[0]!.v4]).stdout, /ttl=61/);
    sb.forEach((s, i) => servers.push(tcpServer(s.ns, 7071, `bgp-host${i}`)));
    await waitFor(() => tcpAsk(sb[0]!.ns, sb[2]!.v4, 7071) === 'bgp-host2', 'the TCP servers listen', 10_000, 200);
    for (const [a, b] of [[0, 2], [2, 0], [1, 2], [2, 1]] as const) {
      assert.equal(tcpAsk(sb[a]!.ns, sb[b]!.v4, 7071), `bgp-host${b}`, `TCP host${a} → host${b} over IPv4`);
      assert.equal(tcpAsk(sb[a]!.ns, sb[b]!.v6, 7071), `bgp-host${b}`, `TCP host${a} → host${b} over IPv6`);
    }
  } catch (err) {
    throw new Error(`${String(err)}\nrouter:\n${router!.birdc(['show', 'route'])}\n${routes(r.ns.name, 4)}${routes(r.ns.name, 6)}\nhost2:\n${routes(hostNs(2), 4)}${routes(hostNs(2), 6)}\n${router!.birdc(['show', 'protocols'])}\n${logs.slice(-20).join('\n')}\n${lab.hosts[2]!.daemon.log().split('\n').filter((l) => /bgp|bird|routed/.test(l)).slice(-20).join('\n')}`);
  }
});

test('BIRD killed on host2: the daemon\'s supervisor restarts it, and a flow across the segments loses nothing', async (t) => {
  const before = birdPidOf(2)!;
  assert.ok(before);
  // 60 echo requests 50 ms apart from host0's sandbox to host2's, across the router.
  const flow = spawn('nsenter', [`--net=${sb[0]!.ns}`, '--', 'ping', '-c', '60', '-i', '0.05', '-W', '1', sb[2]!.v4], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  flow.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<void>((r) => flow.once('exit', () => r()));
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  process.kill(before, 'SIGKILL');
  const after = await waitFor(() => {
    const p = birdPidOf(2);
    return p !== undefined && p !== before ? p : undefined;
  }, 'the daemon\'s supervisor restarted BIRD', 15_000, 50);
  t.diagnostic(`SIGKILL → a new BIRD (${before} → ${after}) after ${Date.now() - t0} ms`);
  await done;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert.ok(m, out);
  assert.equal(Number(m![2]), Number(m![1]), `every echo request of the flow was answered across the restart (${m![2]}/${m![1]})`);
  // The restarted BIRD's session is back (the router shows it Established) and still announces host2's blocks.
  await waitFor(() => /host3\s+BGP\s+---\s+up\s+\S+\s+Established/.test(router!.birdc(['show', 'protocols'])), 'the router\'s session to host2 re-established', 30_000, 200);
  for (const c of blocksOf('host2')) await waitFor(() => router!.birdc(['show', 'route', 'for', c]).includes(c), `the router still has ${c}`, 20_000, 200);
  assert.ok(ping(0, sb[0]!.ns, sb[2]!.v6) && ping(2, sb[2]!.ns, sb[0]!.v4), 'traffic flows both ways after the restart');
});

test('leak check: the network removed → no block route left on any host or on the router', async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (let i = 0; i < 3; i++) lab.cli(i, ['rm', '-f', names[i]!]);
  lab.cli(0, ['network', 'rm', 'rbgp']);
  const left = (ns: string) => [4, 6].map((f) => routes(ns, f as 4 | 6).split('\n').filter((l) => l.startsWith('10.79.') || l.startsWith('fd79:')).join('\n')).join('').trim();
  for (let i = 0; i < 3; i++) await waitFor(() => left(hostNs(i)) === '', `host${i} kept no route into the network`, 20_000, 200).catch((err) => { throw new Error(`${String(err)}\n${left(hostNs(i))}`); });
  await waitFor(() => left(lab.router!.ns.name) === '', 'the router withdrew every block', 20_000, 200).catch((err) => { throw new Error(`${String(err)}\n${left(lab.router!.ns.name)}`); });
});
