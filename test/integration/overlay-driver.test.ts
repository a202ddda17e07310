/**
 * The overlay driver against the real kernel: an underlay namespace with a bridge, three
 * "host" namespaces on it (each with its own driver, whose rtnetlink is opened in that host,
 * and its own directory of overlay namespaces), an overlay network ensured on each, a
 * sandbox joined on each, peers programmed by hand (syncPeers/peerJoin/peerLeave) as the
 * cluster layer will. Proven with real traffic: ICMP and TCP across hosts in IPv4 and IPv6;
 * no packet on the underlay before the peers are known (a raw capture on the underlay);
 * the VXLAN header carries the network's VNI; full-size packets cross and one byte more
 * fails with "message too long"; different VNIs do not reach each other even with a wrong
 * entry pointing across; a sandbox cannot reach its host. Ends with a leak check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { releaseNetnsDir, warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { OverlayDriver } from '../../src/drivers/overlay.js';
import { overlayLinkNames, overlayNsName, overlayProxyName, overlayVethName } from '../../src/drivers/overlay-plan.js';
import type { OverlayPorts } from '../../src/drivers/overlay-ports.js';
import { NftOverlayPorts } from '../../src/services/firewall/overlay-ports.js';
import { Nft } from '../../src/kernel/nftables.js';
import { NftElements } from '../../src/kernel/nft-elements.js';
import type { PeerEndpoint } from '../../src/drivers/contract.js';
import { parseOverlayOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { SwitchyardError } from '../../src/errors.js';
import { assertNoLeaks, inNs, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';
import { waitFor } from '../helpers/wait.js';
import { captureVxlan } from '../helpers/vxlan-capture.js';
import { CLI } from '../helpers/daemon.js';

before(async () => {
  await warmThreadpool();
});

const PORT = 4789;
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-ovl-'));
after(() => {
  for (const d of fs.readdirSync(ROOT)) releaseNetnsDir(path.join(ROOT, d));
  fs.rmSync(ROOT, { recursive: true, force: true });
});

const planner = new OverlayDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, ports: null as unknown as OverlayPorts, cluster: { dataPathAddress: '10.99.0.1', dataPathPort: 4789 }, log: () => {} });

/** The ports' nftables without a firewall: the guarded ports' forwarding only (the checks: overlay-antispoof.test.ts). */
const forwardingOnly = (): OverlayPorts => new NftOverlayPorts({ checked: false, openNft: (ns) => Nft.open(ns), openElements: (ns) => NftElements.open(ns) });

function network(id: string, options: Record<string, string> = {}, others: NetworkRecord[] = []): NetworkRecord {
  return {
    v: 1, id, name: `ov-${id.slice(0, 4)}`, driver: 'overlay', created: '', scope: 'global', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {},
    pools: [
      { subnet: '10.10.0.0/24', gateway: '10.10.0.1', userSubnet: true },
      { subnet: 'fd00:10::/64', gateway: 'fd00:10::1', userSubnet: true },
    ],
    internal: false, attachable: true, ingress: false, options, labels: {}, predefined: false,
    state: planner.planNetwork({ id, name: 'ov', options: parseOverlayOptions(options), predefined: false, others }),
  };
}

const endpoint = (netId: string, n: number): EndpointRecord => ({
  v: 1, id: `${netId.slice(0, 2)}${`${n}`.repeat(62)}`, networkId: netId, sandboxId: `${n}`.repeat(64), ifname: 'eth0',
  mac: `02:42:0a:0a:00:1${n}`, ipv4: `10.10.0.1${n}/24`, gateway: '10.10.0.1', ipv6: `fd00:10::1${n}/64`, ipv6Gateway: 'fd00:10::1',
  aliases: [], links: [], dnsNames: [], order: n,
});

interface Host {
  ns: TestNs;
  addr: string;
  rtnl: Rtnl;
  driver: OverlayDriver;
  nsDir: string;
  /** The host's port on the underlay bridge (in the underlay namespace). */
  port: string;
  run<T>(fn: () => T): T;
}

interface Lab {
  underlay: TestNs;
  hosts: Host[];
  sandboxes: TestNs[];
  cleanup(): void;
}

/** An underlay namespace with bridge `sybr0`; host i has `syul0` (10.99.0.i/24, MTU `mtu`) on it. */
function makeLab(n: number, mtu = 1500): Lab {
  const underlay = makeNs('ovu');
  sh('ip', ['-n', underlay.name, 'link', 'add', 'sybr0', 'mtu', String(mtu), 'type', 'bridge']);
  sh('ip', ['-n', underlay.name, 'link', 'set', 'sybr0', 'up']);
  const hosts: Host[] = [];
  const sandboxes: TestNs[] = [];
  const tag = randomBytes(2).toString('hex');
  for (let i = 1; i <= n; i++) {
    const ns = makeNs('ovh');
    const port = `syp${i}`;
    sh('ip', ['-n', ns.name, 'link', 'add', 'syul0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', port, 'netns', underlay.name]);
    sh('ip', ['-n', underlay.name, 'link', 'set', port, 'mtu', String(mtu), 'master', 'sybr0', 'up']);
    const addr = `10.99.0.${i}`;
    sh('ip', ['-n', ns.name, 'addr', 'add', `${addr}/24`, 'dev', 'syul0']);
    sh('ip', ['-n', ns.name, 'link', 'set', 'syul0', 'up']);
    const rtnl = Rtnl.open(ns.path);
    const nsDir = path.join(ROOT, `${tag}-h${i}`);
    const driver = new OverlayDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), ports: forwardingOnly(), nsDir, cluster: { dataPathAddress: addr, dataPathPort: PORT }, log: () => {} });
    // Synchronous work runs inside the host; an async call's synchronous part does (its promise is returned).
    const run = <T>(fn: () => T): T => {
      let out: T;
      withNetns(ns.path, () => void (out = fn()));
      return out!;
    };
    hosts.push({ ns, addr, rtnl, driver, nsDir, port, run });
  }
  return {
    underlay, hosts, sandboxes,
    cleanup: () => {
      for (const h of hosts) h.rtnl.close();
      for (const s of sandboxes) removeNs(s);
      for (const h of hosts) removeNs(h.ns);
      removeNs(underlay);
    },
  };
}

const sandbox = (lab: Lab): TestNs => {
  const s = makeNs('ovs');
  lab.sandboxes.push(s);
  return s;
};
const sbOf = (ns: TestNs, ep: EndpointRecord) => ({ id: ep.sandboxId, nsPath: ns.path });

const peerOf = (h: Host, net: NetworkRecord, ep: EndpointRecord): PeerEndpoint => ({
  endpointId: ep.id, networkId: net.id, nodeId: h.ns.name, nodeAddress: h.addr, mac: ep.mac,
  ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}), ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}),
});

const ping = (ns: TestNs, dst: string, extra: string[] = []): boolean =>
  inNs(ns.name, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', ...extra, dst], { allowFail: true }).status === 0;

/** Runs a command inside a namespace pinned anywhere (the overlay namespaces are not in /run/netns). */
const inPin = (nsPath: string, cmd: string, args: string[]) => sh('nsenter', [`--net=${nsPath}`, '--', cmd, ...args]);

/** A raw capture on one underlay port (test/helpers/vxlan-capture.ts): VXLAN datagrams to PORT. */
const capture = (underlay: TestNs, port: string) => captureVxlan(underlay.path, port, PORT);

/** A TCP server in `ns` answering every connection with `hello-overlay` (v4 and v6). */
function tcpServer(ns: TestNs): ChildProcess {
  return spawn('nsenter', [`--net=${ns.path}`, '--', 'socat', 'TCP6-LISTEN:7000,ipv6only=0,reuseaddr,fork', 'SYSTEM:echo hello-overlay'], { stdio: 'ignore' });
}

function tcpAnswer(ns: TestNs, target: string): string {
  for (let i = 0; i < 20; i++) {
    const r = inNs(ns.name, 'socat', ['-T', '3', '-', `TCP:${target}:7000,connect-timeout=2`], { allowFail: true, input: '' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
    sh('sleep', ['0.1']);
  }
  return '';
}

const fdbOf = (h: Host, net: NetworkRecord): string => inPin(path.join(h.nsDir, overlayNsName(net.id)), 'bridge', ['fdb', 'show', 'dev', overlayLinkNames(net).vxlan]).stdout;
const neighOf = (h: Host, net: NetworkRecord): string => inPin(path.join(h.nsDir, overlayNsName(net.id)), 'ip', ['neigh', 'show', 'dev', overlayLinkNames(net).vxlan]).stdout;

test('overlay across three hosts: v4/v6 ping and TCP once peers are programmed, nothing on the underlay before, the VNI on the wire, MTU exact, stale entries removed, no way to the host', async () => {
  const lab = makeLab(3);
  const servers: ChildProcess[] = [];
  try {
    const [h1, h2, h3] = lab.hosts as [Host, Host, Host];
    const net = network(randomBytes(32).toString('hex'));
    const vni = (net.state as { vni: number }).vni;
    assert.equal(vni, 4096, 'the first VNI given out is 4096');
    const eps = [1, 2, 3].map((n) => endpoint(net.id, n)) as [EndpointRecord, EndpointRecord, EndpointRecord];
    const sbs = [sandbox(lab), sandbox(lab), sandbox(lab)] as [TestNs, TestNs, TestNs];
    lab.hosts.forEach((h, i) => h.run(() => {
      h.driver.ensureNetwork(net);
      h.driver.ensureNetwork(net); // idempotent
      // Host 1's sandbox is sealed (a direct port), the others not (guarded ports): every pair of kinds talks below.
      h.driver.join(net, eps[i]!, sbOf(sbs[i]!, eps[i]!), { gateway: true, sealed: i === 0 });
    }));
    const ovPath = path.join(h1.nsDir, overlayNsName(net.id));
    assert.match(inNs(sbs[0].name, 'ip', ['-d', 'link', 'show', 'eth0']).stdout, /macvlan mode bridge/, 'a sealed sandbox: a macvlan (direct port)');
    assert.match(inNs(sbs[1].name, 'ip', ['-d', 'link', 'show', 'eth0']).stdout, /veth/, 'otherwise a veth (guarded port)');
    const ov2 = path.join(lab.hosts[1]!.nsDir, overlayNsName(net.id));
    assert.match(inPin(ov2, 'ip', ['-d', 'link', 'show', overlayProxyName(eps[1].id)]).stdout, /macvlan mode bridge/, 'the guarded port\'s proxy macvlan');
    const names = overlayLinkNames(net);

    // The layout: VXLAN with learning off and the proxy on, no bridge, no flood entry.
    const vxText = inPin(ovPath, 'ip', ['-d', 'link', 'show', names.vxlan]).stdout;
    assert.match(vxText, new RegExp(`vxlan id ${vni} local 10\\.99\\.0\\.1 .*dstport ${PORT}`), vxText);
    assert.match(vxText, /nolearning/);
    assert.match(vxText, /proxy/);
    assert.doesNotMatch(vxText, /master/, 'the VXLAN device is on no bridge (its ports are macvlans)');
    assert.doesNotMatch(inPin(ovPath, 'ip', ['-o', 'link', 'show', 'type', 'bridge']).stdout, /\S/, 'no bridge in the network\'s namespace');
    assert.doesNotMatch(fdbOf(h1, net), /00:00:00:00:00:00/, 'no all-zeros (flood) entry');
    // The network's namespace holds no address and no route: nothing in it can be talked to.
    assert.doesNotMatch(inPin(ovPath, 'ip', ['addr']).stdout, /inet/, 'no address in the overlay namespace');
    assert.equal(inPin(ovPath, 'ip', ['route']).stdout.trim(), '');
    assert.equal(inPin(ovPath, 'ip', ['-6', 'route']).stdout.trim(), '');
    // The VXLAN's UDP socket is on the underlay (the host's namespace), not in the overlay's.
    assert.match(inNs(h1.ns.name, 'ss', ['-uln']).stdout, new RegExp(`:${PORT}\\b`), 'VXLAN socket in the host namespace');
    assert.doesNotMatch(inPin(ovPath, 'ss', ['-uln']).stdout, new RegExp(`:${PORT}\\b`));
    // The sandbox: MTU 1500 - 50, its addresses, no default route through the overlay.
    const eth0 = inNs(sbs[0].name, 'ip', ['-d', 'link', 'show', 'eth0']).stdout;
    assert.match(eth0, /mtu 1450 /);
    assert.equal(inNs(sbs[0].name, 'ip', ['route', 'show', 'default']).stdout.trim(), '', 'no default route (egress is the gateway bridge, stage 2)');
    // Every link made is marked, and the driver recognises the marks.
    const made = JSON.parse(inPin(ovPath, 'ip', ['-j', '-d', 'link', 'show']).stdout) as { ifname: string; ifalias?: string }[];
    for (const l of made.filter((x) => x.ifname !== 'lo')) {
      assert.ok(l.ifalias?.startsWith('switchyard:'), `${l.ifname} carries a switchyard: alias (${l.ifalias})`);
      assert.ok(h1.driver.ownsLink({ name: l.ifname, ...(l.ifalias ? { alias: l.ifalias } : {}) }), `ownsLink ${l.ifname}`);
    }
    assert.ok(!h1.driver.ownsLink({ name: names.bridge }), 'an unmarked link of the same name is not the driver\'s');

    // Before any peer is known: no reach, and not one VXLAN packet leaves (no flooding).
    let cap = await capture(lab.underlay, h1.port);
    assert.ok(!ping(sbs[0], '10.10.0.12'), 'no reach before peerJoin (v4)');
    assert.ok(!ping(sbs[0], 'fd00:10::12'), 'no reach before peerJoin (v6)');
    assert.equal((await cap.stop()).count, 0, 'no VXLAN packet on the underlay before the peers are known');

    // Peers, as the cluster layer will hand them over: a full sync on h1 and h2, joins on h3.
    h1.run(() => h1.driver.syncPeers(net, [peerOf(h2, net, eps[1]), peerOf(h3, net, eps[2])]));
    h2.run(() => h2.driver.syncPeers(net, [peerOf(h1, net, eps[0]), peerOf(h3, net, eps[2])]));
    h3.run(() => {
      h3.driver.peerJoin(net, peerOf(h1, net, eps[0]));
      h3.driver.peerJoin(net, peerOf(h2, net, eps[1]));
      h3.driver.peerJoin(net, peerOf(h2, net, eps[1])); // idempotent
    });
    assert.match(fdbOf(h1, net), /02:42:0a:0a:00:12 dst 10\.99\.0\.2 .*self permanent/);
    assert.match(neighOf(h1, net), /10\.10\.0\.12 lladdr 02:42:0a:0a:00:12 PERMANENT/);
    assert.match(neighOf(h1, net), /fd00:10::12 lladdr 02:42:0a:0a:00:12 PERMANENT/);

    cap = await capture(lab.underlay, h1.port);
    for (const [from, to] of [[0, '10.10.0.12'], [0, '10.10.0.13'], [1, '10.10.0.11'], [2, '10.10.0.12'], [0, 'fd00:10::12'], [1, 'fd00:10::13'], [2, 'fd00:10::11']] as const) {
      assert.ok(ping(sbs[from], to), `sandbox ${from + 1} → ${to}`);
    }
    const seen = await cap.stop();
    assert.ok(seen.count > 0, 'the traffic crossed the underlay as VXLAN');
    assert.deepEqual(seen.vnis, [vni], `every VXLAN header carries the network's VNI ${vni}`);

    // TCP, both families.
    servers.push(tcpServer(sbs[1]));
    assert.equal(tcpAnswer(sbs[0], '10.10.0.12'), 'hello-overlay', 'TCP over IPv4 across hosts');
    assert.equal(tcpAnswer(sbs[2], '[fd00:10::12]'), 'hello-overlay', 'TCP over IPv6 across hosts');

    // MTU: the largest payload crosses in one piece (outer packet = the underlay's 1500), one more byte fails cleanly.
    cap = await capture(lab.underlay, h1.port);
    assert.ok(ping(sbs[0], '10.10.0.12', ['-M', 'do', '-s', '1422']), 'ping -M do -s 1422 (1450-byte packet) crosses');
    assert.equal((await cap.stop()).maxOuter, 1500, 'the full-size packet fills the underlay MTU exactly');
    const over = inNs(sbs[0].name, 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '1423', '10.10.0.12'], { allowFail: true });
    assert.notEqual(over.status, 0);
    assert.match(over.stderr + over.stdout, /message too long/i, 'one byte more: EMSGSIZE at the sender, not a silent loss');
    assert.ok(ping(sbs[0], 'fd00:10::12', ['-M', 'do', '-s', '1402']), 'IPv6: ping -M do -s 1402 crosses');
    const over6 = inNs(sbs[0].name, 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '1403', 'fd00:10::12'], { allowFail: true });
    assert.notEqual(over6.status, 0);
    assert.match(over6.stderr + over6.stdout, /message too long/i);

    // No way to the host: not through the overlay, even with a default route added by hand.
    assert.ok(ping(h2.ns, '10.99.0.1'), 'control: the host address is live on the underlay');
    sh('ip', ['-n', sbs[0].name, 'route', 'add', 'default', 'via', '10.10.0.1']);
    assert.ok(!ping(sbs[0], '10.99.0.1'), 'sandbox ↛ its host\'s underlay address');
    assert.ok(!ping(sbs[0], '10.99.0.2'), 'sandbox ↛ another host\'s underlay address');
    sh('ip', ['-n', sbs[0].name, 'route', 'del', 'default']);

    // syncPeers removes what it programmed that is no longer in the list.
    const stale: PeerEndpoint = { endpointId: 'f'.repeat(64), networkId: net.id, nodeId: 'gone', nodeAddress: '10.99.0.9', mac: '02:42:0a:0a:00:99', ipv4: '10.10.0.99/24', ipv6: 'fd00:10::99/64' };
    h1.run(() => h1.driver.peerJoin(net, stale));
    assert.match(fdbOf(h1, net), /02:42:0a:0a:00:99 dst 10\.99\.0\.9/);
    h1.run(() => h1.driver.syncPeers(net, [peerOf(h2, net, eps[1]), peerOf(h3, net, eps[2])]));
    assert.doesNotMatch(fdbOf(h1, net), /02:42:0a:0a:00:99/, 'the stale FDB entry is gone');
    assert.doesNotMatch(neighOf(h1, net), /10\.10\.0\.99|fd00:10::99/, 'the stale neighbours are gone');
    assert.match(fdbOf(h1, net), /02:42:0a:0a:00:12 dst 10\.99\.0\.2/, 'the live ones stay');
    // A peer that moved to another node: its MAC now points there only.
    h1.run(() => h1.driver.peerJoin(net, { ...peerOf(h3, net, eps[1]) }));
    assert.doesNotMatch(fdbOf(h1, net), /02:42:0a:0a:00:12 dst 10\.99\.0\.2/);
    h1.run(() => h1.driver.peerJoin(net, peerOf(h2, net, eps[1])));
    // A late departure from the host it left (no dump first: the kernel matches the FDB
    // entry's dst) leaves the entry pointing at where it is now.
    h1.run(() => h1.driver.peerLeave(net, { ...peerOf(h3, net, eps[1]), ipv4: '10.10.0.98/24', ipv6: 'fd00:10::98/64' }));
    assert.match(fdbOf(h1, net), /02:42:0a:0a:00:12 dst 10\.99\.0\.2/, 'the FDB entry toward h2 stays');
    assert.ok(ping(sbs[0], '10.10.0.12'), 'back where it is');
    // The VXLAN device gone behind the driver's back: peerJoin (which keeps its index) says so
    // clearly instead of writing to another device; made again by ensureNetwork, the new one
    // is programmed.
    inPin(ovPath, 'ip', ['link', 'del', names.vxlan]);
    assert.throws(() => h1.run(() => h1.driver.peerJoin(net, peerOf(h2, net, eps[1]))), /no VXLAN device/);
    h1.run(() => h1.driver.ensureNetwork(net));
    h1.run(() => h1.driver.peerJoin(net, peerOf(h2, net, eps[1])));
    h1.run(() => h1.driver.peerJoin(net, peerOf(h3, net, eps[2])));
    assert.match(fdbOf(h1, net), /02:42:0a:0a:00:12 dst 10\.99\.0\.2/, 'the new device has the entry');
    // The port was a macvlan on the old device and went with it: not present, and joined again
    // (as the daemon's reconcile does) it is on the new one.
    assert.ok(!h1.run(() => h1.driver.endpointPresent(net, eps[0], sbOf(sbs[0], eps[0]))), 'the port went with the device');
    h1.run(() => h1.driver.join(net, eps[0], sbOf(sbs[0], eps[0]), { gateway: true, sealed: true }));
    assert.ok(ping(sbs[0], '10.10.0.12'), 'reached through the new device');

    // After peerLeave (on both sides) the ping fails again, and nothing is flooded.
    h1.run(() => h1.driver.peerLeave(net, peerOf(h2, net, eps[1])));
    h1.run(() => h1.driver.peerLeave(net, peerOf(h2, net, eps[1]))); // already gone
    h2.run(() => h2.driver.peerLeave(net, peerOf(h1, net, eps[0])));
    sh('ip', ['-n', sbs[0].name, 'neigh', 'flush', 'all']);
    cap = await capture(lab.underlay, h1.port);
    assert.ok(!ping(sbs[0], '10.10.0.12'), 'no reach after peerLeave');
    const afterLeave = await cap.stop();
    assert.equal(afterLeave.count, 0, 'nothing sent to the underlay for the departed peer');
    assert.ok(ping(sbs[0], '10.10.0.13'), 'the other peer still reachable');

    // Leave and delete on every host; twice is fine.
    for (const [i, h] of lab.hosts.entries()) {
      await h.run(() => h.driver.leave(net, eps[i]!, sbOf(sbs[i]!, eps[i]!)));
      assert.ok(!h.run(() => h.driver.endpointPresent(net, eps[i]!)), 'gone after leave');
      await h.run(() => h.driver.deleteNetwork(net));
      await h.run(() => h.driver.deleteNetwork(net));
      assert.deepEqual(fs.readdirSync(h.nsDir), [], 'the network\'s namespace pin is gone');
      assert.doesNotMatch(inNs(h.ns.name, 'ss', ['-uln']).stdout, new RegExp(`:${PORT}\\b`), 'the VXLAN socket is closed');
    }
    for (const s of sbs) assert.doesNotMatch(inNs(s.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'the sandbox end went with the pair');
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

test('overlay leave: the endpoint is out of service when leave returns (no address, no traffic, its name free for a rejoin), and the pair is deleted a moment later in a batch', async () => {
  const lab = makeLab(1);
  try {
    const [h1] = lab.hosts as [Host];
    const net = network(randomBytes(32).toString('hex'));
    const [ea, eb] = [endpoint(net.id, 1), endpoint(net.id, 2)];
    const [sa, sb] = [sandbox(lab), sandbox(lab)];
    h1.run(() => {
      h1.driver.ensureNetwork(net);
      h1.driver.join(net, ea, sbOf(sa, ea), { gateway: true });
      h1.driver.join(net, eb, sbOf(sb, eb), { gateway: true });
    });
    const ovPath = path.join(h1.nsDir, overlayNsName(net.id));
    const pairs = () => (JSON.parse(inPin(ovPath, 'ip', ['-j', '-d', 'link', 'show', 'type', 'veth']).stdout) as { ifname: string; group?: string }[]);
    assert.ok(ping(sa, '10.10.0.12'), 'control: A reaches B on the network\'s bridge before the leave');
    await h1.run(() => h1.driver.leave(net, eb, sbOf(sb, eb)));
    // At once: B has no address and no eth0, the network side's end is down, nothing gets through.
    assert.doesNotMatch(inNs(sb.name, 'ip', ['-o', 'addr']).stdout, /10\.10\.0\.12|fd00:10::12/, 'B\'s addresses are gone when leave returns');
    assert.doesNotMatch(inNs(sb.name, 'ip', ['-o', 'link']).stdout, /\beth0\b/, 'the name eth0 is free');
    assert.ok(!h1.run(() => h1.driver.endpointPresent(net, eb)), 'not present after leave');
    sh('ip', ['-n', sa.name, 'neigh', 'flush', 'all']);
    assert.ok(!ping(sa, '10.10.0.12'), 'A no longer reaches B\'s old address');
    // A rejoin of the same sandbox right away (a new endpoint, the same ifname) works.
    const eb2 = { ...endpoint(net.id, 2), id: `${net.id.slice(0, 2)}${'7'.repeat(62)}` };
    h1.run(() => h1.driver.join(net, eb2, sbOf(sb, eb2), { gateway: true }));
    sh('ip', ['-n', sa.name, 'neigh', 'flush', 'all']);
    assert.ok(ping(sa, '10.10.0.12'), 'A reaches B again through the new pair');
    // The buried pair is deleted (with its sandbox end) a moment later: only A's and B's new pairs remain.
    await waitFor(() => (pairs().length === 2 ? true : undefined), 'the buried pair to be deleted');
    assert.doesNotMatch(inNs(sb.name, 'ip', ['-o', 'link']).stdout, /syd/, 'the renamed sandbox end went with it');
    await h1.run(() => h1.driver.leave(net, ea, sbOf(sa, ea)));
    await h1.run(() => h1.driver.leave(net, eb2, sbOf(sb, eb2)));
    await h1.run(() => h1.driver.deleteNetwork(net));
    assert.deepEqual(fs.readdirSync(h1.nsDir), [], 'the network\'s namespace pin is gone');
    await waitFor(() => (!/syd/.test(inNs(sa.name, 'ip', ['-o', 'link']).stdout + inNs(sb.name, 'ip', ['-o', 'link']).stdout) ? true : undefined), 'the sandbox ends to go with the namespace');
  } finally {
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

test('overlay: two networks with different VNIs (same subnet) do not reach each other, even with an entry pointing across', async () => {
  const lab = makeLab(2);
  try {
    const [h1, h2] = lab.hosts as [Host, Host];
    const a = network(randomBytes(32).toString('hex'));
    const b = network(randomBytes(32).toString('hex'), {}, [a]);
    assert.equal((b.state as { vni: number }).vni, 4097, 'the next free VNI');
    const x = endpoint(a.id, 1); // A on h1
    const z = endpoint(a.id, 2); // A on h2
    const y = { ...endpoint(b.id, 3) }; // B on h2
    const [sx, sz, sy] = [sandbox(lab), sandbox(lab), sandbox(lab)];
    h1.run(() => {
      h1.driver.ensureNetwork(a);
      h1.driver.ensureNetwork(b);
      h1.driver.join(a, x, sbOf(sx, x), { gateway: false });
    });
    h2.run(() => {
      h2.driver.ensureNetwork(a);
      h2.driver.ensureNetwork(b);
      h2.driver.join(a, z, sbOf(sz, z), { gateway: false });
      h2.driver.join(b, y, sbOf(sy, y), { gateway: false });
    });
    h1.run(() => h1.driver.syncPeers(a, [peerOf(h2, a, z)]));
    h2.run(() => {
      h2.driver.syncPeers(a, [peerOf(h1, a, x)]);
      h2.driver.syncPeers(b, []);
    });
    assert.ok(ping(sx, '10.10.0.12'), 'control: X → Z on the same overlay across hosts');
    // A wrong entry in A on h1 for Y (of B) at h2: the frame leaves with A's VNI, h2 hands it
    // to A's bridge, where Y is not. And h2's B knows X nowhere.
    h1.run(() => h1.driver.peerJoin(a, { ...peerOf(h2, a, y), networkId: a.id }));
    assert.ok(!ping(sx, '10.10.0.13'), 'X (VNI A) ↛ Y (VNI B)');
    assert.ok(!ping(sy, '10.10.0.11'), 'Y (VNI B) ↛ X (VNI A)');
    for (const h of lab.hosts) for (const n of [a, b]) await h.run(() => h.driver.deleteNetwork(n));
  } finally {
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

test('overlay: clear errors and nothing made without a cluster, with a data-path address not on the host, or with driver.mtu above the underlay\'s limit', async () => {
  const lab = makeLab(1, 1400);
  try {
    const [h] = lab.hosts as [Host];
    const code = (fn: () => unknown): string => {
      try {
        h.run(fn);
      } catch (err) {
        assert.ok(err instanceof SwitchyardError, String(err));
        return `${err.code}`;
      }
      return 'accepted';
    };
    const net = network(randomBytes(32).toString('hex'));
    const bare = new OverlayDriver({ rtnl: h.rtnl, openRtnl: (p) => Rtnl.open(p), ports: forwardingOnly(), nsDir: h.nsDir, log: () => {} });
    assert.equal(code(() => bare.ensureNetwork(net)), 'OVERLAY_NO_CLUSTER');
    const elsewhere = new OverlayDriver({ rtnl: h.rtnl, openRtnl: (p) => Rtnl.open(p), ports: forwardingOnly(), nsDir: h.nsDir, cluster: { dataPathAddress: '10.99.0.77', dataPathPort: PORT }, log: () => {} });
    assert.equal(code(() => elsewhere.ensureNetwork(net)), 'DATA_PATH_ADDRESS_MISSING');
    // Underlay MTU 1400: the limit is 1350.
    assert.equal(code(() => h.driver.ensureNetwork(network(randomBytes(32).toString('hex'), { 'com.docker.network.driver.mtu': '1351' }))), 'OVERLAY_MTU_TOO_LARGE');
    assert.ok(!fs.existsSync(h.nsDir) || fs.readdirSync(h.nsDir).length === 0, 'nothing made by the refused ensures');
    const small = network(randomBytes(32).toString('hex'), { 'com.docker.network.driver.mtu': '1300' });
    assert.equal(code(() => h.driver.ensureNetwork(small)), 'accepted');
    assert.equal(h.run(() => h.driver.mtu(small)), 1300);
    assert.equal(h.run(() => h.driver.mtu(net)), 1350, 'underlay 1400 - 50');
    await h.run(() => h.driver.deleteNetwork(small));
    assert.equal(code(() => h.driver.syncPeers(net, [])), 'OVERLAY_NETWORK_MISSING', 'peers for a network not ensured here: a clear error');
    assert.equal(code(() => h.driver.peerLeave(net, peerOf(h, net, endpoint(net.id, 1)))), 'accepted', 'peerLeave with nothing programmed: already gone');
  } finally {
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name)]);
});

test('switchyard system reset removes the overlay namespaces pinned under the exec root, and with them the VXLAN device, its socket and the endpoints', async () => {
  const lab = makeLab(1);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-ovr-'));
  const [dataRoot, execRoot] = [path.join(base, 'data'), path.join(base, 'exec')];
  fs.mkdirSync(dataRoot);
  try {
    const [h] = lab.hosts as [Host];
    const ports = forwardingOnly();
    const driver = new OverlayDriver({ rtnl: h.rtnl, openRtnl: (p) => Rtnl.open(p), ports, nsDir: path.join(execRoot, 'overlay'), cluster: { dataPathAddress: h.addr, dataPathPort: PORT }, log: () => {} });
    const net = network(randomBytes(32).toString('hex'));
    const ep = endpoint(net.id, 1);
    const sb = sandbox(lab);
    h.run(() => {
      driver.ensureNetwork(net);
      driver.join(net, ep, sbOf(sb, ep), { gateway: false });
    });
    const pin = path.join(execRoot, 'overlay', overlayNsName(net.id));
    assert.ok(fs.existsSync(pin));
    // `system reset` runs with the daemon stopped: nothing of it holds the namespace open
    // (the daemon's stop closes its drivers).
    ports.release(pin);
    await driver.close();
    assert.match(inNs(h.ns.name, 'ss', ['-uln']).stdout, new RegExp(`:${PORT}\\b`));
    // A private socket path: no daemon is found, none of the machine's is touched.
    const r = inNs(h.ns.name, CLI, ['-H', `unix://${path.join(base, 'none.sock')}`, 'system', 'reset', '-f', '--data-root', dataRoot, '--exec-root', execRoot]);
    assert.match(r.stdout, new RegExp(`Removed overlay network namespace: ${pin.replace(/[.]/g, '\\.')}`), r.stdout);
    assert.ok(!fs.existsSync(execRoot), 'the exec root is gone');
    await waitFor(() => !/eth0/.test(inNs(sb.name, 'ip', ['-o', 'link']).stdout) || undefined, 'the sandbox end to go with the overlay namespace');
    await waitFor(() => !new RegExp(`:${PORT}\\b`).test(inNs(h.ns.name, 'ss', ['-uln']).stdout) || undefined, 'the VXLAN socket to close');
  } finally {
    lab.cleanup();
    fs.rmSync(base, { recursive: true, force: true });
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

test('ports on one host: direct and guarded reach each other; a rejoin of the other kind replaces the port; the VXLAN device gone is a clear OVERLAY_NETWORK_MISSING with nothing left, and made again it is used', async () => {
  const lab = makeLab(1);
  try {
    const [h] = lab.hosts as [Host];
    const net = network(randomBytes(32).toString('hex'));
    const ovPath = path.join(h.nsDir, overlayNsName(net.id));
    const names = overlayLinkNames(net);
    const [e1, e2, e3] = [1, 2, 3].map((n) => endpoint(net.id, n)) as [EndpointRecord, EndpointRecord, EndpointRecord];
    const [s1, s2, s3] = [sandbox(lab), sandbox(lab), sandbox(lab)] as [TestNs, TestNs, TestNs];
    const kindOf = (sb: TestNs) => /macvlan/.test(inNs(sb.name, 'ip', ['-d', 'link', 'show', 'eth0']).stdout) ? 'direct' : 'guarded';
    const ovLinks = () => inPin(ovPath, 'ip', ['-o', 'link']).stdout;
    /** s2 joins again as a sealed sandbox: a direct port, no guarded device of e2 left, s1 reaches it. */
    const rejoinSealed = (noGuarded: string, reached: string): void => {
      h.run(() => h.driver.join(net, e2, sbOf(s2, e2), { gateway: false, sealed: true }));
      assert.equal(kindOf(s2), 'direct');
      assert.doesNotMatch(ovLinks(), new RegExp(`${overlayVethName(e2.id)}|${overlayProxyName(e2.id)}`), noGuarded);
      assert.ok(ping(s1, '10.10.0.12'), reached);
    };
    const rejoinGuarded = (): void => {
      h.run(() => h.driver.join(net, e2, sbOf(s2, e2), { gateway: false }));
      assert.equal(kindOf(s2), 'guarded');
    };
    h.run(() => h.driver.ensureNetwork(net));
    h.run(() => h.driver.join(net, e1, sbOf(s1, e1), { gateway: false, sealed: true }));
    h.run(() => h.driver.join(net, e2, sbOf(s2, e2), { gateway: false }));
    assert.deepEqual([kindOf(s1), kindOf(s2)], ['direct', 'guarded']);
    assert.ok(h.run(() => h.driver.endpointPresent(net, e1, sbOf(s1, e1))), 'the direct port is present');
    assert.ok(h.run(() => h.driver.endpointPresent(net, e2, sbOf(s2, e2))), 'the guarded port is present');
    // On one host the macvlans (the direct port, the guarded port's proxy) reach each other directly.
    assert.ok(ping(s1, '10.10.0.12'), 'direct → guarded (v4)');
    assert.ok(ping(s2, 'fd00:10::11'), 'guarded → direct (v6)');
    // The guarded sandbox joins again as a sealed one: its veth and proxy go, a macvlan comes.
    rejoinSealed('no guarded devices left', 'direct → direct');
    // And back.
    rejoinGuarded();
    assert.ok(ping(s1, '10.10.0.12'), 'direct → guarded again');
    // A crash between the guarded port's two deletions: its veth pair went, its proxy (up,
    // with the endpoint's MAC on the VXLAN device) stayed. A sealed join clears it first
    // (bringing a second macvlan with that MAC up fails with EADDRINUSE).
    inPin(ovPath, 'ip', ['link', 'del', overlayVethName(e2.id)]);
    assert.match(ovLinks(), new RegExp(overlayProxyName(e2.id)), 'the proxy outlived its veth');
    rejoinSealed('the proxy left is gone', 'direct → direct after the clear-up');
    rejoinGuarded();
    // The VXLAN device deleted behind the driver's back (its macvlans go with it): a join is a
    // clear error, and leaves nothing on either side.
    inPin(ovPath, 'ip', ['link', 'del', names.vxlan]);
    for (const sealed of [true, false]) {
      assert.throws(() => h.run(() => h.driver.join(net, e3, sbOf(s3, e3), { gateway: false, sealed })), (err: SwitchyardError) => err.code === 'OVERLAY_NETWORK_MISSING');
      assert.doesNotMatch(inNs(s3.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'no sandbox end left');
      assert.doesNotMatch(ovLinks(), new RegExp(`${overlayVethName(e3.id)}|${overlayProxyName(e3.id)}`), 'no port left in the network\'s namespace');
    }
    // Made again by ensureNetwork: the joins use the new device.
    h.run(() => h.driver.ensureNetwork(net));
    h.run(() => h.driver.join(net, e1, sbOf(s1, e1), { gateway: false, sealed: true }));
    h.run(() => h.driver.join(net, e3, sbOf(s3, e3), { gateway: false }));
    assert.ok(ping(s3, '10.10.0.11'), 'through the new device');
    await h.run(() => h.driver.deleteNetwork(net));
  } finally {
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

test('held ports (an attach whose txn is in flight): made whole but passing nothing, not present, until release; a held port left is removed by leave', async () => {
  const lab = makeLab(1);
  try {
    const [h] = lab.hosts as [Host];
    const net = network(randomBytes(32).toString('hex'));
    const [e1, e2, e3] = [1, 2, 3].map((n) => endpoint(net.id, n)) as [EndpointRecord, EndpointRecord, EndpointRecord];
    const [s1, s2, s3] = [sandbox(lab), sandbox(lab), sandbox(lab)] as [TestNs, TestNs, TestNs];
    h.run(() => h.driver.ensureNetwork(net));
    h.run(() => h.driver.join(net, e1, sbOf(s1, e1), { gateway: false, sealed: true }));
    const ovPath = path.join(h.nsDir, overlayNsName(net.id));
    const proxyUp = () => /state UP|,UP/.test(inPin(ovPath, 'ip', ['-o', 'link', 'show', overlayProxyName(e3.id)]).stdout);
    // e2 direct, e3 guarded: both held.
    h.run(() => h.driver.join(net, e2, sbOf(s2, e2), { gateway: false, sealed: true, held: true }));
    h.run(() => h.driver.join(net, e3, sbOf(s3, e3), { gateway: false, held: true }));
    assert.match(inNs(s2.name, 'ip', ['-o', 'addr', 'show', 'eth0']).stdout, /10\.10\.0\.12\//, 'the held direct port has its address');
    assert.doesNotMatch(inNs(s2.name, 'ip', ['-o', 'link', 'show', 'eth0']).stdout, /[<,]UP[,>]/, 'and is down');
    assert.ok(!proxyUp(), 'the held guarded port\'s proxy is down');
    for (const [ep, sb] of [[e2, s2], [e3, s3]] as const) assert.ok(!h.run(() => h.driver.endpointPresent(net, ep, sbOf(sb, ep))), `${ep.ifname} held: not present`);
    assert.ok(!ping(s1, '10.10.0.12'), 'nothing reaches the held direct port');
    assert.ok(!ping(s1, '10.10.0.13'), 'nothing reaches the held guarded port');
    assert.ok(!ping(s3, '10.10.0.11'), 'nothing leaves the held guarded port');
    // Released: traffic both ways, present.
    h.run(() => h.driver.release!(net, e2, sbOf(s2, e2)));
    h.run(() => h.driver.release!(net, e3, sbOf(s3, e3)));
    assert.ok(ping(s1, '10.10.0.12'), 'direct, released');
    assert.ok(ping(s3, '10.10.0.11'), 'guarded, released');
    assert.ok(ping(s2, '10.10.0.13'), 'released to released');
    for (const [ep, sb] of [[e2, s2], [e3, s3]] as const) assert.ok(h.run(() => h.driver.endpointPresent(net, ep, sbOf(sb, ep))), `${ep.ifname} released: present`);
    assert.throws(() => h.run(() => h.driver.release!(net, e2, sbOf(s2, e2))), (err: SwitchyardError) => err.code === 'ENDPOINT_NOT_HELD');
    // A held port whose commit failed: leave removes it (the engine's undo; reconcile's at a start after a crash).
    await h.run(() => h.driver.leave(net, e2, sbOf(s2, e2)));
    h.run(() => h.driver.join(net, e2, sbOf(s2, e2), { gateway: false, sealed: true, held: true }));
    await h.run(() => h.driver.leave(net, e2, sbOf(s2, e2)));
    assert.doesNotMatch(inNs(s2.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'no port left in the sandbox');
    await h.run(() => h.driver.deleteNetwork(net));
  } finally {
    lab.cleanup();
  }
  assertNoLeaks([lab.underlay.name, ...lab.hosts.map((h) => h.ns.name), ...lab.sandboxes.map((s) => s.name)]);
});

// The driver conformance suite (test/helpers/driver-conformance.ts).
driverConformance('overlay driver', async () => {
  const lab = makeLab(1);
  const [h] = lab.hosts as [Host];
  const net = network(randomBytes(32).toString('hex'));
  return {
    driver: h.driver,
    network: net,
    endpoint: (n) => { const e = endpoint(net.id, n); return { ...e, ...h.driver.planEndpoint(net, e) }; },
    ...kernelFixtureParts({ host: h.ns, rtnl: h.rtnl, tag: 'ovcs', sandboxes: lab.sandboxes, join: (ep, sb) => h.driver.join(net, ep, sb, { gateway: false }) }),
    settle: async () => {},
    cleanup: async () => {
      await h.run(() => h.driver.deleteNetwork(net));
      lab.cleanup();
      assertNoLeaks([lab.underlay.name, h.ns.name, ...lab.sandboxes.map((s) => s.name)]);
    },
  };
}, { 'owned links': 'the overlay makes no link in the host namespace (its bridge, VXLAN device and veth ends live in the network\'s own namespace); the three-host test checks their marks and ownsLink' });
