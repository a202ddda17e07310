/**
 * kernel/nft-elements.ts (set elements over nfnetlink) and the firewall's fast path that
 * uses it, against the real kernel in throwaway namespaces: the bytes it writes must be the
 * elements libnftables writes for the same text (listed back by nft, compared), a batch is
 * all or nothing, and the firewall falls back to its text path when the fast one refuses.
 * Also the rtnetlink batch (NetlinkSocket.requestBatch). Needs root.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { Nft } from '../../src/kernel/nftables.js';
import { NftElements, encodeValue } from '../../src/kernel/nft-elements.js';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { ifNameToIndex } from '../../src/kernel/libc.js';
import { Firewall } from '../../src/services/firewall/firewall.js';
import { renderAntiSpoofBase, renderBase, type AntiSpoofEndpoint, type PortElement } from '../../src/services/firewall/ruleset.js';
import { assertNoLeaks, inNs, makeNs, removeNs, type TestNs } from '../helpers/netns.js';

before(async () => {
  await warmThreadpool();
});

const ENDPOINTS: AntiSpoofEndpoint[] = [
  { port: 'syvaaaaaaaaaa', mac: '02:42:AC:11:00:02', ipv4: '10.1.0.2' },
  { port: 'syvbbbbbbbbbb', mac: '02:42:ac:11:00:03', ipv4: '10.1.0.3', ipv6: 'fd00:1::3' },
  { port: 'syvc', mac: 'aa:bb:cc:dd:ee:ff', ipv6: 'FD00:0001:0000:0000:0000:0000:0000:00ff' },
];
const PORTS: PortElement[] = [
  { family: 4, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80 },
  { family: 4, hostIp: '127.0.0.1', proto: 'udp', hostPort: 5353, containerIp: '10.1.0.2', containerPort: 53 },
  { family: 6, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: 'fd00:1::3', containerPort: 80 },
  { family: 6, hostIp: '::1', proto: 'sctp', hostPort: 9, containerIp: 'fd00:1::3', containerPort: 65535 },
];

/** A namespace with both tables, and a firewall on it with or without the fast path. */
function lab(fast: boolean): { ns: TestNs; nft: Nft; fw: Firewall; close: () => void } {
  const ns = makeNs('nfte');
  const nft = Nft.open(ns.path);
  nft.run(renderBase() + renderAntiSpoofBase());
  let el: NftElements | undefined;
  const fw = new Firewall(nft, { ...(fast ? { elements: () => (el = NftElements.open(ns.path)) } : {}) });
  return { ns, nft, fw, close: () => { el?.close(); nft.close(); removeNs(ns); } };
}

/** Every set and map of both tables with their elements, as nft prints them. */
const listing = (ns: TestNs): string =>
  ['table inet switchyard', 'table bridge switchyard'].map((t) => inNs(ns.name, 'nft', ['list', ...t.split(' ')]).stdout).join('\n');

test('elements written over nfnetlink are the ones libnftables writes for the same text', () => {
  const text = lab(false);
  const fast = lab(true);
  try {
    for (const l of [text, fast]) {
      for (const e of ENDPOINTS) l.fw.allowEndpointSources(e);
      l.fw.addPorts(PORTS);
    }
    const a = listing(text.ns);
    assert.match(a, /"syvbbbbbbbbbb" \. 02:42:ac:11:00:03 \. fd00:1::3/);
    assert.match(a, /tcp \. 8080 : 10\.1\.0\.2 \. 80/);
    assert.equal(listing(fast.ns), a);
    // Deleting through each path leaves the same (empty) sets; deleting again is success.
    for (const l of [text, fast]) {
      for (const e of ENDPOINTS) {
        l.fw.revokeEndpointSources(e);
        l.fw.revokeEndpointSources(e);
      }
      l.fw.deletePorts(PORTS, PORTS);
      l.fw.deletePorts(PORTS, PORTS);
    }
    assert.equal(listing(fast.ns), listing(text.ns));
    assert.doesNotMatch(listing(fast.ns), /elements/);
  } finally {
    text.close();
    fast.close();
  }
  assertNoLeaks([text.ns.name, fast.ns.name]);
});

test('a batch is all or nothing, and a clash or a missing table is an NFT_FAILED error', () => {
  const l = lab(true);
  const el = NftElements.open(l.ns.path);
  try {
    const add = (ifname: string) => ({ op: 'add' as const, family: 'bridge' as const, table: 'switchyard', set: 'ports', key: [{ ifname }] });
    assert.throws(
      () => el.apply([add('syvnew'), { ...add('syvmissing'), op: 'delete' }]),
      (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_FAILED' && /ENOENT/.test(e.message),
    );
    assert.doesNotMatch(listing(l.ns), /syvnew/, 'the add before the failing delete was undone');
    el.apply([add('syvnew'), add('syvnew')]); // adding what is there is success
    assert.match(listing(l.ns), /"syvnew"/);
    const dnat = (ip: string) => ({ op: 'add' as const, family: 'inet' as const, table: 'switchyard', set: 'dnat4-any', key: [{ proto: 'tcp' as const }, { port: 81 }], data: [{ ipv4: ip }, { port: 80 }] });
    el.apply([dnat('10.9.0.2')]);
    assert.throws(() => el.apply([dnat('10.9.0.3')]), /EEXIST/, 'the same key with other data');
    assert.throws(() => el.apply([{ ...add('x'), table: 'nosuch' }]), /NFT_FAILED|ENOENT/);
    assert.throws(() => el.apply([add('a-name-longer-than-15')]), (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_INVALID_ELEMENT');
  } finally {
    el.close();
    l.close();
  }
});

test('the firewall falls back to its text path when the fast one refuses (table deleted from outside)', () => {
  const l = lab(true);
  try {
    inNs(l.ns.name, 'nft', ['delete', 'table', 'bridge', 'switchyard']);
    l.fw.allowEndpointSources(ENDPOINTS[1]!); // the text path recreates the table with the elements
    assert.match(listing(l.ns), /"syvbbbbbbbbbb" \. 02:42:ac:11:00:03 \. 10\.1\.0\.3/);
    // A stale DNAT key with other data: the text path removes it and adds the new one.
    l.fw.addPorts([{ ...PORTS[0]!, containerIp: '10.1.0.99' }]);
    const stale: string[] = [];
    l.fw.addPorts([PORTS[0]!], (what) => stale.push(what));
    assert.deepEqual(stale, ['tcp *:8080']);
    assert.match(listing(l.ns), /tcp \. 8080 : 10\.1\.0\.2 \. 80/);
  } finally {
    l.close();
  }
});

test('concatenated keys pad every part to 4 bytes; single keys are their own length', () => {
  assert.equal(encodeValue([{ ifname: 'eth0' }]).length, 16);
  assert.deepEqual([...encodeValue([{ proto: 'udp' }, { port: 53 }])], [17, 0, 0, 0, 0, 53, 0, 0]);
  assert.equal(encodeValue([{ ifname: 'x' }, { ether: '02:00:00:00:00:01' }, { ipv6: '::1' }]).length, 16 + 8 + 16);
  assert.deepEqual([...encodeValue([{ port: 8080 }])], [0x1f, 0x90]);
});

test('an rtnetlink batch runs every request in order, tolerates listed errnos, and reports the first other failure', () => {
  const ns = makeNs('nlb');
  const rt = Rtnl.open(ns.path);
  try {
    rt.createLink('bridge', { name: 'syb0' });
    const index = withNetns(ns.path, () => ifNameToIndex('syb0'));
    rt.batch((b) => b.addAddress(index, '10.77.0.1/24').setUp(index).addRoute({ dst: '10.78.0.0/24', gateway: '10.77.0.2', oif: index }));
    assert.match(inNs(ns.name, 'ip', ['route', 'show', '10.78.0.0/24']).stdout, /via 10\.77\.0\.2 dev syb0/);
    // Again: the address is there (EEXIST tolerated), the route replaced, a missing neighbour's delete tolerated.
    rt.batch((b) => b.addAddress(index, '10.77.0.1/24').addRoute({ dst: '10.78.0.0/24', gateway: '10.77.0.2', oif: index }).deleteNeighbour({ index, ip: '10.77.0.9', mac: '02:00:00:00:00:09' }));
    // A failing request in the middle: the ones after it still ran, and its error is thrown.
    assert.throws(
      () => rt.batch((b) => b.addRoute({ dst: '10.79.0.0/24', gateway: '10.99.0.1', oif: index }).addAddress(index, '10.77.0.5/24')),
      (e: unknown) => e instanceof SwitchyardError && /add route 10\.79\.0\.0\/24/.test(e.message),
    );
    assert.match(inNs(ns.name, 'ip', ['-4', 'addr', 'show', 'dev', 'syb0']).stdout, /10\.77\.0\.5\/24/);
  } finally {
    rt.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});

test('hasTable asks the kernel for one table; the firewall watchdog check (complete) uses it', () => {
  const l = lab(true);
  const el = NftElements.open(l.ns.path);
  try {
    assert.equal(el.hasTable('inet', 'switchyard'), true);
    assert.equal(el.hasTable('bridge', 'switchyard'), true);
    assert.equal(el.hasTable('inet', 'nosuch'), false);
    assert.equal(l.fw.complete(), true);
    inNs(l.ns.name, 'nft', ['delete', 'table', 'bridge', 'switchyard']);
    assert.equal(el.hasTable('bridge', 'switchyard'), false);
    assert.equal(l.fw.complete(), false);
    // The text path agrees (a firewall without the fast path).
    assert.equal(new Firewall(l.nft).complete(), false);
  } finally {
    el.close();
    l.close();
  }
});
