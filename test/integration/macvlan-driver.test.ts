/**
 * The macvlan driver against the real kernel, in a throwaway "host" namespace whose parent
 * is a veth to a second namespace acting as the LAN (its router at 192.0.2.1): sandboxes
 * reach each other and the LAN host, carry their own MACs, private mode isolates them
 * (bridge mode is the control), and the driver leaves nothing on the host. Needs root.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { MacvlanDriver } from '../../src/drivers/macvlan.js';
import { parseMacvlanOptions } from '../../src/model/driver-options.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { SwitchyardError } from '../../src/errors.js';
import { assertNoLeaks, inNs, linksIn, makeNs, removeNs, sh, type TestNs } from '../helpers/netns.js';
import { driverConformance } from '../helpers/driver-conformance.js';
import { kernelFixtureParts } from '../helpers/driver-kernel-fixture.js';

before(async () => {
  await warmThreadpool();
});

const PARENT = 'sylan0';
const NET_ID = 'ef'.repeat(32);

function network(id: string, options: Record<string, string>, others: NetworkRecord[] = [], driver = new MacvlanDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} })): NetworkRecord {
  return {
    v: 1, id, name: `mv-${id.slice(0, 4)}`, driver: 'macvlan', created: '', scope: 'local', enableIPv4: true, enableIPv6: true,
    ipamDriver: 'default', ipamOptions: {},
    pools: [
      { subnet: '192.0.2.0/24', gateway: '192.0.2.1', userSubnet: true },
      { subnet: '2001:db8:5::/64', gateway: '2001:db8:5::1', userSubnet: true },
    ],
    internal: false, attachable: false, ingress: false, options, labels: {}, predefined: false,
    state: driver.planNetwork({ id, name: 'mv', options: parseMacvlanOptions(options), predefined: false, others }),
  };
}

const endpoint = (netId: string, n: number): EndpointRecord => ({
  v: 1, id: `${n}`.repeat(64).slice(0, 64), networkId: netId, sandboxId: `${n}`.repeat(64).slice(0, 64), ifname: 'eth0',
  mac: `02:42:c0:00:02:1${n}`, ipv4: `192.0.2.1${n}/24`, gateway: '192.0.2.1', ipv6: `2001:db8:5::1${n}/64`, ipv6Gateway: '2001:db8:5::1',
  aliases: [], links: [], dnsNames: [], order: n,
});

/** A host namespace with a veth `sylan0` whose peer is the LAN host's `eth0` (192.0.2.1). */
function makeLan(): { host: TestNs; lan: TestNs } {
  const host = makeNs('mvh');
  const lan = makeNs('mvl');
  sh('ip', ['-n', host.name, 'link', 'add', PARENT, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name]);
  sh('ip', ['-n', host.name, 'link', 'set', PARENT, 'up']);
  inNs(lan.name, 'sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
  sh('ip', ['-n', lan.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
  sh('ip', ['-n', lan.name, 'addr', 'add', '2001:db8:5::1/64', 'dev', 'eth0', 'nodad']);
  sh('ip', ['-n', lan.name, 'link', 'set', 'eth0', 'up']);
  return { host, lan };
}

/** Three echo requests; true when any is answered (a first IPv6 contact may lose one while neighbours resolve). */
const ping = (ns: string, dst: string): boolean =>
  inNs(ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', dst], { allowFail: true }).status === 0;

const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]+)/.exec(inNs(ns, 'ip', ['-o', 'link', 'show', dev]).stdout)![1]!;

async function withTwoSandboxes(mode: string, body: (x: { s1: TestNs; s2: TestNs; lan: TestNs; host: TestNs; e1: EndpointRecord; e2: EndpointRecord }) => Promise<void> | void): Promise<void> {
  const { host, lan } = makeLan();
  const s1 = makeNs('mvs');
  const s2 = makeNs('mvs');
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const net = network(NET_ID, { parent: PARENT, macvlan_mode: mode });
  const [e1, e2] = [endpoint(NET_ID, 1), endpoint(NET_ID, 2)];
  const sb1 = { id: e1.sandboxId, nsPath: s1.path };
  const sb2 = { id: e2.sandboxId, nsPath: s2.path };
  try {
    const hostLinksBefore = linksIn(host.name);
    withNetns(host.path, () => {
      driver.ensureNetwork(net);
      driver.join(net, e1, sb1, { gateway: true });
      driver.join(net, e2, sb2, { gateway: true });
    });
    assert.deepEqual(linksIn(host.name), hostLinksBefore, 'no link made in the host namespace');
    await body({ s1, s2, lan, host, e1, e2 });
    // leave and deleteNetwork act inside the sandbox only (nothing of theirs is on the host).
    await Promise.all([driver.leave(net, e1, sb1), driver.leave(net, e2, sb2)]);
    await Promise.all([driver.leave(net, e1, sb1), driver.leave(net, e2, sb2)]); // idempotent
    await driver.close(); // the kernel part of the deletions finishes after leave
    await driver.deleteNetwork(net);
    await driver.deleteNetwork(net);
    for (const s of [s1, s2]) assert.deepEqual(linksIn(s.name), ['lo'], `leave removed the child in ${s.name}`);
    assert.deepEqual(linksIn(host.name), hostLinksBefore, 'the parent is left as it was');
  } finally {
    rtnl.close();
    for (const ns of [s1, s2, host, lan]) removeNs(ns);
  }
  assertNoLeaks([s1.name, s2.name, host.name, lan.name]);
}

test('macvlan bridge mode: sandboxes reach each other and the LAN host (v4 and v6), with their own MACs and a default route via the LAN gateway', async () => {
  await withTwoSandboxes('bridge', ({ s1, s2, host, e1, e2 }) => {
    assert.ok(ping(s1.name, '192.0.2.12'), 'sandbox 1 → sandbox 2 (v4)');
    assert.ok(ping(s2.name, '192.0.2.11'), 'sandbox 2 → sandbox 1 (v4)');
    assert.ok(ping(s1.name, '192.0.2.1'), 'sandbox 1 → LAN host (v4)');
    assert.ok(ping(s2.name, '192.0.2.1'), 'sandbox 2 → LAN host (v4)');
    assert.ok(ping(s1.name, '2001:db8:5::12'), 'sandbox 1 → sandbox 2 (v6)');
    assert.ok(ping(s1.name, '2001:db8:5::1'), 'sandbox 1 → LAN host (v6)');
    const parentMac = macOf(host.name, PARENT);
    assert.equal(macOf(s1.name, 'eth0'), e1.mac);
    assert.equal(macOf(s2.name, 'eth0'), e2.mac);
    assert.notEqual(e1.mac, parentMac, 'not the parent\'s MAC');
    assert.match(inNs(s1.name, 'ip', ['-o', '-d', 'link', 'show', 'eth0']).stdout, /macvlan mode bridge/);
    assert.match(inNs(s1.name, 'ip', ['route', 'show', 'default']).stdout, /default via 192\.0\.2\.1 dev eth0/);
    assert.match(inNs(s1.name, 'ip', ['-6', 'route', 'show', 'default']).stdout, /default via 2001:db8:5::1 dev eth0/);
    assert.doesNotMatch(inNs(host.name, 'ip', ['-o', 'addr']).stdout, /192\.0\.2\./, 'no gateway address is put on the host');
    // The kernel rule docs/drivers/macvlan.md states: the host cannot reach its children
    // through the parent, even with an address on the LAN's subnet (the LAN host can: control).
    sh('ip', ['-n', host.name, 'addr', 'add', '192.0.2.254/24', 'dev', PARENT]);
    assert.ok(ping(host.name, '192.0.2.1'), 'control: the host reaches the LAN host through the parent');
    assert.ok(!ping(host.name, '192.0.2.11'), 'the host does not reach its own macvlan child');
    sh('ip', ['-n', host.name, 'addr', 'del', '192.0.2.254/24', 'dev', PARENT]);
  });
});

test('macvlan private mode: sandboxes on one parent cannot reach each other, but reach the LAN host (bridge mode above is the control)', async () => {
  await withTwoSandboxes('private', ({ s1, s2 }) => {
    assert.ok(ping(s1.name, '192.0.2.1'), 'sandbox 1 → LAN host');
    assert.ok(ping(s2.name, '192.0.2.1'), 'sandbox 2 → LAN host');
    assert.ok(!ping(s1.name, '192.0.2.12'), 'private: sandbox 1 ↛ sandbox 2');
    assert.ok(!ping(s2.name, '192.0.2.11'), 'private: sandbox 2 ↛ sandbox 1');
    assert.match(inNs(s1.name, 'ip', ['-o', '-d', 'link', 'show', 'eth0']).stdout, /macvlan mode private/);
  });
});

test('macvlan: Docker\'s rules on the parent (the 802.1q and dummy parents themselves run in test/vm/ipvlan.test.ts)', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SwitchyardError, String(err));
      return `${err.code}:${err.field ?? ''}`;
    }
    return 'accepted';
  };
  assert.equal(code(() => network('11'.repeat(32), { parent: 'lo' })), 'INVALID_OPTION:Options.parent');
  assert.equal(code(() => network('11'.repeat(32), {})), 'accepted', 'no parent: a dummy parent of its own');
  const shared = network('22'.repeat(32), { parent: 'eth9' });
  assert.equal(code(() => network('33'.repeat(32), { parent: 'eth9' }, [shared])), 'accepted', 'bridge-mode networks share a parent');
  assert.equal(code(() => network('33'.repeat(32), { parent: 'eth9', macvlan_mode: 'passthru' }, [shared])), 'MACVLAN_PARENT_IN_USE:');
  const pt = network('44'.repeat(32), { parent: 'eth8', macvlan_mode: 'passthru' });
  assert.equal(code(() => network('55'.repeat(32), { parent: 'eth8' }, [pt])), 'MACVLAN_PARENT_IN_USE:');

  const host = makeNs('mvr');
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  try {
    const inHost = (fn: () => void) => code(() => withNetns(host.path, fn));
    assert.equal(inHost(() => driver.ensureNetwork(network('66'.repeat(32), { parent: 'syabsent0' }))), 'MACVLAN_PARENT_MISSING:Options.parent');
    assert.equal(inHost(() => driver.ensureNetwork(network('66'.repeat(32), { parent: 'syabsent0.10' }))), 'INVALID_VLAN_PARENT:Options.parent', 'the VLAN\'s base interface is missing');
    sh('ip', ['-n', host.name, 'link', 'add', 'sypar0', 'type', 'veth', 'peer', 'name', 'sypar1']);
    // --internal with a parent: a dummy of its own (dm-<id12>, VM lane), the parent unused; no dummy links on this kernel.
    if (!existsSync('/sys/module/dummy')) assert.equal(inHost(() => driver.ensureNetwork({ ...network('77'.repeat(32), { parent: 'sypar0' }), internal: true })), 'LINK_KIND_UNSUPPORTED:');
    assert.equal(code(() => new MacvlanDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} })
      .planNetwork({ id: '88'.repeat(32), name: 'i', options: parseMacvlanOptions({ parent: 'eth8', macvlan_mode: 'passthru' }), predefined: false, others: [pt], internal: true })), 'accepted', 'an internal network leaves its parent unused: no sharing conflict');
    assert.equal(inHost(() => driver.ensureNetwork(network('77'.repeat(32), { parent: 'sypar0' }))), 'accepted');
  } finally {
    rtnl.close();
    removeNs(host);
  }
  assertNoLeaks([host.name]);
});

// The driver conformance suite (test/helpers/driver-conformance.ts).
driverConformance('macvlan driver', async () => {
  const { host, lan } = makeLan();
  const sandboxes: TestNs[] = [];
  const rtnl = Rtnl.open(host.path);
  const driver = new MacvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: () => {} });
  const id = randomBytes(32).toString('hex');
  const net = network(id, { parent: PARENT }, [], driver);
  return {
    driver,
    network: net,
    endpoint: (n) => { const e = endpoint(id, n); return { ...e, ...driver.planEndpoint(net, e) }; },
    ...kernelFixtureParts({ host, rtnl, tag: 'mvcs', sandboxes, join: (ep, sb) => driver.join(net, ep, sb, { gateway: false }) }),
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
}, { 'owned links': 'on a parent that exists macvlan makes no link in the host namespace (its children are created inside the sandboxes); "no link made in the host namespace" above checks that. test/integration/macvlan-parents.test.ts runs the suite with a host interface, and test/vm/ipvlan.test.ts with made parents' });
