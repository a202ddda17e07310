/**
 * The link kinds the drivers create (macvlan, vxlan; ipvlan, 802.1q and dummy are in
 * test/vm/ because this kernel lacks them), created directly inside target namespaces
 * with name, MTU, MAC and alias, decoded back, and carrying real traffic. Static FDB and
 * neighbour entries for a vxlan with learning off, with a control: without the entries
 * the ping fails. Every test runs in throwaway namespaces and ends with a leak check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { inNs, linksIn, type TestNs } from '../helpers/netns.js';
import { withNamespaces, withNsFd, withRtnl } from '../helpers/ns-scope.js';

/** Real ICMP from inside `from` (iputils ping); `tries` echo requests, 1 s each. */
function pings(from: TestNs, to: string, tries = 3): boolean {
  return inNs(from.name, 'ping', ['-c', '1', '-W', '1', to], { allowFail: true }).status === 0
    || (tries > 1 && pings(from, to, tries - 1));
}

/** A veth parent in `host` (both ends up, so it has carrier) and one macvlan child per sandbox. */
function macvlanPair(host: TestNs, sandboxes: TestNs[], mode: 'bridge' | 'private'): number {
  return withRtnl(host, (rt) => {
    const { index: parent } = rt.createVeth({ name: 'syp0', up: true, peer: { name: 'syp0p', up: true } });
    sandboxes.forEach((sb, i) => {
      withNsFd(sb, (nsFd) => rt.createTypedLink({
        kind: 'macvlan', parent, mode, name: 'eth0', nsFd, up: true, mtu: 1400,
        mac: `02:42:0a:62:00:0${i + 1}`, alias: `switchyard:test-macvlan-${i}`,
      }));
      withRtnl(sb, (s) => s.addAddress(s.getLink('eth0')!.index, `10.98.0.${i + 1}/24`));
    });
    return parent;
  });
}

test('macvlan bridge mode: children of one veth parent, made inside two namespaces, ping each other; decoded back', async () => {
  await withNamespaces(['mvh', 'mva', 'mvb'], ([host, a, b]) => {
    const parent = macvlanPair(host!, [a!, b!], 'bridge');
    assert.ok(pings(a!, '10.98.0.2'), 'a → b over macvlan bridge mode');
    const eth0 = withRtnl(a!, (rt) => rt.getLink('eth0'))!;
    assert.equal(eth0.kind, 'macvlan');
    assert.deepEqual(eth0.data, { kind: 'macvlan', mode: 'bridge' });
    assert.equal(eth0.mac, '02:42:0a:62:00:01');
    assert.equal(eth0.mtu, 1400);
    assert.equal(eth0.alias, 'switchyard:test-macvlan-0');
    assert.equal(eth0.link, parent, 'the parent index, in the parent namespace');
    assert.ok(eth0.netnsId !== undefined, 'the parent is in another namespace (IFLA_LINK_NETNSID)');
    assert.ok(withRtnl(b!, (rt) => rt.listLinks()).some((l) => l.name === 'eth0' && l.data?.kind === 'macvlan' && l.alias === 'switchyard:test-macvlan-1'));
    // The same, seen by iproute2 (an independent decoder).
    const shown = JSON.parse(inNs(a!.name, 'ip', ['-j', '-d', 'link', 'show', 'eth0']).stdout)[0];
    assert.equal(shown.linkinfo.info_data.mode, 'bridge');
    assert.equal(shown.ifalias, 'switchyard:test-macvlan-0');
  });
});

test('macvlan private mode: the same two children cannot reach each other (control: bridge mode above can)', async () => {
  await withNamespaces(['mph', 'mpa', 'mpb'], ([host, a, b]) => {
    macvlanPair(host!, [a!, b!], 'private');
    assert.deepEqual(withRtnl(a!, (rt) => rt.getLink('eth0'))?.data, { kind: 'macvlan', mode: 'private' });
    assert.equal(pings(a!, '10.98.0.2', 2), false, 'private mode isolates children of one parent');
  });
});

test('createTypedLink: bad input names the field; an existing name is LINK_EXISTS; a failed alias leaves nothing', async () => {
  await withNamespaces(['tlv'], ([host]) => withRtnl(host!, (rt) => {
    const { index: parent } = rt.createVeth({ name: 'syp0', peer: { name: 'syp0p' } });
    const fieldOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof SwitchyardError, String(err));
        return `${err.code}:${(err as SwitchyardError & { field?: string }).field ?? err.message}`;
      }
      return undefined;
    };
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'macvlan', parent, mode: 'nope' as 'bridge', name: 'sym0' }))!, /INVALID_MACVLAN_MODE/);
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'macvlan', parent: 0, mode: 'bridge', name: 'sym0' }))!, /INVALID_IFINDEX/);
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'vlan', parent, id: 4095, name: 'sym0' }))!, /INVALID_VLAN_ID/);
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'vxlan', vni: 1 << 24, name: 'sym0' }))!, /INVALID_VNI/);
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'macvlan', parent, mode: 'bridge', name: 'sym0', alias: 'x'.repeat(256) }))!, /INVALID_IFALIAS/);
    rt.createTypedLink({ kind: 'macvlan', parent, mode: 'vepa', name: 'sym0', alias: 'switchyard:a' });
    assert.match(fieldOf(() => rt.createTypedLink({ kind: 'macvlan', parent, mode: 'vepa', name: 'sym0' }))!, /LINK_EXISTS/);
    assert.deepEqual(rt.getLink('sym0')?.data, { kind: 'macvlan', mode: 'vepa' });
    rt.deleteLink('sym0');
    assert.deepEqual(linksIn(host!.name).sort(), ['lo', 'syp0', 'syp0p']);
  }));
});

test('vxlan with learning off: static FDB and neighbour entries carry a ping across a veth underlay; without them it fails', async () => {
  await withNamespaces(['vxa', 'vxb'], ([a, b]) => {
    const side = [
      { ns: a!, under: '10.99.0.1', overlay: '10.200.0.1', mac: '02:42:0a:c8:00:01' },
      { ns: b!, under: '10.99.0.2', overlay: '10.200.0.2', mac: '02:42:0a:c8:00:02' },
    ];
    // Underlay: one veth, the peer made directly in b.
    withRtnl(a!, (rt) => withNsFd(b!, (nsFd) => rt.createVeth({ name: 'syu0', up: true, peer: { name: 'syu0', nsFd, up: true } })));
    const vx = side.map((s) => withRtnl(s.ns, (rt) => {
      const under = rt.getLink('syu0')!.index;
      rt.addAddress(under, `${s.under}/24`);
      const { index } = rt.createTypedLink({
        kind: 'vxlan', vni: 4242, local: s.under, underlay: under, port: 4789, name: 'syvx0', mtu: 1450, mac: s.mac,
        alias: 'switchyard:test-overlay', up: true,
      });
      rt.addAddress(index, `${s.overlay}/24`);
      return index;
    }));
    const shownA = withRtnl(a!, (rt) => rt.getLink('syvx0'))!;
    assert.deepEqual(shownA.data, { kind: 'vxlan', vni: 4242, local: '10.99.0.1', port: 4789, learning: false, underlay: withRtnl(a!, (rt) => rt.getLink('syu0')!.index) });
    assert.equal(shownA.alias, 'switchyard:test-overlay');
    assert.equal(shownA.mtu, 1450);
    const entries = (i: number) => {
      const remote = side[1 - i]!;
      return {
        bum: { index: vx[i]!, mac: '00:00:00:00:00:00', dst: remote.under },
        mac: { index: vx[i]!, mac: remote.mac, dst: remote.under },
        neigh: { index: vx[i]!, ip: remote.overlay, mac: remote.mac },
      };
    };
    side.forEach((s, i) => withRtnl(s.ns, (rt) => {
      const e = entries(i);
      for (let k = 0; k < 2; k++) { // the second round: already there = success
        rt.ensureFdb(e.bum);
        rt.ensureFdb(e.mac);
        rt.ensureNeighbour(e.neigh);
      }
    }));
    const fdbA = inNs(a!.name, 'bridge', ['fdb', 'show', 'dev', 'syvx0']).stdout;
    assert.match(fdbA, /00:00:00:00:00:00 dst 10\.99\.0\.2 self permanent/);
    assert.match(fdbA, /02:42:0a:c8:00:02 dst 10\.99\.0\.2 self permanent/);
    assert.equal(fdbA.split('\n').filter((l) => l.includes('dst 10.99.0.2')).length, 2, 'ensureFdb twice made no duplicate');
    assert.match(inNs(a!.name, 'ip', ['neigh', 'show', 'dev', 'syvx0']).stdout, /10\.200\.0\.2 lladdr 02:42:0a:c8:00:02 PERMANENT/);

    assert.ok(pings(a!, '10.200.0.2'), 'a → b across the vxlan');

    // Control: without a's FDB entries the encapsulated packet has nowhere to go.
    withRtnl(a!, (rt) => {
      const e = entries(0);
      for (let k = 0; k < 2; k++) { // the second round: already gone = success
        rt.deleteFdb(e.mac);
        rt.deleteFdb(e.bum);
      }
    });
    assert.doesNotMatch(inNs(a!.name, 'bridge', ['fdb', 'show', 'dev', 'syvx0']).stdout, /dst 10\.99\.0\.2/);
    assert.equal(pings(a!, '10.200.0.2', 2), false, 'no FDB entry, learning off: no way across');
    const fdbB = inNs(b!.name, 'bridge', ['fdb', 'show', 'dev', 'syvx0']).stdout;
    assert.equal(fdbB.split('\n').filter((l) => l.includes('02:42:0a:c8:00:01') && !l.includes('dst 10.99.0.1 self permanent')).length, 0, `b learnt nothing: ${fdbB}`);

    withRtnl(a!, (rt) => {
      rt.deleteNeighbour(entries(0).neigh);
      rt.deleteNeighbour(entries(0).neigh); // already gone
    });
    assert.doesNotMatch(inNs(a!.name, 'ip', ['neigh', 'show', 'dev', 'syvx0']).stdout, /PERMANENT/);
  });
});

test('vxlan made directly inside another namespace keeps its socket and underlay in the creating one (the overlay layout)', async () => {
  await withNamespaces(['vya', 'vyb', 'vyo'], ([a, b, overlay]) => {
    // a ⇄ b underlay; a's vxlan in a itself, b's vxlan created from b straight into `overlay`.
    withRtnl(a!, (rt) => withNsFd(b!, (nsFd) => rt.createVeth({ name: 'syu0', up: true, peer: { name: 'syu0', nsFd, up: true } })));
    const under = [a!, b!].map((ns, i) => withRtnl(ns, (rt) => {
      const index = rt.getLink('syu0')!.index;
      rt.addAddress(index, `10.99.1.${i + 1}/24`);
      return index;
    }));
    const mac = ['02:42:0a:c9:00:01', '02:42:0a:c9:00:02'];
    withRtnl(a!, (rt) => {
      const { index } = rt.createTypedLink({ kind: 'vxlan', vni: 77, local: '10.99.1.1', underlay: under[0]!, port: 4789, name: 'syvx0', mac: mac[0], up: true });
      rt.addAddress(index, '10.201.0.1/24');
      rt.ensureFdb({ index, mac: '00:00:00:00:00:00', dst: '10.99.1.2' });
      rt.ensureNeighbour({ index, ip: '10.201.0.2', mac: mac[1]! });
    });
    const made = withRtnl(b!, (rt) => withNsFd(overlay!, (nsFd) => rt.createTypedLink({
      kind: 'vxlan', vni: 77, local: '10.99.1.2', underlay: under[1]!, port: 4789, name: 'vxlan0', mac: mac[1], alias: 'switchyard:overlay', nsFd, up: true,
    })));
    assert.equal(made.index, 0, 'no index in the creating namespace');
    assert.deepEqual(linksIn(b!.name).sort(), ['lo', 'syu0'], 'nothing named vxlan0 stayed in b');
    withRtnl(overlay!, (rt) => {
      const vx = rt.getLink('vxlan0')!;
      assert.equal(vx.alias, 'switchyard:overlay');
      assert.equal(vx.data?.kind === 'vxlan' && vx.data.vni, 77);
      rt.addAddress(vx.index, '10.201.0.2/24');
      rt.ensureFdb({ index: vx.index, mac: '00:00:00:00:00:00', dst: '10.99.1.1' });
      rt.ensureNeighbour({ index: vx.index, ip: '10.201.0.1', mac: mac[0]! });
    });
    assert.ok(pings(a!, '10.201.0.2'), 'a → the overlay namespace, encapsulated over b\'s underlay');
    // Control: the underlay namespace b has no route into 10.201.0.0/24: only the tunnel does.
    assert.equal(pings(b!, '10.201.0.2', 1), false);
  });
});
