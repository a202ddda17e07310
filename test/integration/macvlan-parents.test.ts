/**
 * The macvlan driver on this machine's kernel (which has macvlan but not 802.1q or dummy:
 * those parents run in test/vm/ipvlan.test.ts): vepa and passthru modes, several subnets on
 * one network, the host-side interface (the remedy for the kernel rule that a host cannot
 * reach its own macvlan children, with a control), Docker's parent-sharing rules and the
 * errors, and two simulated hosts on one LAN whose sandboxes meet directly and are reached
 * from outside the LAN through a router. Throwaway namespaces, real traffic, leak checks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { MacvlanDriver } from '../../src/drivers/macvlan.js';
import { IpvlanDriver } from '../../src/drivers/ipvlan.js';
import { parseVlanParent } from '../../src/drivers/parent-link.js';
import { parseIpvlanOptions, parseMacvlanOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord, PoolRecord } from '../../src/model/records.js';
import { SwitchyardError } from '../../src/errors.js';
import { assertNoLeaks, inNs, linksIn, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';

before(async () => {
  await warmThreadpool();
});

const PARENT = 'sylan0';
const V4 = { subnet: '192.0.2.0/24', gateway: '192.0.2.1', userSubnet: true };
const V6 = { subnet: '2001:db8:5::/64', gateway: '2001:db8:5::1', userSubnet: true };
const noKernel = { rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} };

function network(driverName: 'macvlan' | 'ipvlan', id: string, options: Record<string, string>, o: { pools?: PoolRecord[]; others?: NetworkRecord[]; internal?: boolean } = {}): NetworkRecord {
  const state = driverName === 'macvlan'
    ? new MacvlanDriver(noKernel).planNetwork({ id, name: 'n', options: parseMacvlanOptions(options), predefined: false, others: o.others ?? [] })
    : new IpvlanDriver(noKernel).planNetwork({ id, name: 'n', options: parseIpvlanOptions(options), predefined: false, others: o.others ?? [] });
  return {
    v: 1, id, name: `${driverName.slice(0, 2)}-${id.slice(0, 4)}`, driver: driverName, created: '', scope: 'local', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {}, pools: o.pools ?? [V4, V6],
    internal: o.internal ?? false, attachable: false, ingress: false, options, labels: {}, predefined: false, state,
  };
}

const endpoint = (netId: string, n: number, v4 = `192.0.2.1${n}/24`, gw = '192.0.2.1'): EndpointRecord => ({
  v: 1, id: `${n}`.repeat(64).slice(0, 64), networkId: netId, sandboxId: `${n}`.repeat(64).slice(0, 64), ifname: 'eth0',
  mac: `02:42:c0:00:02:1${n}`, ipv4: v4, gateway: gw, ipv6: `2001:db8:5::1${n}/64`, ipv6Gateway: '2001:db8:5::1',
  aliases: [], links: [], dnsNames: [], order: n,
});

/** Three echo requests; true when any is answered. */
const ping = (ns: string, dst: string): boolean =>
  inNs(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', dst], { allowFail: true }).status === 0;
const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]+)/.exec(inNs(ns, 'ip', ['-o', 'link', 'show', dev]).stdout)![1]!;

/**
 * A host namespace whose parent `sylan0` is a veth to the LAN namespace. The LAN's end is a
 * port of a bridge holding 192.0.2.1, 198.51.100.1 and 2001:db8:5::1 (the router), with
 * hairpin on when asked (a switch that reflects VEPA traffic).
 */
function makeLan(o: { hairpin?: boolean } = {}): { host: TestNs; lan: TestNs } {
  const host = makeNs('mph');
  const lan = makeNs('mpl');
  sh('ip', ['-n', host.name, 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
  sh('ip', ['-n', host.name, 'link', 'set', PARENT, 'up']);
  sh('ip', ['-n', lan.name, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'master', 'br0', 'up']);
  if (o.hairpin) sh('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'type', 'bridge_slave', 'hairpin', 'on']);
  inNs(lan.name, 'sysctl', ['-qw', 'net.ipv6.conf.br0.accept_dad=0']);
  for (const a of ['192.0.2.1/24', '198.51.100.1/24']) sh('ip', ['-n', lan.name, 'addr', 'add', a, 'dev', 'br0']);
  sh('ip', ['-n', lan.name, 'addr', 'add', '2001:db8:5::1/64', 'dev', 'br0', 'nodad']);
  sh('ip', ['-n', lan.name, 'link', 'set', 'br0', 'up']);
  return { host, lan };
}

interface Lab {
  host: TestNs;
  lan: TestNs;
  driver: MacvlanDriver;
  rtnl: Rtnl;
  sandbox(ep: EndpointRecord, net: NetworkRecord, gateway?: boolean): TestNs;
}

async function withLab(o: { hairpin?: boolean }, body: (lab: Lab) => Promise<void> | void): Promise<void> {
  const { host, lan } = makeLan(o);
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const sandboxes: TestNs[] = [];
  try {
    await body({
      host, lan, driver, rtnl,
      sandbox: (ep, net, gateway = true) => {
        const s = makeNs('mps');
        sandboxes.push(s);
        withNetns(host.path, () => driver.join(net, ep, { id: ep.sandboxId, nsPath: s.path }, { gateway }));
        return s;
      },
    });
  } finally {
    await driver.close();
    rtnl.close();
    for (const ns of [...sandboxes, host, lan]) removeNs(ns);
  }
  assertNoLeaks([host.name, lan.name, ...sandboxes.map((s) => s.name)]);
}

test('macvlan vepa mode: children reach each other only when the switch reflects their frames (hairpin), and the LAN host always', async () => {
  for (const hairpin of [false, true]) {
    await withLab({ hairpin }, ({ driver, host, sandbox }) => {
      const id = randomBytes(32).toString('hex');
      const net = network('macvlan', id, { parent: PARENT, macvlan_mode: 'vepa' });
      withNetns(host.path, () => driver.ensureNetwork(net));
      const s1 = sandbox(endpoint(id, 1), net);
      sandbox(endpoint(id, 2), net);
      assert.match(inNs(s1.name, 'ip', ['-o', '-d', 'link', 'show', 'eth0']).stdout, /macvlan mode vepa/);
      assert.ok(ping(s1.name, '192.0.2.1'), 'vepa: sandbox → LAN host');
      assert.equal(ping(s1.name, '192.0.2.12'), hairpin, hairpin ? 'the switch hairpins: sandbox 1 → sandbox 2' : 'no hairpin on the switch: sandbox 1 ↛ sandbox 2 (vepa sends it out, nothing sends it back)');
    });
  }
});

test('macvlan passthru mode: one child takes the parent (its MAC), reaches the LAN; a second endpoint is refused; the parent\'s MAC is left as it was', async () => {
  await withLab({}, async ({ driver, host, sandbox }) => {
    const id = randomBytes(32).toString('hex');
    const net = network('macvlan', id, { parent: PARENT, macvlan_mode: 'passthru' });
    const parentMac = macOf(host.name, PARENT);
    withNetns(host.path, () => driver.ensureNetwork(net));
    driver.admit(net, 0);
    assert.deepEqual(driver.planEndpoint(net, { id: 'e', ifname: 'eth0' }), { mac: parentMac }, 'the record gets the MAC the child will carry (inspect shows it)');
    assert.deepEqual(driver.planEndpoint(network('macvlan', id, { parent: PARENT }), { id: 'e', ifname: 'eth0' }), {}, 'bridge mode: the endpoint\'s own MAC is kept');
    const e1 = endpoint(id, 1);
    const s1 = sandbox(e1, net);
    assert.match(inNs(s1.name, 'ip', ['-o', '-d', 'link', 'show', 'eth0']).stdout, /macvlan mode passthru/);
    assert.equal(macOf(s1.name, 'eth0'), parentMac, 'a passthru child carries its parent\'s MAC');
    assert.ok(ping(s1.name, '192.0.2.1'), 'passthru: sandbox → LAN host (v4)');
    assert.ok(ping(s1.name, '2001:db8:5::1'), 'passthru: sandbox → LAN host (v6)');
    assert.throws(() => driver.admit(net, 1), (e: unknown) => e instanceof SwitchyardError && e.code === 'MACVLAN_PASSTHRU_FULL');
    await driver.leave(net, e1, { id: e1.sandboxId, nsPath: s1.path });
    await driver.deleteNetwork(net);
    assert.equal(macOf(host.name, PARENT), parentMac, 'the parent keeps its MAC');
    assert.deepEqual(linksIn(host.name), ['lo', PARENT]);
  });
});

test('macvlan with two IPv4 subnets and IPv6: an endpoint in each subnet reaches the LAN router on its own subnet (v4, v6) through its own gateway', async () => {
  await withLab({}, ({ driver, host, sandbox }) => {
    const id = randomBytes(32).toString('hex');
    const pools = [V4, { subnet: '198.51.100.0/24', gateway: '198.51.100.1', userSubnet: true }, V6];
    const net = network('macvlan', id, { parent: PARENT }, { pools });
    withNetns(host.path, () => driver.ensureNetwork(net));
    const s1 = sandbox(endpoint(id, 1), net);
    const s2 = sandbox(endpoint(id, 2, '198.51.100.12/24', '198.51.100.1'), net);
    assert.ok(ping(s1.name, '192.0.2.1'), 'subnet 1 → its router');
    assert.ok(ping(s2.name, '198.51.100.1'), 'subnet 2 → its router');
    assert.ok(ping(s2.name, '2001:db8:5::1'), 'v6 on the same network');
    assert.match(inNs(s2.name, 'ip', ['route', 'show', 'default']).stdout, /default via 198\.51\.100\.1 dev eth0/);
  });
});

test('host interface (com.switchyard.host_interface): the host reaches its own sandboxes through a host-side macvlan; control: without its route it does not', async () => {
  await withLab({}, async ({ driver, host, rtnl, sandbox }) => {
    const id = randomBytes(32).toString('hex');
    const pools = [{ ...V4, auxAddresses: { host: '192.0.2.250' } }, { ...V6, auxAddresses: { host: '2001:db8:5::250' } }];
    const net = network('macvlan', id, { parent: PARENT, 'com.switchyard.host_interface': 'true' }, { pools });
    // The host also sits on the LAN through the parent, as a real host does.
    sh('ip', ['-n', host.name, 'addr', 'add', '192.0.2.254/24', 'dev', PARENT]);
    withNetns(host.path, () => driver.ensureNetwork(net));
    withNetns(host.path, () => driver.ensureNetwork(net)); // idempotent
    const shim = `syh${id.slice(0, 12)}`;
    const link = rtnl.getLink(shim)!;
    assert.equal(link.kind, 'macvlan');
    assert.deepEqual(link.data, { kind: 'macvlan', mode: 'bridge' });
    assert.equal(link.alias, `switchyard:macvlan-host:${id.slice(0, 12)}`);
    assert.ok(driver.ownsLink({ name: shim, alias: link.alias }));
    assert.deepEqual(driver.networkLinks(net).sort(), [PARENT, shim].sort());
    assert.deepEqual(rtnl.listAddresses(link.index).map((a) => a.cidr).filter((c) => !c.startsWith('fe80')).sort(), ['192.0.2.250/32', '2001:db8:5::250/128']);
    const e1 = endpoint(id, 1);
    const s1 = sandbox(e1, net);
    const sb1 = { id: e1.sandboxId, nsPath: s1.path };
    assert.ok(ping(host.name, '192.0.2.11'), 'the host → its sandbox (v4), through the host interface');
    assert.ok(ping(host.name, '2001:db8:5::11'), 'the host → its sandbox (v6)');
    assert.ok(ping(s1.name, '192.0.2.250'), 'the sandbox → the host\'s address on the network');
    assert.ok(ping(s1.name, '192.0.2.1'), 'the sandbox still reaches the LAN');
    assert.ok(withNetns(host.path, () => driver.endpointPresent(net, e1, sb1)));
    // Control: without the host route the traffic takes the parent, and the kernel drops it.
    sh('ip', ['-n', host.name, 'route', 'del', '192.0.2.11/32', 'dev', shim]);
    assert.ok(!ping(host.name, '192.0.2.11'), 'control: no route through the host interface, no way to the child');
    assert.ok(!withNetns(host.path, () => driver.endpointPresent(net, e1, sb1)), 'a missing host route makes the endpoint not present (reconcile joins it again)');
    withNetns(host.path, () => driver.join(net, e1, sb1, { gateway: true }));
    assert.ok(ping(host.name, '192.0.2.11'), 'joined again: the route is back');
    await driver.leave(net, e1, sb1);
    assert.doesNotMatch(inNs(host.name, 'ip', ['route']).stdout, /192\.0\.2\.11/, 'leave removed the host route');
    await driver.deleteNetwork(net);
    await driver.deleteNetwork(net);
    assert.equal(rtnl.getLink(shim), null, 'the host interface went with the network');
    sh('ip', ['-n', host.name, 'addr', 'del', '192.0.2.254/24', 'dev', PARENT]);
    assert.deepEqual(linksIn(host.name), ['lo', PARENT]);
  });
});

test('parents: Docker\'s sharing rules, the VLAN name checks and messages, and the host interface\'s refusals', async () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SwitchyardError, String(err));
      return `${err.code}:${err.field ?? ''}`;
    }
    return 'accepted';
  };
  const msg = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };
  const id = (n: number) => `${n}${n}`.repeat(32);
  const mv = network('macvlan', id(1), { parent: 'eth9' });
  const iv = network('ipvlan', id(2), { parent: 'eth8' });
  assert.equal(code(() => network('macvlan', id(3), { parent: 'eth9' }, { others: [mv] })), 'accepted', 'macvlan networks share a parent');
  assert.equal(code(() => network('ipvlan', id(3), { parent: 'eth8' }, { others: [iv] })), 'IPVLAN_PARENT_IN_USE:');
  assert.match(msg(() => network('ipvlan', id(3), { parent: 'eth8' }, { others: [iv] })), /network ip-2222 is already using parent interface eth8/);
  assert.equal(code(() => network('ipvlan', id(3), { parent: 'eth9' }, { others: [mv] })), 'IPVLAN_PARENT_IN_USE:', 'not both kinds on one parent');
  assert.equal(code(() => network('macvlan', id(3), { parent: 'eth8' }, { others: [iv] })), 'MACVLAN_PARENT_IN_USE:');
  assert.equal(code(() => network('ipvlan', id(3), { parent: 'eth9.10' }, { others: [mv] })), 'accepted', 'a VLAN of a shared parent is another parent');
  assert.equal(code(() => network('ipvlan', id(3), {}, { others: [network('ipvlan', id(4), {})] })), 'accepted', 'dummy parents are each network\'s own');
  assert.equal(code(() => network('ipvlan', id(3), { parent: 'lo' })), 'INVALID_OPTION:Options.parent');

  // Docker's parseVlan/createVlanLink messages for a parent that does not exist.
  assert.match(msg(() => parseVlanParent('eth0')), /invalid subinterface vlan name eth0, example formatting is eth0\.10/);
  assert.match(msg(() => parseVlanParent('eth0.1.2')), /required interface name format is: name\.vlan_id, ex\. eth0\.10 for vlan 10, instead received eth0\.1\.2/);
  assert.match(msg(() => parseVlanParent('eth0.x')), /unable to parse a valid vlan id from: x \(ex\. eth0\.10 for vlan 10\)/);
  assert.match(msg(() => parseVlanParent('eth0.4095')), /vlan id must be between 1-4094, received: 4095/);
  assert.match(msg(() => parseVlanParent('eth0.0')), /vlan id must be between 1-4094, received: 0/);
  assert.deepEqual(parseVlanParent('eth0.4094'), { base: 'eth0', id: 4094 });
  assert.equal(code(() => parseVlanParent('eth0.0')), 'INVALID_VLAN_PARENT:Options.parent');

  const host = makeNs('mpr');
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const ipvlan = new IpvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  try {
    sh('ip', ['-n', host.name, 'link', 'add', 'sypar0', 'type', 'veth', 'peer', 'name', 'sypar1']);
    const ensure = (d: MacvlanDriver | IpvlanDriver, net: NetworkRecord) => code(() => withNetns(host.path, () => d.ensureNetwork(net)));
    assert.equal(ensure(driver, network('macvlan', id(5), { parent: 'syabsent0' })), 'MACVLAN_PARENT_MISSING:Options.parent');
    assert.equal(ensure(ipvlan, network('ipvlan', id(5), { parent: 'syabsent0' })), 'IPVLAN_PARENT_MISSING:Options.parent');
    assert.match(msg(() => withNetns(host.path, () => driver.ensureNetwork(network('macvlan', id(5), { parent: 'syabsent0.10' })))), /-o parent interface was not found on the host: syabsent0/);
    assert.match(msg(() => withNetns(host.path, () => driver.ensureNetwork(network('macvlan', id(5), { parent: 'sypar0.5000' })))), /vlan id must be between 1-4094, received: 5000/);
    assert.equal(ensure(driver, network('macvlan', id(6), { parent: 'sypar0', 'com.switchyard.host_interface': 'true' })), 'HOST_INTERFACE_ADDRESS:Options.com.switchyard.host_interface');
    assert.equal(ensure(driver, network('macvlan', id(6), { 'com.switchyard.host_interface': 'true' }, { pools: [{ ...V4, auxAddresses: { host: '192.0.2.9' } }] })), 'HOST_INTERFACE_ISOLATED:Options.com.switchyard.host_interface');
    // --internal with a parent: the network's own dummy (made in the VM lane, test/vm/ipvlan.test.ts);
    // this kernel has no dummy links, so the create fails naming it, and sypar0 is left alone.
    if (!existsSync('/sys/module/dummy')) assert.match(msg(() => withNetns(host.path, () => driver.ensureNetwork(network('macvlan', id(6), { parent: 'sypar0' }, { internal: true })))), new RegExp(`dummy link dm-${id(6).slice(0, 12)} .*kernel module dummy`));
    assert.deepEqual(linksIn(host.name).sort(), ['lo', 'sypar0', 'sypar1'], 'no refused network left a link');
  } finally {
    rtnl.close();
    removeNs(host);
  }
  assertNoLeaks([host.name]);
});

/**
 * Two simulated hosts on one LAN: each host namespace's parent is a veth to a bridge in a
 * "switch" namespace, which also holds the LAN's router (192.0.2.1, 2001:db8:5::1). The
 * router's other leg is a network outside (203.0.113.0/24, 2001:db8:99::/64) with one host.
 */
test('multi-host on one LAN (macvlan bridge): sandboxes on two hosts reach each other directly; a host outside reaches them through the router', async () => {
  const sw = makeNs('mpw');
  const outside = makeNs('mpo');
  const hosts = [makeNs('mpa'), makeNs('mpb')];
  const sandboxes: TestNs[] = [];
  const rtnls: Rtnl[] = [];
  try {
    sh('ip', ['-n', sw.name, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', sw.name, 'link', 'set', 'br0', 'up']);
    for (const k of ['ipv4.ip_forward=1', 'ipv6.conf.all.forwarding=1', 'ipv6.conf.default.accept_dad=0']) inNs(sw.name, 'sysctl', ['-qw', `net.${k}`]);
    sh('ip', ['-n', sw.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'br0']);
    sh('ip', ['-n', sw.name, 'addr', 'add', '2001:db8:5::1/64', 'dev', 'br0', 'nodad']);
    hosts.forEach((h, i) => {
      sh('ip', ['-n', h.name, 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw.name]);
      sh('ip', ['-n', sw.name, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      sh('ip', ['-n', h.name, 'link', 'set', PARENT, 'up']);
    });
    sh('ip', ['-n', sw.name, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    sh('ip', ['-n', sw.name, 'addr', 'add', '203.0.113.1/24', 'dev', 'out0']);
    sh('ip', ['-n', sw.name, 'addr', 'add', '2001:db8:99::1/64', 'dev', 'out0', 'nodad']);
    sh('ip', ['-n', sw.name, 'link', 'set', 'out0', 'up']);
    inNs(outside.name, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
    sh('ip', ['-n', outside.name, 'addr', 'add', '203.0.113.2/24', 'dev', 'eth0']);
    sh('ip', ['-n', outside.name, 'addr', 'add', '2001:db8:99::2/64', 'dev', 'eth0', 'nodad']);
    sh('ip', ['-n', outside.name, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', outside.name, 'route', 'add', 'default', 'via', '203.0.113.1']);
    sh('ip', ['-n', outside.name, '-6', 'route', 'add', 'default', 'via', '2001:db8:99::1']);

    // The same network (same subnet and gateway) defined on both hosts, as users do with Docker.
    const id = randomBytes(32).toString('hex');
    const eps = [endpoint(id, 1), endpoint(id, 2)];
    hosts.forEach((h, i) => {
      const rtnl = Rtnl.open(h.path);
      rtnls.push(rtnl);
      const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
      const net = network('macvlan', id, { parent: PARENT });
      const s = makeNs('mps');
      sandboxes.push(s);
      withNetns(h.path, () => {
        driver.ensureNetwork(net);
        driver.join(net, eps[i]!, { id: eps[i]!.sandboxId, nsPath: s.path }, { gateway: true });
      });
    });
    const [sa, sb] = sandboxes as [TestNs, TestNs];
    assert.ok(ping(sa.name, '192.0.2.12'), 'host A\'s sandbox → host B\'s sandbox (v4)');
    assert.ok(ping(sb.name, '2001:db8:5::11'), 'host B\'s sandbox → host A\'s sandbox (v6)');
    // Directly: A's sandbox knows B's sandbox by B's own MAC, not the router's.
    assert.match(inNs(sa.name, 'ip', ['neigh', 'show', '192.0.2.12']).stdout, new RegExp(`lladdr ${eps[1]!.mac}`), 'a neighbour on the LAN, not behind the router');
    assert.ok(ping(outside.name, '192.0.2.11'), 'outside → host A\'s sandbox through the router (v4)');
    assert.ok(ping(outside.name, '192.0.2.12'), 'outside → host B\'s sandbox through the router (v4)');
    assert.ok(ping(outside.name, '2001:db8:5::12'), 'outside → host B\'s sandbox through the router (v6)');
    assert.ok(ping(sa.name, '203.0.113.2'), 'host A\'s sandbox → outside via its default route');
    for (const h of hosts) assert.deepEqual(linksIn(h.name), ['lo', PARENT], 'nothing made on the hosts');
  } finally {
    rtnls.forEach((r) => r.close());
    for (const ns of [...sandboxes, ...hosts, sw, outside]) removeNs(ns);
  }
  assertNoLeaks([sw.name, outside.name, ...hosts.map((h) => h.name), ...sandboxes.map((s) => s.name)]);
});

// The driver conformance suite on a network with a host interface: its host links are the driver's.
driverConformance('macvlan driver with a host interface', async () => {
  const { host, lan } = makeLan();
  const sandboxes: TestNs[] = [];
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const id = randomBytes(32).toString('hex');
  const net = network('macvlan', id, { parent: PARENT, 'com.switchyard.host_interface': 'true' }, { pools: [{ ...V4, auxAddresses: { host: '192.0.2.250' } }, V6] });
  return {
    driver,
    network: net,
    endpoint: (n) => { const e = endpoint(id, n); return { ...e, ...driver.planEndpoint(net, e) }; },
    ...kernelFixtureParts({ host, rtnl, tag: 'mpcs', sandboxes, join: (ep, sb) => driver.join(net, ep, sb, { gateway: false }) }),
    settle: () => driver.close(),
    cleanup: async () => {
      await driver.close();
      rtnl.close();
      for (const s of sandboxes) removeNs(s);
      removeNs(host);
      removeNs(lan);
      assertNoLeaks([host.name, lan.name, ...sandboxes.map((s) => s.name)]);
    },
  };
});
