/**
 * Link kinds this machine's kernel lacks (ipvlan, 802.1q, dummy), on Debian 12's stock
 * kernel inside the VM lane (`npm run test:vm`, see docs/TESTING.md). Outside the VM every
 * test skips with the reason; inside it (SWY_KVM_GUEST=1) none may skip: scripts/test-vm.mjs
 * fails the lane if one does. Same rules as test/integration: throwaway namespaces, real
 * traffic, a control for each isolation claim, a leak check at the end of each test.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpvlanFlag, IpvlanMode } from '../../src/kernel/netlink/index.js';
import { SOCK_CLOEXEC, SOCK_RAW, bind, close, pollIn, recv, socket } from '../../src/kernel/libc.js';
import { warmThreadpool, withNetns } from '../../src/kernel/netns.js';
import { inNs, linksIn, type TestNs } from '../helpers/netns.js';
import { withNamespaces, withNsFd, withRtnl } from '../helpers/ns-scope.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with ipvlan, 8021q and dummy: run `npm run test:vm` (SWY_KVM_GUEST is unset)';

before(async () => {
  if (IN_VM) await warmThreadpool();
});

/** Real ICMP from inside `from` (iputils ping); `tries` echo requests, 2 s each (TCG is slow). */
function pings(from: TestNs, to: string, tries = 3): boolean {
  return inNs(from.name, 'ping', ['-c', '1', '-W', '2', to], { allowFail: true }).status === 0
    || (tries > 1 && pings(from, to, tries - 1));
}

/** A dummy parent in `host`, one `kind` child made directly inside each sandbox, addressed 10.<net>.0.<i+1>/24. */
function childrenOnDummy(host: TestNs, sandboxes: TestNs[], net: number, child: (parent: number) =>
  { kind: 'ipvlan'; mode: IpvlanMode; flag?: IpvlanFlag } | { kind: 'macvlan'; mode: 'bridge' }): { parentMac: string } {
  return withRtnl(host, (rt) => {
    const { index: parent } = rt.createTypedLink({ kind: 'dummy', name: 'sydm0', up: true, alias: 'switchyard:test-parent' });
    sandboxes.forEach((sb, i) => {
      withNsFd(sb, (nsFd) => rt.createTypedLink({ ...child(parent), parent, name: 'eth0', nsFd, up: true, alias: `switchyard:test-${i}` }));
      withRtnl(sb, (s) => s.addAddress(s.getLink('eth0')!.index, `10.${net}.0.${i + 1}/24`));
    });
    return { parentMac: rt.getLink(parent)!.mac };
  });
}

for (const mode of ['l2', 'l3', 'l3s'] as const) {
  test(`ipvlan ${mode}: two slaves of one dummy parent, made inside two namespaces, ping; they carry the parent's MAC`, { skip }, async () => {
    await withNamespaces([`i${mode}h`, `i${mode}a`, `i${mode}b`], ([host, a, b]) => {
      const { parentMac } = childrenOnDummy(host!, [a!, b!], 101, () => ({ kind: 'ipvlan', mode }));
      assert.ok(pings(a!, '10.101.0.2'), `a → b over ipvlan ${mode}`);
      for (const sb of [a!, b!]) {
        const eth0 = withRtnl(sb, (rt) => rt.getLink('eth0'))!;
        assert.equal(eth0.kind, 'ipvlan');
        assert.deepEqual(eth0.data, { kind: 'ipvlan', mode, flag: 'bridge' });
        assert.equal(eth0.mac, parentMac, 'an ipvlan slave has its parent\'s MAC');
        assert.match(eth0.alias ?? '', /^switchyard:test-/);
      }
    });
  });
}

test('ipvlan l2 with flag private: the same two slaves cannot reach each other (control: the bridge-flag test above can)', { skip }, async () => {
  await withNamespaces(['iprh', 'ipra', 'iprb'], ([host, a, b]) => {
    childrenOnDummy(host!, [a!, b!], 101, () => ({ kind: 'ipvlan', mode: 'l2', flag: 'private' }));
    assert.deepEqual(withRtnl(a!, (rt) => rt.getLink('eth0'))?.data, { kind: 'ipvlan', mode: 'l2', flag: 'private' });
    assert.equal(pings(a!, '10.101.0.2', 2), false, 'private: no traffic between slaves');
  });
});

test('macvlan bridge mode on a dummy parent: children ping each other and have MACs of their own', { skip }, async () => {
  await withNamespaces(['mdh', 'mda', 'mdb'], ([host, a, b]) => {
    const { parentMac } = childrenOnDummy(host!, [a!, b!], 103, () => ({ kind: 'macvlan', mode: 'bridge' }));
    assert.ok(pings(a!, '10.103.0.2'), 'a → b over macvlan on a dummy');
    const macs = [a!, b!].map((sb) => withRtnl(sb, (rt) => rt.getLink('eth0'))!.mac);
    assert.equal(new Set([parentMac, ...macs]).size, 3, `three distinct MACs: ${parentMac} ${macs.join(' ')}`);
  });
});

test('dummy: created inside a namespace with name, MTU, MAC and alias, decoded, deleted (twice: already gone = success)', { skip }, async () => {
  await withNamespaces(['dmh', 'dma'], ([host, a]) => {
    withRtnl(host!, (rt) => withNsFd(a!, (nsFd) => rt.createTypedLink({
      kind: 'dummy', name: 'sydm1', nsFd, mtu: 9000, mac: '02:00:5e:10:00:01', alias: 'switchyard:dummy', up: true,
    })));
    withRtnl(a!, (rt) => {
      const d = rt.getLink('sydm1')!;
      assert.equal(d.kind, 'dummy');
      assert.equal(d.mtu, 9000);
      assert.equal(d.mac, '02:00:5e:10:00:01');
      assert.equal(d.alias, 'switchyard:dummy');
      assert.equal(d.up, true);
      rt.deleteLink('sydm1');
      rt.deleteLink('sydm1');
      assert.equal(rt.getLink('sydm1'), null);
    });
    assert.deepEqual(linksIn(host!.name), ['lo'], 'nothing was made in the host namespace');
  });
});

/**
 * 802.1Q on the wire: vlan 100 on both ends of a veth trunk carries a ping, and on the
 * receiving end an nftables netdev ingress hook on the trunk counts the frames by their
 * tag (nft rebuilds the offloaded tag for link-layer matches): VID 100 counts, any other
 * VID and untagged IPv4 stay at zero.
 */
test('802.1q: vlan 100 sub-interfaces on both ends of a veth pair ping; the trunk sees VID 100 tags; different VIDs do not meet', { skip }, async () => {
  await withNamespaces(['vla', 'vlb'], ([a, b]) => {
    withRtnl(a!, (rt) => withNsFd(b!, (nsFd) => rt.createVeth({ name: 'sytr0', up: true, peer: { name: 'sytr0', nsFd, up: true } })));
    [a!, b!].forEach((ns, i) => withRtnl(ns, (rt) => {
      const trunk = rt.getLink('sytr0')!.index;
      const { index } = rt.createTypedLink({ kind: 'vlan', parent: trunk, id: 100, name: 'sytr0.100', up: true, alias: 'switchyard:vlan' });
      rt.addAddress(index, `10.102.0.${i + 1}/24`);
      const v = rt.getLink(index)!;
      assert.deepEqual(v.data, { kind: 'vlan', id: 100, protocol: 0x8100 });
      assert.equal(v.link, trunk);
    }));
    inNs(b!.name, 'nft', ['-f', '-'], {
      input: `table netdev swy_vlan {
  chain in { type filter hook ingress device "sytr0" priority 0;
    vlan id 100 counter name vid100
    vlan id != 100 counter name othervid
    ether type ip counter name untagged
  }
  counter vid100 {}
  counter othervid {}
  counter untagged {}
}
`,
    });
    assert.ok(pings(a!, '10.102.0.2'), 'a → b over vlan 100');
    const counters = JSON.parse(inNs(b!.name, 'nft', ['-j', 'list', 'counters', 'table', 'netdev', 'swy_vlan']).stdout).nftables
      .filter((o: { counter?: unknown }) => o.counter).map((o: { counter: { name: string; packets: number } }) => o.counter);
    const packets = Object.fromEntries(counters.map((c: { name: string; packets: number }) => [c.name, c.packets]));
    assert.ok(packets.vid100 >= 2, `tagged frames with VID 100 reached the trunk: ${JSON.stringify(packets)}`);
    assert.equal(packets.othervid, 0);
    assert.equal(packets.untagged, 0, 'nothing crossed the trunk untagged');

    // VIDs separate: vlan 200 on one end, 201 on the other, addressed alike, cannot talk.
    [a!, b!].forEach((ns, i) => withRtnl(ns, (rt) => {
      const { index } = rt.createTypedLink({ kind: 'vlan', parent: rt.getLink('sytr0')!.index, id: 200 + i, name: `sytr0.${200 + i}`, up: true });
      rt.addAddress(index, `10.105.0.${i + 1}/24`);
    }));
    assert.equal(pings(a!, '10.105.0.2', 2), false, 'VID 200 does not reach VID 201');
  });
});

const AF_PACKET = 17;
const ETH_P_ALL = 0x0003;

/**
 * The tag in the frame's own bytes: a packet socket on a dummy trunk (which has no VLAN
 * offload, so the kernel writes the 802.1Q header into the frame before the tap sees it)
 * captures what vlan 100 sends: EtherType 0x8100 at offset 12 and VID 100 in the TCI.
 */
test('802.1q: a packet capture on the trunk shows EtherType 0x8100 with VID 100', { skip }, async () => {
  await withNamespaces(['vlc'], ([h]) => {
    const trunk = withRtnl(h!, (rt) => {
      const { index } = rt.createTypedLink({ kind: 'dummy', name: 'sytr1', up: true });
      const { index: vlan } = rt.createTypedLink({ kind: 'vlan', parent: index, id: 100, name: 'sytr1.100', up: true });
      rt.addAddress(vlan, '10.104.0.1/24');
      return index;
    });
    const fd = withNetns(h!.path, () => socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, ETH_P_ALL << 8));
    try {
      const sll = Buffer.alloc(20);
      sll.writeUInt16LE(AF_PACKET, 0);
      sll.writeUInt16BE(ETH_P_ALL, 2);
      sll.writeInt32LE(trunk, 4);
      bind(fd, sll);
      // A dummy is NOARP (and so is a vlan on it): the echo request goes out at once, tagged.
      inNs(h!.name, 'ping', ['-c', '1', '-W', '1', '10.104.0.2'], { allowFail: true });
      const frame = Buffer.alloc(2048);
      let seen: string | null = null;
      const deadline = Date.now() + 5000;
      while (!seen && Date.now() < deadline && pollIn(fd, 500)) {
        const n = recv(fd, frame);
        // 802.1Q header at 12: TPID, TCI (PCP 3 bits, DEI 1, VID 12), then the inner EtherType.
        if (n < 18 + 20 || frame.readUInt16BE(12) !== 0x8100 || frame.readUInt16BE(16) !== 0x0800) continue;
        const ip = frame.subarray(18);
        seen = `tpid 0x8100 vid ${frame.readUInt16BE(14) & 0x0fff} ipv4 proto ${ip[9]} dst ${[...ip.subarray(16, 20)].join('.')}`;
      }
      assert.equal(seen, 'tpid 0x8100 vid 100 ipv4 proto 1 dst 10.104.0.2', 'the ICMP echo request, tagged with VID 100');
    } finally {
      close(fd);
    }
  });
});
