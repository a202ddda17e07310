/**
 * Anti-spoofing on overlay sandbox ports (docs/SECURITY.md "Anti-spoofing", issue 12), with
 * the real kernel, for both kinds of port (drivers/overlay-ports.ts): guarded (the check on
 * the veth end's ingress in the network's namespace) and direct (the check on the macvlan's
 * own egress in the sandbox's namespace). Two simulated hosts on an underlay bridge, each with
 * its own overlay driver (given the daemon's NftOverlayPorts), one overlay network, A and C
 * joined on host 1 and B on host 2, peers programmed by hand as the cluster layer does.
 * A sends hand-made frames (test/helpers/frames.ts, ipv6-frames.ts) from its sandbox: with
 * C's IPv4 source, with C's MAC, a forged ARP reply claiming B's address, with C's IPv6
 * source, a neighbour advertisement claiming B's IPv6 address, a router advertisement. None
 * arrives or takes effect (a receiver in B, C's neighbour cache, C's routes); each CONTROL runs the same probe with the
 * anti-spoofing chain emptied where A's check is, where it arrives, so the test can fail.
 * Legitimate traffic flows both ways (local and across the VXLAN). The table and its
 * elements come with ensureNetwork/join, go with leave, and a new driver (a daemon restart)
 * restores them with reloadFirewall; a port without elements carries nothing (fail closed);
 * a failed join leaves no element. Ends with a leak check. Needs root.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { Nft } from '../../src/kernel/nftables.js';
import { NftElements } from '../../src/kernel/nft-elements.js';
import { releaseNetnsDir, warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { OverlayDriver } from '../../src/drivers/overlay.js';
import { overlayNsName, overlayVethName } from '../../src/drivers/overlay-plan.js';
import type { OverlayPorts } from '../../src/drivers/overlay-ports.js';
import type { PeerEndpoint } from '../../src/drivers/contract.js';
import { parseOverlayOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { NftOverlayPorts } from '../../src/services/firewall/overlay-ports.js';
import { arp, ether, ETH, ipv4Udp, ipv6Udp, sendFrames } from '../helpers/frames.js';
import { assertNoLeaks, inNs, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { ALL_NODES, naArgs, raArgs } from '../helpers/ipv6-frames.js';
import { eui64LinkLocal } from '../../src/services/firewall/ruleset/antispoof.js';

before(async () => {
  await warmThreadpool();
});

const PORT = 4789;
const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-ovas-'));
after(() => {
  for (const d of fs.readdirSync(ROOT)) releaseNetnsDir(path.join(ROOT, d));
  fs.rmSync(ROOT, { recursive: true, force: true });
});

const antiSpoof = () => new NftOverlayPorts({ checked: true, openNft: (ns) => Nft.open(ns), openElements: (ns) => NftElements.open(ns) });
const planner = new OverlayDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, ports: null as unknown as OverlayPorts, cluster: { dataPathAddress: '10.99.0.1', dataPathPort: PORT }, log: () => {} });

function network(id: string): NetworkRecord {
  return {
    v: 1, id, name: `ov-${id.slice(0, 4)}`, driver: 'overlay', created: '', scope: 'global', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {},
    pools: [
      { subnet: '10.10.0.0/24', gateway: '10.10.0.1', userSubnet: true },
      { subnet: 'fd00:10::/64', gateway: 'fd00:10::1', userSubnet: true },
    ],
    internal: false, attachable: true, ingress: false, options: {}, labels: {}, predefined: false,
    state: planner.planNetwork({ id, name: 'ov', options: parseOverlayOptions({}), predefined: false, others: [] }),
  };
}

const endpoint = (netId: string, n: number): EndpointRecord => ({
  v: 1, id: `${netId.slice(0, 2)}${`${n}`.repeat(62)}`, networkId: netId, sandboxId: `${n}`.repeat(64), ifname: 'eth0',
  mac: `02:42:0a:0a:00:1${n}`, ipv4: `10.10.0.1${n}/24`, gateway: '10.10.0.1', ipv6: `fd00:10::1${n}/64`, ipv6Gateway: 'fd00:10::1',
  aliases: [], links: [], dnsNames: [], order: n,
});
const bare = (cidr: string) => cidr.split('/')[0]!;

interface Host { ns: TestNs; addr: string; rtnl: Rtnl; nsDir: string; as: NftOverlayPorts; driver: OverlayDriver; run<T>(fn: () => T): T }

for (const kind of ['guarded', 'direct'] as const) describe(`${kind} ports`, () => {

const made: string[] = [];
const procs: ChildProcess[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-ovas-rx-'));
let underlay: TestNs;
const hosts: Host[] = [];
const boxes: Record<'a' | 'b' | 'c', TestNs> = {} as never;
let net: NetworkRecord;
let ea: EndpointRecord, eb: EndpointRecord, ec: EndpointRecord;
let ov1: string;

const newDriver = (h: Pick<Host, 'rtnl' | 'nsDir' | 'addr' | 'as'>) =>
  new OverlayDriver({ rtnl: h.rtnl, openRtnl: (p) => Rtnl.open(p), nsDir: h.nsDir, cluster: { dataPathAddress: h.addr, dataPathPort: PORT }, ports: h.as, log: () => {} });

/** Runs a command inside a namespace pinned outside /run/netns (the overlay networks'). */
const inPin = (nsPath: string, cmd: string, args: string[], allowFail = false) =>
  sh('nsenter', [`--net=${nsPath}`, '--', cmd, ...args], { allowFail });
const ping = (ns: TestNs, dst: string) => inNs(ns.name, 'ping', ['-c', '1', '-W', '1', dst], { allowFail: true }).status === 0;
const peerOf = (h: Host, ep: EndpointRecord): PeerEndpoint => ({
  endpointId: ep.id, networkId: net.id, nodeId: h.ns.name, nodeAddress: h.addr, mac: ep.mac, ipv4: ep.ipv4!, ipv6: ep.ipv6!,
});
/** Where A's (and C's) check is: the network's namespace on host 1 (guarded), or each sandbox's own (direct). */
const checkNs = (box: 'a' | 'c' = 'a') => (kind === 'direct' ? boxes[box].path : ov1);
/** The port the check's elements name: the veth end (guarded), or the sandbox's interface (direct). */
const portOf = (ep: EndpointRecord) => (kind === 'direct' ? ep.ifname : overlayVethName(ep.id));
/** The control: A's anti-spoofing chain emptied (its port chain still jumps to it). */
const emptyChain = () => inPin(checkNs(), 'nft', ['flush', 'chain', 'netdev', 'switchyard', 'antispoof']);
const sandboxNs = (id: string) => ({ [ea.sandboxId]: boxes.a.path, [ec.sandboxId]: boxes.c.path })[id];
/** Back as the driver keeps it (and proof that reloadFirewall restores the chain). */
const restore = () => hosts[0]!.run(() => hosts[0]!.driver.reloadFirewall([net], [ea, ec], sandboxNs));
/** `send` up to three times, 400 ms apart, until `seen`: true when it was. */
const sentUntil = async (send: () => void, seen: () => boolean): Promise<boolean> => {
  for (let i = 0; i < 3; i++) {
    send();
    if (await within(seen, 400)) return true;
  }
  return false;
};
/** The probe is blocked by `rule`; with the chain emptied it gets through (`control`); restored (then `reset`), it is blocked again. */
const blockedWithControl = async (probe: () => Promise<boolean>, rule: string, control: string, reset?: () => void): Promise<void> => {
  assert.equal(await probe(), false, rule);
  emptyChain();
  try {
    assert.equal(await probe(), true, control);
  } finally {
    restore();
    reset?.();
  }
  assert.equal(await probe(), false, 'after reloadFirewall');
};
const within = async (what: () => boolean, ms = 1200): Promise<boolean> => {
  try {
    await waitFor(() => what() || undefined, 'probe', ms);
    return true;
  } catch {
    return false;
  }
};

before(async () => {
  underlay = makeNs('ovau');
  made.push(underlay.name);
  sh('ip', ['-n', underlay.name, 'link', 'add', 'sybr0', 'type', 'bridge']);
  sh('ip', ['-n', underlay.name, 'link', 'set', 'sybr0', 'up']);
  const tag = randomBytes(2).toString('hex');
  for (const i of [1, 2]) {
    const ns = makeNs('ovah');
    made.push(ns.name);
    sh('ip', ['-n', ns.name, 'link', 'add', 'syul0', 'type', 'veth', 'peer', 'name', `syp${i}`, 'netns', underlay.name]);
    sh('ip', ['-n', underlay.name, 'link', 'set', `syp${i}`, 'master', 'sybr0', 'up']);
    const addr = `10.99.0.${i}`;
    sh('ip', ['-n', ns.name, 'addr', 'add', `${addr}/24`, 'dev', 'syul0']);
    sh('ip', ['-n', ns.name, 'link', 'set', 'syul0', 'up']);
    const rtnl = Rtnl.open(ns.path);
    const nsDir = path.join(ROOT, `${tag}-h${i}`);
    const run = <T>(fn: () => T): T => {
      let out: T;
      withNetns(ns.path, () => void (out = fn()));
      return out!;
    };
    const as = antiSpoof();
    hosts.push({ ns, addr, rtnl, nsDir, as, driver: newDriver({ rtnl, nsDir, addr, as }), run });
  }
  for (const k of ['a', 'b', 'c'] as const) {
    boxes[k] = makeNs(`ova${k}`);
    made.push(boxes[k].name);
    inNs(boxes[k].name, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  }
  net = network(randomBytes(32).toString('hex'));
  [ea, eb, ec] = [endpoint(net.id, 1), endpoint(net.id, 2), endpoint(net.id, 3)];
  const [h1, h2] = hosts as [Host, Host];
  ov1 = path.join(h1.nsDir, overlayNsName(net.id));
  h1.run(() => {
    h1.driver.ensureNetwork(net);
    h1.driver.join(net, ea, { id: ea.sandboxId, nsPath: boxes.a.path }, { gateway: true, sealed: kind === 'direct' });
    h1.driver.join(net, ec, { id: ec.sandboxId, nsPath: boxes.c.path }, { gateway: true, sealed: kind === 'direct' });
    h1.driver.syncPeers(net, [peerOf(h2, eb)]);
  });
  h2.run(() => {
    h2.driver.ensureNetwork(net);
    h2.driver.join(net, eb, { id: eb.sandboxId, nsPath: boxes.b.path }, { gateway: true });
    h2.driver.syncPeers(net, [peerOf(h1, ea), peerOf(h1, ec)]);
  });
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const [i, h] of hosts.entries()) {
    try {
      await h.run(() => h.driver.deleteNetwork(net));
    } catch (err) {
      console.error(`host ${i + 1}: ${String(err)}`);
    }
    h.rtnl.close();
  }
  for (const n of made) removeNs(n);
  fs.rmSync(tmp, { recursive: true, force: true });
  assertNoLeaks(made);
});

test('table netdev switchyard holds the joined ports\' elements and a chain per port; the VXLAN device is not checked; legitimate traffic flows both ways', async () => {
  for (const [box, ep] of [['a', ea], ['c', ec]] as const) {
    const table = inPin(checkNs(box), 'nft', ['list', 'table', 'netdev', 'switchyard']).stdout;
    assert.match(table, new RegExp(`"${portOf(ep)}" \\. ${ep.mac} \\. ${bare(ep.ipv4!).replace(/\./g, '\\.')}`), `${ep.id.slice(0, 4)}'s IPv4 element`);
    assert.match(table, new RegExp(`"${portOf(ep)}" \\. ${ep.mac} \\. ${bare(ep.ipv6!)}`), `${ep.id.slice(0, 4)}'s IPv6 element`);
    assert.match(table, new RegExp(`hook ${kind === 'direct' ? 'egress' : 'ingress'} device "${portOf(ep)}"`), 'the port\'s own chain');
    assert.doesNotMatch(table, /"vx-/, 'the VXLAN device is in no set');
  }
  await waitFor(() => ping(boxes.a, bare(eb.ipv4!)) || undefined, 'A reaches B across the VXLAN', 5000);
  assert.ok(ping(boxes.b, bare(ea.ipv4!)), 'B reaches A');
  assert.ok(ping(boxes.a, bare(ec.ipv4!)), 'A reaches C on the same host');
  assert.ok(ping(boxes.c, bare(ea.ipv4!)), 'C reaches A');
  await waitFor(() => ping(boxes.a, bare(eb.ipv6!)) || undefined, 'A reaches B over IPv6', 5000);
  assert.ok(ping(boxes.b, bare(ea.ipv6!)), 'B reaches A over IPv6');
});

test('A cannot send with C\'s IPv4 source, C\'s MAC or C\'s IPv6 source to B on another host; with the chain emptied (control) each arrives', async () => {
  const { a, b } = boxes;
  const file4 = path.join(tmp, 'rx4');
  const file6 = path.join(tmp, 'rx6');
  procs.push(spawn('nsenter', [`--net=${b.path}`, '--', 'socat', '-u', 'UDP4-RECVFROM:9999,fork', `OPEN:${file4},creat,append`], { stdio: 'ignore' }));
  procs.push(spawn('nsenter', [`--net=${b.path}`, '--', 'socat', '-u', 'UDP6-RECVFROM:9998,fork', `OPEN:${file6},creat,append`], { stdio: 'ignore' }));
  await waitFor(() => (/:9999\b/.test(inNs(b.name, 'ss', ['-Hluan']).stdout) && /:9998\b/.test(inNs(b.name, 'ss', ['-Hluan']).stdout)) || undefined, 'receivers in B');
  let seq = 0;
  const got = (file: string, m: string) => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(m);
  type Kind = 'own' | 'ip4' | 'mac' | 'ip6';
  const arrives = async (kind: Kind): Promise<boolean> => {
    const m = `${kind}-${++seq}`;
    const data = Buffer.from(`${m}\n`);
    const frame = {
      own: () => ether(eb.mac, ea.mac, ETH.ip, ipv4Udp(bare(ea.ipv4!), bare(eb.ipv4!), 9999, data)),
      ip4: () => ether(eb.mac, ea.mac, ETH.ip, ipv4Udp(bare(ec.ipv4!), bare(eb.ipv4!), 9999, data)),
      mac: () => ether(eb.mac, ec.mac, ETH.ip, ipv4Udp(bare(ea.ipv4!), bare(eb.ipv4!), 9999, data)),
      ip6: () => ether(eb.mac, ea.mac, ETH.ip6, ipv6Udp(bare(ec.ipv6!), bare(eb.ipv6!), 9998, data)),
    }[kind]();
    sendFrames(a.name, 'eth0', [frame]);
    return within(() => got(kind === 'ip6' ? file6 : file4, m));
  };
  assert.equal(await arrives('own'), true, 'A\'s own hand-made datagram arrives (the probe works)');
  assert.equal(await arrives('ip4'), false, 'IPV4 SPOOF: C\'s IPv4 source');
  assert.equal(await arrives('mac'), false, 'MAC SPOOF: C\'s MAC');
  assert.equal(await arrives('ip6'), false, 'IPV6 SPOOF: C\'s IPv6 source');
  emptyChain();
  try {
    assert.equal(await arrives('ip4'), true, 'control: C\'s IPv4 source arrives without the chain');
    assert.equal(await arrives('ip6'), true, 'control: C\'s IPv6 source arrives without the chain');
    assert.equal(await arrives('mac'), true, 'control: C\'s MAC arrives without the chain');
  } finally {
    restore();
  }
  assert.equal(await arrives('mac'), false, 'after reloadFirewall restored the chain');
  await waitFor(() => ping(boxes.c, bare(ea.ipv4!)) || undefined, 'C reaches A again', 5000);
});

test('A\'s forged ARP reply claiming B\'s address does not poison C\'s neighbour cache; with the chain emptied (control) it does', async () => {
  const { a, c } = boxes;
  inNs(c.name, 'sysctl', ['-qw', 'net.ipv4.neigh.eth0.locktime=0']);
  const claim = ether(ec.mac, ea.mac, ETH.arp, arp(2, ea.mac, bare(eb.ipv4!), ec.mac, bare(ec.ipv4!)));
  const poisoned = async () => {
    inNs(c.name, 'ip', ['neigh', 'replace', bare(eb.ipv4!), 'lladdr', eb.mac, 'dev', 'eth0', 'nud', 'stale']);
    sendFrames(a.name, 'eth0', [claim]);
    return within(() => inNs(c.name, 'ip', ['neigh', 'show', bare(eb.ipv4!), 'dev', 'eth0']).stdout.includes(ea.mac), 1000);
  };
  assert.equal(await poisoned(), false, 'ARP SPOOF');
  emptyChain();
  try {
    assert.equal(await poisoned(), true, 'control: without the chain C takes A for B');
  } finally {
    restore();
  }
  inNs(c.name, 'ip', ['neigh', 'del', bare(eb.ipv4!), 'dev', 'eth0'], { allowFail: true });
  assert.equal(await poisoned(), false, 'after reloadFirewall');
  inNs(c.name, 'ip', ['neigh', 'del', bare(eb.ipv4!), 'dev', 'eth0'], { allowFail: true });
});

test('A\'s forged neighbour advertisement claiming B\'s IPv6 address does not poison C\'s neighbour cache; with the chain emptied (control) it does', async () => {
  const { a, c } = boxes;
  // From A's own global address (which passes the source check), to all nodes: unsolicited,
  // override flag, A's MAC as target link-layer address. C already knows B (a stale entry):
  // an overriding advertisement replaces its MAC at once (RFC 4861 §7.2.5).
  const poisoned = async () => {
    inNs(c.name, 'ip', ['-6', 'neigh', 'replace', bare(eb.ipv6!), 'lladdr', eb.mac, 'dev', 'eth0', 'nud', 'stale']);
    return sentUntil(
      () => inNs(a.name, 'python3', naArgs({ ifname: 'eth0', srcMac: ea.mac, dstMac: ALL_NODES.mac, src: bare(ea.ipv6!), dst: ALL_NODES.ip }, bare(eb.ipv6!))),
      () => inNs(c.name, 'ip', ['-6', 'neigh', 'show', bare(eb.ipv6!), 'dev', 'eth0']).stdout.includes(ea.mac),
    );
  };
  try {
    await blockedWithControl(poisoned, 'ND SPOOF', 'control: without the chain C takes A for B');
  } finally {
    inNs(c.name, 'ip', ['-6', 'neigh', 'del', bare(eb.ipv6!), 'dev', 'eth0'], { allowFail: true });
  }
});

test('A\'s router advertisement does not make it C\'s IPv6 router; with the chain emptied (control) it does', async () => {
  const { a, c } = boxes;
  // From A's own link-local address (a valid source for A's port): "a default router for
  // 30 min". C is a host that takes router advertisements (accept_ra 1, forwarding 0).
  inNs(c.name, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_ra=1', 'net.ipv6.conf.eth0.forwarding=0']);
  const aLL = eui64LinkLocal(ea.mac);
  const viaA = () => inNs(c.name, 'ip', ['-6', 'route', 'show', 'default']).stdout.includes(`via ${aLL}`);
  const rogue = () => sentUntil(() => inNs(a.name, 'python3', raArgs({ ifname: 'eth0', srcMac: ea.mac, dstMac: ALL_NODES.mac, src: aLL, dst: ALL_NODES.ip })), viaA);
  const flushRa = () => void inNs(c.name, 'ip', ['-6', 'route', 'flush', 'proto', 'ra'], { allowFail: true });
  try {
    await blockedWithControl(rogue, 'RA GUARD', 'control: without the chain C routes through A', flushRa);
  } finally {
    flushRa();
  }
});

test('firewallComplete (the watchdog\'s check): true with the table, false once it is deleted in an overlay namespace, true again after reloadFirewall', () => {
  const [h1] = hosts as [Host];
  assert.equal(h1.driver.firewallComplete(), true);
  inPin(checkNs(), 'nft', ['delete', 'table', 'netdev', 'switchyard']);
  try {
    assert.equal(h1.driver.firewallComplete(), false, 'a deleted table is seen');
  } finally {
    restore();
  }
  assert.equal(h1.driver.firewallComplete(), true, 'restored');
  assert.match(inPin(checkNs(), 'nft', ['list', 'set', 'netdev', 'switchyard', 'ports']).stdout, new RegExp(`"${portOf(ea)}"`));
});

test('fail closed, restart and leave: a port without elements carries nothing; a new driver\'s reloadFirewall puts them back (table deleted too); leave removes them; a failed join leaves none', async () => {
  const [h1] = hosts as [Host];
  const reachesC = () => {
    inNs(boxes.a.name, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    return ping(boxes.a, bare(ec.ipv4!));
  };
  await waitFor(() => reachesC() || undefined, 'A reaches C', 5000);
  // The elements lost (as after a crash half-way): A's port has no MAC element.
  const sets = ['ports', 'endpoint-mac', 'endpoint-ip4', 'endpoint-ip6', 'endpoint-nd6'];
  for (const s of sets) inPin(checkNs(), 'nft', ['flush', 'set', 'netdev', 'switchyard', s]);
  assert.equal(reachesC(), false, 'MAC SPOOF: no elements, no traffic');
  // A daemon restart: a new driver over the same namespaces, reloadFirewall from the records.
  const as2 = antiSpoof();
  const restarted = newDriver({ ...h1, as: as2 });
  h1.run(() => restarted.reloadFirewall([net], [ea, ec], sandboxNs));
  await waitFor(() => reachesC() || undefined, 'A reaches C after the restarted driver\'s reload', 5000);
  // The whole table deleted from outside: reload makes it again with the elements.
  inPin(checkNs(), 'nft', ['delete', 'table', 'netdev', 'switchyard']);
  h1.run(() => restarted.reloadFirewall([net], [ea, ec], sandboxNs));
  const table = inPin(checkNs(), 'nft', ['list', 'set', 'netdev', 'switchyard', 'ports']).stdout;
  assert.match(table, new RegExp(`"${portOf(ea)}"`), 'the port is back in @ports');
  await waitFor(() => reachesC() || undefined, 'A reaches C after the table came back', 5000);
  // Leave takes C's elements and chain out; A's stay.
  await h1.run(() => restarted.leave(net, ec, { id: ec.sandboxId, nsPath: boxes.c.path }));
  const left = () => inPin(checkNs('c'), 'nft', ['list', 'table', 'netdev', 'switchyard']).stdout;
  assert.doesNotMatch(left(), new RegExp(`"${portOf(ec)}" \\.`), 'no element of C after leave');
  // A direct port's chain stays until its device is deleted (a moment later): without
  // elements it drops whatever the device still sends.
  await waitFor(() => !new RegExp(`"${portOf(ec)}"`).test(left()) || undefined, 'no chain of C once its device went', 3000);
  assert.match(inPin(checkNs(), 'nft', ['list', 'table', 'netdev', 'switchyard']).stdout, new RegExp(`"${portOf(ea)}"`), 'A\'s elements stay');
  // A join that fails after its elements went in (here: the sandbox's namespace is gone) leaves none behind.
  const ed = endpoint(net.id, 4);
  assert.throws(() => h1.run(() => restarted.join(net, ed, { id: ed.sandboxId, nsPath: path.join(tmp, 'no-such-netns') }, { gateway: true, sealed: kind === 'direct' })));
  assert.doesNotMatch(inPin(ov1, 'nft', ['list', 'table', 'netdev', 'switchyard']).stdout, new RegExp(overlayVethName(ed.id)), 'no element of a failed join');
  assert.doesNotMatch(inPin(ov1, 'ip', ['-o', 'link']).stdout, new RegExp(overlayVethName(ed.id)), 'no link of a failed join');
  // The old daemon's context goes (a process that ends closes it); the new driver's is closed by deleteNetwork.
  h1.as.release(ov1);
  h1.as = as2;
  h1.driver = restarted;
});
});
