/**
 * The ipvlan driver, and the parents both ipvlan and macvlan make (802.1q on demand, dummy),
 * on Debian 12's stock kernel inside the VM lane (`npm run test:vm`, docs/TESTING.md): this
 * machine's kernel has no ipvlan, 8021q or dummy. Outside the VM every test skips with the
 * reason. Throwaway namespaces, real traffic (ping and TCP, both families), a control for
 * each isolation claim, a leak check after each test. Kept short: the VM is emulated.
 *
 * The lab: a host namespace whose parent `sytrk0` is a veth (a trunk) to a LAN namespace
 * holding the router 192.0.2.1 / 2001:db8:5::1 on its untagged end and 198.51.100.1 on VLAN 10.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { IpvlanDriver } from '../../src/drivers/ipvlan.js';
import { MacvlanDriver } from '../../src/drivers/macvlan.js';
import { dummyMac } from '../../src/drivers/parent-link.js';
import { parseIpvlanOptions, parseMacvlanOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord, PoolRecord } from '../../src/model/records.js';
import { assertNoLeaks, inNs, linksIn, makeNs, NETNS_DIR, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { connect } from '../helpers/lab.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with ipvlan, 8021q and dummy: run `npm run test:vm` (SWY_KVM_GUEST is unset)';

before(async () => {
  if (IN_VM) await warmThreadpool();
});

const TRUNK = 'sytrk0';
const V4 = { subnet: '192.0.2.0/24', gateway: '192.0.2.1', userSubnet: true };
const V6 = { subnet: '2001:db8:5::/64', gateway: '2001:db8:5::1', userSubnet: true };
const V4B = { subnet: '198.51.100.0/24', gateway: '198.51.100.1', userSubnet: true };
const noKernel = { rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} };
type Driver = IpvlanDriver | MacvlanDriver;

function network(kind: 'ipvlan' | 'macvlan', options: Record<string, string>, o: { pools?: PoolRecord[]; internal?: boolean; id?: string } = {}): NetworkRecord {
  const id = o.id ?? randomBytes(32).toString('hex');
  const plan = { id, name: 'n', predefined: false, others: [] };
  const state = kind === 'ipvlan'
    ? new IpvlanDriver(noKernel).planNetwork({ ...plan, options: parseIpvlanOptions(options) })
    : new MacvlanDriver(noKernel).planNetwork({ ...plan, options: parseMacvlanOptions(options) });
  return {
    v: 1, id, name: `${kind}-${id.slice(0, 4)}`, driver: kind, created: '', scope: 'local', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {}, pools: o.pools ?? [V4, V6], internal: o.internal ?? false, attachable: false, ingress: false,
    options, labels: {}, predefined: false, state,
  };
}

function endpoint(net: NetworkRecord, n: number, v4 = `192.0.2.1${n}/24`, gw = '192.0.2.1'): EndpointRecord {
  return {
    v: 1, id: randomBytes(32).toString('hex'), networkId: net.id, sandboxId: randomBytes(32).toString('hex'), ifname: 'eth0',
    mac: `02:42:c0:00:02:1${n}`, ipv4: v4, gateway: gw, ipv6: `2001:db8:5::1${n}/64`, ipv6Gateway: '2001:db8:5::1',
    aliases: [], links: [], dnsNames: [], order: n,
  };
}

/** One echo request at a time, up to `tries` (2 s each: TCG is slow). */
function pings(from: TestNs, to: string, tries = 3): boolean {
  return inNs(from.name, 'ping', ['-c', '1', '-W', '2', to], { allowFail: true }).status === 0 || (tries > 1 && pings(from, to, tries - 1));
}

/**
 * A negative probe: one echo request, 1 s deadline (the isolation checks used to wait out
 * 2 s per try). Every use has a positive control on the same sandboxes or parent, so a slow
 * VM cannot make it pass vacuously.
 */
function silent(from: TestNs, to: string): boolean {
  return inNs(from.name, 'ping', ['-c', '1', '-W', '1', to], { allowFail: true }).status !== 0;
}

/** A TCP connect to the sandbox's socat echo server: the peer address it saw, retried while the server starts. */
function tcp(from: TestNs, to: string): string | null {
  for (let i = 0; i < 10; i++) {
    const r = connect(from, to, 7000);
    if (r) return r;
  }
  return null;
}

interface Lab {
  host: TestNs;
  lan: TestNs;
  rtnl: Rtnl;
  ipvlan: IpvlanDriver;
  macvlan: MacvlanDriver;
  /** A sandbox joined to `net` (with a TCP server on port 7000 when asked). */
  sandbox(d: Driver, net: NetworkRecord, ep: EndpointRecord, o?: { server?: boolean }): TestNs;
  leave(d: Driver, net: NetworkRecord, ep: EndpointRecord): Promise<void>;
}

async function withLab(body: (lab: Lab) => Promise<void> | void): Promise<void> {
  const host = makeNs('ivh');
  const lan = makeNs('ivl');
  const sandboxes = new Map<string, TestNs>();
  const servers: ChildProcess[] = [];
  const rtnl = Rtnl.open(host.path);
  const opts = { rtnl, openRtnl: (p: string) => Rtnl.open(p), log: () => {} };
  const ipvlan = new IpvlanDriver(opts);
  const macvlan = new MacvlanDriver(opts);
  try {
    sh('ip', ['-n', host.name, 'link', 'add', TRUNK, 'type', 'veth', 'peer', 'name', TRUNK, 'netns', lan.name]);
    sh('ip', ['-n', host.name, 'link', 'set', TRUNK, 'up']);
    inNs(lan.name, 'sh', ['-c', [
      'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
      `ip addr add 192.0.2.1/24 dev ${TRUNK}`, `ip addr add 2001:db8:5::1/64 dev ${TRUNK} nodad`, `ip link set ${TRUNK} up`,
      `ip link add link ${TRUNK} name ${TRUNK}.10 type vlan id 10`, `ip addr add 198.51.100.1/24 dev ${TRUNK}.10`, `ip link set ${TRUNK}.10 up`,
    ].join(' && ')]);
    await body({
      host, lan, rtnl, ipvlan, macvlan,
      sandbox: (d, net, ep, o = {}) => {
        const s = makeNs('ivs');
        sandboxes.set(ep.id, s);
        d.join(net, ep, { id: ep.sandboxId, nsPath: s.path }, { gateway: true });
        if (o.server) servers.push(spawn('nsenter', [`--net=${NETNS_DIR}/${s.name}`, '--', 'socat', 'TCP6-LISTEN:7000,ipv6only=0,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR'], { stdio: 'ignore' }));
        return s;
      },
      leave: (d, net, ep) => d.leave(net, ep, { id: ep.sandboxId, nsPath: sandboxes.get(ep.id)!.path }),
    });
  } finally {
    for (const p of servers) p.kill();
    await Promise.all([ipvlan.close(), macvlan.close()]);
    rtnl.close();
    for (const ns of [...sandboxes.values(), host, lan]) removeNs(ns);
  }
  assertNoLeaks([host.name, lan.name, ...[...sandboxes.values()].map((s) => s.name)]);
}

const macOf = (rt: Rtnl, name: string) => rt.getLink(name)!.mac;
const macOfIn = (ns: TestNs, name: string): string => /link\/ether ([0-9a-f:]+)/.exec(inNs(ns.name, 'ip', ['-o', 'link', 'show', name]).stdout)![1]!;

test('ipvlan l2, l3, l3s: sandboxes ping and talk TCP (v4, v6) carrying the parent\'s MAC (the MAC planned for the record: a requested one refused, as Docker); l2 routes via the gateway, l3/l3s out of the interface; rm leaves the parent as it was', { skip }, async () => {
  await withLab(async ({ host, ipvlan, rtnl, sandbox, leave }) => {
    const parentMac = macOf(rtnl, TRUNK);
    for (const mode of ['l2', 'l3', 'l3s'] as const) {
      const net = network('ipvlan', { parent: TRUNK, ipvlan_mode: mode });
      ipvlan.ensureNetwork(net);
      const planned = ipvlan.planEndpoint(net, { id: 'e', ifname: 'eth0' });
      assert.deepEqual(planned, { mac: parentMac }, `${mode}: the record gets the parent's MAC (inspect shows it)`);
      assert.throws(() => ipvlan.planEndpoint(net, { id: 'e', ifname: 'eth0', mac: '02:00:00:00:00:01' }), /ipvlan interfaces do not support custom mac address assignment/);
      const [e1, e2] = [endpoint(net, 1), endpoint(net, 2)].map((e) => ({ ...e, mac: planned.mac! })) as [EndpointRecord, EndpointRecord];
      const s1 = sandbox(ipvlan, net, e1);
      const s2 = sandbox(ipvlan, net, e2, { server: true });
      assert.ok(pings(s1, '192.0.2.12'), `${mode}: ping v4`);
      assert.ok(pings(s1, '2001:db8:5::12'), `${mode}: ping v6`);
      assert.equal(tcp(s1, '192.0.2.12'), '192.0.2.11', `${mode}: TCP v4`);
      assert.equal(tcp(s1, '2001:db8:5::12'), '2001:db8:5::11', `${mode}: TCP v6`);
      const eth0 = Rtnl.open(s2.path);
      try {
        const l = eth0.getLink('eth0')!;
        assert.deepEqual(l.data, { kind: 'ipvlan', mode, flag: 'bridge' });
        assert.equal(l.mac, parentMac, `${mode}: the parent's MAC`);
        assert.equal(l.mac, e2.mac, `${mode}: the recorded MAC is the one the slave carries`);
        const routes = eth0.listRoutes(4).filter((r) => r.dst === 'default');
        if (mode === 'l2') assert.deepEqual(routes.map((r) => r.gateway), ['192.0.2.1']);
        else assert.deepEqual(routes.map((r) => [r.gateway, r.oif]), [[undefined, l.index]], `${mode}: default dev eth0, no gateway`);
      } finally {
        eth0.close();
      }
      if (mode === 'l2') assert.ok(pings(s1, '192.0.2.1'), 'l2: the LAN router on the wire');
      await leave(ipvlan, net, e1);
      await leave(ipvlan, net, e2);
      await ipvlan.deleteNetwork(net);
    }
    assert.deepEqual(linksIn(host.name), ['lo', TRUNK], 'nothing left on the host');
  });
});

test('ipvlan l3 with two subnets on one parent: each reaches the other (the parent routes), on a dummy parent too; flags private and vepa isolate slaves (bridge above is the control)', { skip }, async () => {
  await withLab(async ({ ipvlan, sandbox, leave }) => {
    const net = network('ipvlan', { parent: TRUNK, ipvlan_mode: 'l3' }, { pools: [V4, V4B, V6] });
    ipvlan.ensureNetwork(net);
    const [e1, e2] = [endpoint(net, 1), endpoint(net, 2, '198.51.100.12/24', '198.51.100.1')];
    const s1 = sandbox(ipvlan, net, e1);
    sandbox(ipvlan, net, e2, { server: true });
    assert.ok(pings(s1, '198.51.100.12'), 'l3: 192.0.2.11 → 198.51.100.12 across subnets');
    assert.equal(tcp(s1, '198.51.100.12'), '192.0.2.11', 'l3: TCP across subnets');
    await leave(ipvlan, net, e1);
    await leave(ipvlan, net, e2);
    await ipvlan.deleteNetwork(net);
    // Docker's own example (ipnet210): L3 without a parent. The dummy gives no way out, but
    // the default route out of the interface stays, so the subnets still reach each other.
    const iso3 = network('ipvlan', { ipvlan_mode: 'l3' }, { pools: [V4, V4B, V6] });
    ipvlan.ensureNetwork(iso3);
    const [d1, d2] = [endpoint(iso3, 1), endpoint(iso3, 2, '198.51.100.12/24', '198.51.100.1')];
    const sd1 = sandbox(ipvlan, iso3, d1);
    sandbox(ipvlan, iso3, d2);
    assert.ok(pings(sd1, '198.51.100.12'), 'l3 on a dummy parent: across subnets');
    assert.match(inNs(sd1.name, 'ip', ['route', 'show', 'default']).stdout, /^default dev eth0/);
    await leave(ipvlan, iso3, d1);
    await leave(ipvlan, iso3, d2);
    await ipvlan.deleteNetwork(iso3);
    for (const flag of ['private', 'vepa']) {
      const iso = network('ipvlan', { parent: TRUNK, ipvlan_flag: flag });
      ipvlan.ensureNetwork(iso);
      const [a, b] = [endpoint(iso, 1), endpoint(iso, 2)];
      const sa = sandbox(ipvlan, iso, a);
      sandbox(ipvlan, iso, b);
      assert.ok(pings(sa, '192.0.2.1'), `flag ${flag}: control: the slave is up and reaches the LAN router`);
      assert.ok(silent(sa, '192.0.2.12'), `flag ${flag}: slave ↛ slave`);
      await leave(ipvlan, iso, a);
      await leave(ipvlan, iso, b);
      await ipvlan.deleteNetwork(iso);
    }
  });
});

test('802.1q parent made on demand: tagged on the trunk (VID 10), shared by two macvlan networks and removed with the last; an ipvlan one too; a parent that existed is never touched', { skip }, async () => {
  await withLab(async ({ host, lan, rtnl, ipvlan, macvlan, sandbox, leave }) => {
    inNs(lan.name, 'nft', ['-f', '-'], {
      input: `table netdev swy_vlan {
  chain in { type filter hook ingress device "${TRUNK}" priority 0;
    vlan id 10 counter name vid10
    ether type ip ip daddr 198.51.100.0/24 counter name untagged
  }
  counter vid10 {}
  counter untagged {}
}
`,
    });
    const pools = [V4B];
    const m1 = network('macvlan', { parent: `${TRUNK}.10` }, { pools });
    const m2 = network('macvlan', { parent: `${TRUNK}.10` }, { pools });
    macvlan.ensureNetwork(m1);
    const vlan = rtnl.getLink(`${TRUNK}.10`)!;
    assert.deepEqual(vlan.data, { kind: 'vlan', id: 10, protocol: 0x8100 });
    assert.equal(vlan.alias, 'switchyard:macvlan-vlan');
    assert.ok(vlan.up && macvlan.ownsLink({ name: vlan.name, alias: vlan.alias }));
    macvlan.ensureNetwork(m2);
    const e1 = endpoint(m1, 1, '198.51.100.11/24', '198.51.100.1');
    const s1 = sandbox(macvlan, m1, { ...e1, ipv6: undefined });
    assert.ok(pings(s1, '198.51.100.1'), 'a sandbox on the VLAN reaches the router on VLAN 10');
    const counters = JSON.parse(inNs(lan.name, 'nft', ['-j', 'list', 'counters', 'table', 'netdev', 'swy_vlan']).stdout).nftables
      .filter((o: { counter?: unknown }) => o.counter).map((o: { counter: { name: string; packets: number } }) => o.counter);
    const packets = Object.fromEntries(counters.map((c: { name: string; packets: number }) => [c.name, c.packets]));
    assert.ok(packets.vid10 >= 1, `frames tagged VID 10 on the trunk: ${JSON.stringify(packets)}`);
    assert.equal(packets.untagged, 0, 'nothing for VLAN 10 crossed the trunk untagged');
    await leave(macvlan, m1, e1);
    // A restart: a new driver learns the users from ensureNetwork (reconcile calls it for every record).
    const after = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
    after.ensureNetwork(m1);
    after.ensureNetwork(m2);
    await after.deleteNetwork(m1);
    assert.ok(rtnl.getLink(`${TRUNK}.10`), 'kept while another network uses it');
    assert.deepEqual(after.networkLinks(m2), [`${TRUNK}.10`]);
    await after.deleteNetwork(m2);
    assert.equal(rtnl.getLink(`${TRUNK}.10`), null, 'removed with the last network that used it');

    const i1 = network('ipvlan', { parent: `${TRUNK}.10` }, { pools });
    ipvlan.ensureNetwork(i1);
    assert.equal(rtnl.getLink(`${TRUNK}.10`)?.alias, 'switchyard:ipvlan-vlan');
    await ipvlan.deleteNetwork(i1);
    assert.equal(rtnl.getLink(`${TRUNK}.10`), null);

    // A VLAN parent that existed before: used, never touched (still there, still down).
    sh('ip', ['-n', host.name, 'link', 'add', 'link', TRUNK, 'name', `${TRUNK}.20`, 'type', 'vlan', 'id', '20']);
    const own = network('macvlan', { parent: `${TRUNK}.20` }, { pools });
    macvlan.ensureNetwork(own);
    await macvlan.deleteNetwork(own);
    const kept = rtnl.getLink(`${TRUNK}.20`)!;
    assert.ok(kept && !kept.up && kept.alias === undefined, 'the pre-existing parent is as it was');
    rtnl.deleteLink(`${TRUNK}.20`);
    assert.deepEqual(linksIn(host.name), ['lo', TRUNK]);
  });
});

test('no parent, or --internal (with a parent too, left untouched): a dummy parent of the network\'s own, its MAC the endpoints\' recorded one; sandboxes reach each other and nothing else, no default route; the dummy goes with the network', { skip }, async () => {
  await withLab(async ({ host, rtnl, ipvlan, macvlan, sandbox, leave }) => {
    const trunk = rtnl.getLink(TRUNK)!;
    for (const [d, net] of [
      [ipvlan, network('ipvlan', {})],
      [macvlan, network('macvlan', {}, { internal: true })],
      // libnetwork's internal network: the dummy, the given parent unused.
      [ipvlan, network('ipvlan', { parent: TRUNK }, { internal: true })],
    ] as const) {
      d.ensureNetwork(net);
      const dummy = `${net.driver === 'ipvlan' ? 'di' : 'dm'}-${net.id.slice(0, 12)}`;
      assert.equal(rtnl.getLink(dummy)?.kind, 'dummy');
      assert.equal(rtnl.getLink(dummy)?.mac, dummyMac(net), 'the dummy\'s MAC comes from the network id (the same when remade)');
      assert.deepEqual(d.networkLinks(net), [dummy]);
      const [a, b] = [endpoint(net, 1), endpoint(net, 2)];
      const sa = sandbox(d, net, a);
      sandbox(d, net, b, { server: true });
      if (d === ipvlan) {
        assert.deepEqual(ipvlan.planEndpoint(net, { id: 'e', ifname: 'eth0' }), { mac: dummyMac(net) });
        assert.equal(macOfIn(sa, 'eth0'), dummyMac(net), 'the slave hangs off the dummy (its MAC), not the trunk');
      }
      assert.ok(pings(sa, '192.0.2.12'), `${net.driver}: sandbox → sandbox on the dummy`);
      assert.equal(tcp(sa, '2001:db8:5::12'), '2001:db8:5::11', `${net.driver}: TCP v6 on the dummy`);
      assert.equal(inNs(sa.name, 'ip', ['route', 'show', 'default']).stdout.trim(), '', 'no default route');
      assert.ok(silent(sa, '192.0.2.1'), 'no way to the LAN router (control: a sandbox with the trunk as parent reaches it, first test; this one reaches its peer above)');
      const t = rtnl.getLink(TRUNK)!;
      assert.deepEqual([t.mac, t.up, t.alias], [trunk.mac, trunk.up, trunk.alias], 'the trunk is as it was');
      await leave(d, net, a);
      await leave(d, net, b);
      await d.deleteNetwork(net);
      assert.equal(rtnl.getLink(dummy), null, 'the dummy went with the network');
    }
    assert.deepEqual(linksIn(host.name), ['lo', TRUNK]);
  });
});

test('ipvlan host interface: the host reaches its sandboxes through a host-side slave; control: without its route it does not', { skip }, async () => {
  await withLab(async ({ host, rtnl, ipvlan, sandbox, leave }) => {
    const net = network('ipvlan', { parent: TRUNK, 'com.switchyard.host_interface': 'true' }, { pools: [{ ...V4, auxAddresses: { host: '192.0.2.250' } }, V6] });
    sh('ip', ['-n', host.name, 'addr', 'add', '192.0.2.254/24', 'dev', TRUNK]);
    ipvlan.ensureNetwork(net);
    const shim = `syh${net.id.slice(0, 12)}`;
    assert.deepEqual(rtnl.getLink(shim)?.data, { kind: 'ipvlan', mode: 'l2', flag: 'bridge' });
    const e1 = endpoint(net, 1);
    const s1 = sandbox(ipvlan, net, e1, { server: true });
    assert.ok(pings(host, '192.0.2.11'), 'host → its ipvlan sandbox through the host interface');
    assert.equal(tcp(host, '192.0.2.11'), '192.0.2.250', 'TCP from the host\'s address on the network');
    sh('ip', ['-n', host.name, 'route', 'del', '192.0.2.11/32', 'dev', shim]);
    assert.ok(silent(host, '192.0.2.11'), 'control: through the parent the host cannot reach its slave');
    assert.ok(pings(s1, '192.0.2.1'), 'the sandbox reaches the LAN');
    await leave(ipvlan, net, e1);
    await ipvlan.deleteNetwork(net);
    assert.equal(rtnl.getLink(shim), null);
    sh('ip', ['-n', host.name, 'addr', 'del', '192.0.2.254/24', 'dev', TRUNK]);
  });
});

/** Two hosts whose parents are veths on one underlay bridge (in a switch namespace that also routes to an outside network). */
test('multi-host on one LAN (ipvlan l2): sandboxes on two hosts reach each other directly; a host outside reaches them through the router', { skip }, async () => {
  const sw = makeNs('ivw');
  const outside = makeNs('ivo');
  const hosts = [makeNs('iva'), makeNs('ivb')];
  const sandboxes: TestNs[] = [];
  const rtnls: Rtnl[] = [];
  try {
    inNs(sw.name, 'sh', ['-c', [
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0',
      'ip link add br0 type bridge', 'ip link set br0 up', 'ip addr add 192.0.2.1/24 dev br0', 'ip addr add 2001:db8:5::1/64 dev br0 nodad',
      ...hosts.map((h, i) => `ip link add p${i} type veth peer name ${TRUNK} netns ${h.name} && ip link set p${i} master br0 up`),
      `ip link add out0 type veth peer name eth0 netns ${outside.name}`, 'ip addr add 203.0.113.1/24 dev out0', 'ip link set out0 up',
    ].join(' && ')]);
    inNs(outside.name, 'sh', ['-c', 'ip addr add 203.0.113.2/24 dev eth0 && ip link set eth0 up && ip route add default via 203.0.113.1']);
    const id = randomBytes(32).toString('hex');
    const net = network('ipvlan', { parent: TRUNK }, { id });
    hosts.forEach((h, i) => {
      sh('ip', ['-n', h.name, 'link', 'set', TRUNK, 'up']);
      const rtnl = Rtnl.open(h.path);
      rtnls.push(rtnl);
      const d = new IpvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
      const s = makeNs('ivs');
      sandboxes.push(s);
      d.ensureNetwork(net);
      const ep = endpoint(net, i + 1);
      d.join(net, ep, { id: ep.sandboxId, nsPath: s.path }, { gateway: true });
    });
    const [sa, sb] = sandboxes as [TestNs, TestNs];
    assert.ok(pings(sa, '192.0.2.12'), 'host A\'s sandbox → host B\'s sandbox (v4)');
    assert.ok(pings(sb, '2001:db8:5::11'), 'host B\'s sandbox → host A\'s sandbox (v6)');
    const hostBMac = rtnls[1]!.getLink(TRUNK)!.mac;
    assert.match(inNs(sa.name, 'ip', ['neigh', 'show', '192.0.2.12']).stdout, new RegExp(`lladdr ${hostBMac}`), 'directly: B\'s sandbox answers with host B\'s parent MAC');
    assert.ok(pings(outside, '192.0.2.11'), 'outside → host A\'s sandbox through the router');
    assert.ok(pings(outside, '192.0.2.12'), 'outside → host B\'s sandbox through the router');
  } finally {
    rtnls.forEach((r) => r.close());
    for (const ns of [...sandboxes, ...hosts, sw, outside]) removeNs(ns);
  }
  assertNoLeaks([sw.name, outside.name, ...hosts.map((h) => h.name), ...sandboxes.map((s) => s.name)]);
});

// The driver conformance suite against ipvlan, on a network without a parent (its dummy is the host link it owns).
driverConformance('ipvlan driver (VM)', async () => {
  const host = makeNs('ivc');
  const sandboxes: TestNs[] = [];
  const rtnl = Rtnl.open(host.path);
  const driver = new IpvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const net = network('ipvlan', {});
  return {
    driver,
    network: net,
    endpoint: (n) => endpoint(net, n),
    ...kernelFixtureParts({ host, rtnl, tag: 'ivcs', sandboxes, join: (ep, sb) => driver.join(net, ep, sb, { gateway: false }) }),
    settle: () => driver.close(),
    cleanup: async () => {
      await driver.close();
      rtnl.close();
      for (const s of sandboxes) removeNs(s);
      removeNs(host);
      assertNoLeaks([host.name, ...sandboxes.map((s) => s.name)]);
    },
  };
}, IN_VM ? {} : { 'ensure twice': skip as string, 'join, leave, join': skip as string, 'half-made join': skip as string, 'delete when gone': skip as string, 'owned links': skip as string });
