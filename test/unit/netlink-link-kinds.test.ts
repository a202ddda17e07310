/**
 * The pure side of the typed links (src/kernel/netlink/link-kinds.ts, links.ts
 * typedLinkMessage, neighbours.ts FDB messages): byte layouts checked against
 * linux/if_link.h and linux/neighbour.h, decode(encode(x)) = x, and bad input
 * rejected with a SwitchyardError naming the field, before anything reaches the kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { IFINFOMSG_LEN, RTM_NEWLINK, RTM_SETLINK, decodeIfInfo, parseAttrs, readStr, readU32 } from '../../src/kernel/netlink/message.js';
import {
  ETH_P_8021Q, IPVLAN_FLAG, IPVLAN_MODE, MACVLAN_MODE, decodeKindData, ipvlanInfoData, macvlanInfoData, vlanInfoData, vxlanInfoData,
} from '../../src/kernel/netlink/link-kinds.js';
import { IFLA_IFALIAS, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO, IFLA_NET_NS_FD, aliasMessage, typedLinkMessage } from '../../src/kernel/netlink/links.js';
import { fdbAddMessage, fdbDeleteMessage, fdbReplaceMessage } from '../../src/kernel/netlink/neighbours.js';
import { ipToBytes } from '../../src/kernel/netlink/address-codec.js';

const NLMSG_HDRLEN = 16;

function rejects(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => err instanceof SwitchyardError && err.code === code && err.kind === 'invalid'
    && (err as unknown as { field?: string }).field === field && err.message.length > 0);
}

test('ipvlan: mode and flag are u16 attributes 1 and 2; every mode and flag round-trips', () => {
  for (const mode of Object.keys(IPVLAN_MODE) as (keyof typeof IPVLAN_MODE)[]) {
    for (const flag of Object.keys(IPVLAN_FLAG) as (keyof typeof IPVLAN_FLAG)[]) {
      const data = ipvlanInfoData({ mode, flag });
      const a = parseAttrs(data);
      assert.equal(a.get(1)!.length, 2);
      assert.equal(a.get(1)!.readUInt16LE(0), IPVLAN_MODE[mode]);
      assert.equal(a.get(2)!.readUInt16LE(0), IPVLAN_FLAG[flag]);
      assert.deepEqual(decodeKindData('ipvlan', data), { kind: 'ipvlan', mode, flag });
    }
  }
  assert.deepEqual([IPVLAN_MODE.l2, IPVLAN_MODE.l3, IPVLAN_MODE.l3s], [0, 1, 2]);
  rejects(() => ipvlanInfoData({ mode: 'l4' as 'l2' }), 'INVALID_IPVLAN_MODE', 'mode');
  rejects(() => ipvlanInfoData({ mode: 'l2', flag: 'loud' as 'vepa' }), 'INVALID_IPVLAN_FLAG', 'flag');
});

test('macvlan: every mode round-trips through decodeKindData', () => {
  for (const mode of Object.keys(MACVLAN_MODE) as (keyof typeof MACVLAN_MODE)[]) {
    assert.deepEqual(decodeKindData('macvlan', macvlanInfoData({ mode })), { kind: 'macvlan', mode });
  }
});

test('vlan: id is a u16, the protocol 802.1Q in network byte order; ids 1-4094 only', () => {
  const a = parseAttrs(vlanInfoData({ id: 100 }));
  assert.equal(a.get(1)!.readUInt16LE(0), 100);
  assert.deepEqual([...a.get(5)!.subarray(0, 2)], [0x81, 0x00]);
  assert.deepEqual(decodeKindData('vlan', vlanInfoData({ id: 4094 })), { kind: 'vlan', id: 4094, protocol: ETH_P_8021Q });
  for (const id of [0, 4095, -1, 1.5, Number.NaN]) rejects(() => vlanInfoData({ id }), 'INVALID_VLAN_ID', 'id');
});

test('vxlan: VNI, local, port (big endian), learning and underlay round-trip', () => {
  const data = vxlanInfoData({ id: 0xabcdef, local: ipToBytes('192.0.2.1'), port: 4789, learning: false, link: 7 });
  assert.deepEqual(decodeKindData('vxlan', data), { kind: 'vxlan', vni: 0xabcdef, local: '192.0.2.1', port: 4789, learning: false, underlay: 7 });
  assert.equal((decodeKindData('vxlan', vxlanInfoData({ id: 1, local: ipToBytes('2001:db8::1') })) as { local?: string }).local, '2001:db8::1');
  rejects(() => vxlanInfoData({ id: 1 << 24 }), 'INVALID_VNI', 'id');
  rejects(() => vxlanInfoData({ id: 1, port: 0 }), 'INVALID_VXLAN_PORT', 'port');
  assert.equal(decodeKindData('veth', undefined), undefined);
});

test('typedLinkMessage: kind, IFLA_LINK = parent, IFLA_NET_NS_FD, and vxlan learning off by default', () => {
  const msg = typedLinkMessage({ kind: 'ipvlan', parent: 3, mode: 'l3s', name: 'eth0', nsFd: 9, mtu: 1400 });
  assert.equal(msg.readUInt16LE(4), RTM_NEWLINK);
  const a = parseAttrs(msg.subarray(NLMSG_HDRLEN + IFINFOMSG_LEN));
  assert.equal(readU32(a.get(IFLA_LINK)), 3);
  assert.equal(a.get(IFLA_NET_NS_FD)!.readInt32LE(0), 9);
  assert.equal(a.has(IFLA_IFALIAS), false, 'the alias goes in a separate RTM_SETLINK (the kernel ignores it on create)');
  const li = parseAttrs(a.get(IFLA_LINKINFO)!);
  assert.equal(readStr(li.get(IFLA_INFO_KIND)), 'ipvlan');
  assert.deepEqual(decodeKindData('ipvlan', li.get(IFLA_INFO_DATA)), { kind: 'ipvlan', mode: 'l3s', flag: undefined });

  const vx = parseAttrs(parseAttrs(typedLinkMessage({ kind: 'vxlan', vni: 5, name: 'vx0' }).subarray(NLMSG_HDRLEN + IFINFOMSG_LEN)).get(IFLA_LINKINFO)!);
  assert.deepEqual(decodeKindData('vxlan', vx.get(IFLA_INFO_DATA)), { kind: 'vxlan', vni: 5, local: undefined, port: undefined, learning: false, underlay: undefined });
  const dummy = parseAttrs(parseAttrs(typedLinkMessage({ kind: 'dummy', name: 'd0' }).subarray(NLMSG_HDRLEN + IFINFOMSG_LEN)).get(IFLA_LINKINFO)!);
  assert.equal(dummy.has(IFLA_INFO_DATA), false);

  rejects(() => typedLinkMessage({ kind: 'vlan', parent: 0, id: 5, name: 'v' }), 'INVALID_IFINDEX', 'parent');
  rejects(() => typedLinkMessage({ kind: 'vxlan', vni: 5, underlay: -1, name: 'v' }), 'INVALID_IFINDEX', 'underlay');
  rejects(() => typedLinkMessage({ kind: 'vxlan', vni: 5, local: '1.2.3', name: 'v' }), 'INVALID_IP', 'local');
  rejects(() => typedLinkMessage({ kind: 'dummy', name: 'far-too-long-name' }), 'INVALID_IFNAME', 'link.name');
  rejects(() => typedLinkMessage({ kind: 'dummy', name: 'd0', alias: 'a'.repeat(256) }), 'INVALID_IFALIAS', 'alias');
  rejects(() => typedLinkMessage({ kind: 'ipvlan', parent: 2, mode: 'l2', name: 'i0', mac: '02:00:00:00:00:01' }), 'INVALID_MAC', 'mac');
});

test('aliasMessage: RTM_SETLINK by index with IFLA_IFALIAS', () => {
  const msg = aliasMessage(12, 'switchyard:net1');
  assert.equal(msg.readUInt16LE(4), RTM_SETLINK);
  assert.equal(decodeIfInfo(msg.subarray(NLMSG_HDRLEN)).index, 12);
  assert.equal(readStr(parseAttrs(msg.subarray(NLMSG_HDRLEN + IFINFOMSG_LEN)).get(IFLA_IFALIAS)), 'switchyard:net1');
});

test('FDB messages: AF_BRIDGE, NUD_PERMANENT, NTF_SELF, APPEND|CREATE without EXCL (so re-adding is harmless)', () => {
  const add = fdbAddMessage({ index: 4, mac: '00:00:00:00:00:00', dst: '192.0.2.2' });
  const flags = add.readUInt16LE(6);
  assert.equal(flags & 0x800, 0x800, 'NLM_F_APPEND');
  assert.equal(flags & 0x400, 0x400, 'NLM_F_CREATE');
  assert.equal(flags & 0x200, 0, 'no NLM_F_EXCL');
  const nd = add.subarray(NLMSG_HDRLEN);
  assert.equal(nd.readUInt8(0), 7, 'AF_BRIDGE');
  assert.equal(nd.readInt32LE(4), 4);
  assert.equal(nd.readUInt16LE(8), 0x80, 'NUD_PERMANENT');
  assert.equal(nd.readUInt8(10), 0x02, 'NTF_SELF');
  assert.equal(fdbDeleteMessage({ index: 4, mac: '00:00:00:00:00:00', dst: '192.0.2.2' }).readUInt16LE(4), 29, 'RTM_DELNEIGH');
});

test('fdbReplaceMessage: REPLACE|CREATE without APPEND or EXCL (a MAC moved to another VTEP in one step), AF_BRIDGE, permanent, self', () => {
  const msg = fdbReplaceMessage({ index: 9, mac: '02:42:0a:00:00:05', dst: '192.0.2.7' });
  assert.equal(msg.readUInt16LE(4), 28, 'RTM_NEWNEIGH');
  const flags = msg.readUInt16LE(6);
  assert.equal(flags & 0x100, 0x100, 'NLM_F_REPLACE');
  assert.equal(flags & 0x400, 0x400, 'NLM_F_CREATE');
  assert.equal(flags & 0x800, 0, 'no NLM_F_APPEND');
  assert.equal(flags & 0x200, 0, 'no NLM_F_EXCL');
  const nd = msg.subarray(NLMSG_HDRLEN);
  assert.equal(nd.readUInt8(0), 7, 'AF_BRIDGE');
  assert.equal(nd.readInt32LE(4), 9);
  assert.equal(nd.readUInt16LE(8), 0x80, 'NUD_PERMANENT');
  assert.equal(nd.readUInt8(10), 0x02, 'NTF_SELF');
});
