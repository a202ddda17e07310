import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IFINFOMSG_LEN, NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI, NLM_F_REQUEST,
  NetlinkError, RTM_NEWLINK, align4, attr, decodeHeader, decodeIfAddr, decodeIfInfo, decodeNdMsg, decodeRtMsg,
  encodeIfAddr, encodeIfInfo, encodeMessage, encodeNdMsg, encodeRtMsg, errnoKind, nestedAttr, parseAttrList, parseAttrs,
  parseDonePayload, parseErrorPayload, readStr, readU32, splitMessages, strAttr, u16Attr, u32Attr, u8Attr,
} from '../../src/kernel/netlink/message.js';
import {
  bytesToIp, bytesToMac, ipToBytes, ipv4Broadcast, localMac, macToBytes, parseCidr, tryIpToBytes,
} from '../../src/kernel/netlink/address-codec.js';
import { macvlanInfoData, vethMessage, vxlanInfoData } from '../../src/kernel/netlink/links.js';
import { sysctlPath } from '../../src/kernel/sysctl.js';

test('rtattr: rta_len counts the unpadded payload, the buffer is padded to 4', () => {
  for (const [payloadLen, total] of [[0, 4], [1, 8], [3, 8], [4, 8], [5, 12]] as const) {
    const a = attr(7, Buffer.alloc(payloadLen, 0xab));
    assert.equal(a.length, total, `payload ${payloadLen}`);
    assert.equal(a.readUInt16LE(0), 4 + payloadLen);
    assert.equal(a.readUInt16LE(2), 7);
    assert.ok(a.subarray(4 + payloadLen).every((b) => b === 0), 'padding is zero');
  }
  assert.equal(align4(13), 16);
  assert.equal(align4(16), 16);
});

test('rtattr: typed encoders round-trip through parseAttrs', () => {
  const buf = Buffer.concat([u8Attr(1, 0xfe), u16Attr(2, 0xbeef), u32Attr(3, 0xdeadbeef), strAttr(4, 'eth0')]);
  const a = parseAttrs(buf);
  assert.equal(a.get(1)!.readUInt8(0), 0xfe);
  assert.equal(a.get(2)!.readUInt16LE(0), 0xbeef);
  assert.equal(readU32(a.get(3)), 0xdeadbeef);
  assert.equal(readStr(a.get(4)), 'eth0');
  assert.equal(a.get(4)!.length, 5, 'strings carry their NUL');
});

test('rtattr: nested attributes keep alignment and the NLA_F_NESTED flag is masked on parse', () => {
  const inner = [strAttr(1, 'abc'), u8Attr(2, 1)]; // 8 + 8 bytes
  const outer = nestedAttr(18 | NLA_F_NESTED, inner);
  assert.equal(outer.readUInt16LE(0), 4 + 16);
  const [top] = parseAttrList(outer);
  assert.equal(top!.type, 18);
  const kids = parseAttrs(top!.value);
  assert.equal(readStr(kids.get(1)), 'abc');
  assert.equal(kids.get(2)![0], 1);
});

test('repeated attribute types are all kept by parseAttrList', () => {
  const list = parseAttrList(Buffer.concat([u32Attr(5, 1), u32Attr(5, 2)]));
  assert.deepEqual(list.map((a) => a.value.readUInt32LE(0)), [1, 2]);
});

test('nlmsghdr: length, type, flags and seq are encoded in host order', () => {
  const m = encodeMessage({ type: RTM_NEWLINK, flags: NLM_F_REQUEST, seq: 42 }, [encodeIfInfo({ index: 3 }), strAttr(3, 'x')]);
  const h = decodeHeader(m);
  assert.deepEqual(h, { len: m.length, type: RTM_NEWLINK, flags: NLM_F_REQUEST, seq: 42, pid: 0 });
  assert.equal(m.length, 16 + 16 + 8);
  assert.equal(m.length % 4, 0);
});

test('family headers round-trip', () => {
  const ifi = { family: 7, type: 1, index: 42, flags: 0x1043, change: 0xffffffff };
  assert.deepEqual(decodeIfInfo(encodeIfInfo(ifi)), ifi);
  assert.equal(encodeIfInfo(ifi).length, IFINFOMSG_LEN);
  const ifa = { family: 10, prefixLen: 64, flags: 2, scope: 253, index: 9 };
  assert.deepEqual(decodeIfAddr(encodeIfAddr(ifa)), ifa);
  const rt = { family: 2, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 3, scope: 253, type: 1, flags: 0x200 };
  assert.deepEqual(decodeRtMsg(encodeRtMsg(rt)), rt);
  const nd = { family: 7, index: 5, state: 0x80, flags: 2, type: 0 };
  assert.deepEqual(decodeNdMsg(encodeNdMsg(nd)), nd);
});

test('a multipart datagram splits into aligned messages', () => {
  const a = encodeMessage({ type: RTM_NEWLINK, flags: NLM_F_MULTI, seq: 7 }, [encodeIfInfo({ index: 1 }), strAttr(3, 'lo')]);
  const b = encodeMessage({ type: RTM_NEWLINK, flags: NLM_F_MULTI, seq: 7 }, [encodeIfInfo({ index: 2 }), strAttr(3, 'eth0')]);
  const done = encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 7 }, [Buffer.alloc(4)]);
  const msgs = splitMessages(Buffer.concat([a, b, done]));
  assert.deepEqual(msgs.map((m) => m.header.type), [RTM_NEWLINK, RTM_NEWLINK, NLMSG_DONE]);
  assert.deepEqual(msgs.slice(0, 2).map((m) => decodeIfInfo(m.payload).index), [1, 2]);
  assert.equal(readStr(parseAttrs(msgs[1]!.payload.subarray(IFINFOMSG_LEN)).get(3)), 'eth0');
  assert.deepEqual(msgs[1]!.raw, b);
  assert.deepEqual(parseDonePayload(msgs[2]!.payload, msgs[2]!.header.flags), { errno: 0 });
});

test('a message claiming more bytes than the datagram holds is rejected', () => {
  const m = encodeMessage({ type: RTM_NEWLINK, flags: 0 }, [Buffer.alloc(8)]);
  m.writeUInt32LE(200, 0);
  assert.throws(() => splitMessages(m), /NETLINK_MALFORMED|claims 200 bytes/);
});

/** What the kernel sends with NETLINK_EXT_ACK + NETLINK_CAP_ACK (net/netlink/af_netlink.c, netlink_ack). */
function kernelError(errno: number, text?: string, capped = true): { payload: Buffer; flags: number } {
  const request = encodeMessage({ type: RTM_NEWLINK, flags: NLM_F_REQUEST, seq: 9 }, [encodeIfInfo({})]);
  const echoed = capped ? request.subarray(0, 16) : request;
  const status = Buffer.alloc(4);
  status.writeInt32LE(-errno, 0);
  const tlvs = text ? strAttr(1 /* NLMSGERR_ATTR_MSG */, text) : Buffer.alloc(0);
  const flags = (capped ? NLM_F_CAPPED : 0) | (text ? NLM_F_ACK_TLVS : 0);
  return { payload: Buffer.concat([status, echoed, tlvs]), flags };
}

test('NLMSG_ERROR: errno and the ext-ack text, with capped or full echo', () => {
  for (const capped of [true, false]) {
    const e = kernelError(22, 'Invalid MTU', capped);
    assert.deepEqual(parseErrorPayload(e.payload, e.flags), { errno: 22, extAck: 'Invalid MTU' });
  }
  const ack = kernelError(0);
  assert.deepEqual(parseErrorPayload(ack.payload, ack.flags), { errno: 0 });
  const plain = kernelError(17);
  assert.deepEqual(parseErrorPayload(plain.payload, plain.flags), { errno: 17 });
});

test('NLMSG_DONE carrying a dump error', () => {
  const status = Buffer.alloc(4);
  status.writeInt32LE(-95, 0);
  const r = parseDonePayload(Buffer.concat([status, strAttr(1, 'nope')]), NLM_F_ACK_TLVS);
  assert.deepEqual(r, { errno: 95, extAck: 'nope' });
  assert.equal(NLMSG_ERROR, 2);
});

test('errno → kind and code', () => {
  const table: [number, string, string][] = [
    [17, 'conflict', 'NETLINK_EEXIST'], [19, 'not-found', 'NETLINK_ENODEV'], [3, 'not-found', 'NETLINK_ESRCH'],
    [2, 'not-found', 'NETLINK_ENOENT'], [22, 'invalid', 'NETLINK_EINVAL'], [34, 'invalid', 'NETLINK_ERANGE'],
    [95, 'internal', 'NETLINK_EOPNOTSUPP'], [1, 'forbidden', 'NETLINK_EPERM'], [4095, 'internal', 'NETLINK_ERRNO_4095'],
  ];
  for (const [errno, kind, code] of table) {
    const e = new NetlinkError('create bridge sybr0', { errno, extAck: 'why' });
    assert.equal(errnoKind(errno), kind);
    assert.equal(e.kind, kind, `errno ${errno}`);
    assert.equal(e.code, code);
    assert.equal(e.errno, errno);
    assert.match(e.message, /^create bridge sybr0: .*: why$/);
  }
});

test('IP text ↔ bytes, IPv6 in RFC 5952 form', () => {
  const cases: [string, string][] = [
    ['10.1.2.3', '10.1.2.3'], ['0.0.0.0', '0.0.0.0'], ['::', '::'], ['::1', '::1'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::0:1', '2001:db8::1'], ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'], ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['fe80::', 'fe80::'],
  ];
  for (const [input, canonical] of cases) assert.equal(bytesToIp(ipToBytes(input)), canonical, input);
  for (const bad of ['1.2.3', '256.1.1.1', '01.1.1.1', '1::2::3', '1:2:3:4:5:6:7:8:9', 'fd00::g', '', 'eth0', '1:2:3:4:5:6:7::8']) {
    assert.equal(tryIpToBytes(bad), null, bad);
  }
  assert.throws(() => ipToBytes('nope', 'gateway'), (e: { code: string; field: string }) => e.code === 'INVALID_IP' && e.field === 'gateway');
});

test('CIDR parsing and IPv4 broadcast', () => {
  const c = parseCidr('10.88.0.2/24');
  assert.equal(c.family, 4);
  assert.equal(c.prefixLen, 24);
  assert.equal(bytesToIp(ipv4Broadcast(c.addr, 24)), '10.88.0.255');
  assert.equal(bytesToIp(ipv4Broadcast(ipToBytes('10.0.0.0'), 0)), '255.255.255.255');
  assert.equal(bytesToIp(ipv4Broadcast(ipToBytes('172.16.5.1'), 12)), '172.31.255.255');
  assert.equal(parseCidr('fd00::1/128').prefixLen, 128);
  for (const bad of ['10.0.0.1', '10.0.0.1/33', 'fd00::/129', '10.0.0.1/-1', 'x/8', '10.0.0.1/']) {
    assert.throws(() => parseCidr(bad), { code: 'INVALID_CIDR' }, bad);
  }
});

test('MAC text ↔ bytes and locally administered generation', () => {
  assert.equal(bytesToMac(macToBytes('02:42:AC:11:00:02')), '02:42:ac:11:00:02');
  assert.throws(() => macToBytes('02:42:ac:11:00'), { code: 'INVALID_MAC' });
  const mac = macToBytes(localMac(Buffer.from([0xff, 1, 2, 3, 4, 5])));
  assert.equal(mac[0]! & 0x01, 0, 'unicast');
  assert.equal(mac[0]! & 0x02, 2, 'locally administered');
  assert.equal(localMac(Buffer.from([0x00, 1, 2, 3, 4, 5])), '02:01:02:03:04:05');
});

test('veth request: one RTM_NEWLINK with the peer inside VETH_INFO_PEER, host side with master and up', () => {
  const msg = vethMessage({ name: 'syv1', mtu: 1400, master: 5, up: true, peer: { name: 'eth0', nsFd: 33, mac: '02:00:00:00:00:09' } });
  const [m] = splitMessages(msg);
  assert.equal(m!.header.type, RTM_NEWLINK);
  const ifi = decodeIfInfo(m!.payload);
  assert.equal(ifi.flags & 1, 1, 'host end up');
  assert.equal(ifi.change & 1, 1);
  const top = parseAttrs(m!.payload.subarray(IFINFOMSG_LEN));
  assert.equal(readStr(top.get(3)), 'syv1');
  assert.equal(readU32(top.get(10)), 5, 'IFLA_MASTER');
  assert.equal(readU32(top.get(4)), 1400);
  const info = parseAttrs(top.get(18)!);
  assert.equal(readStr(info.get(1)), 'veth');
  const peerBlob = parseAttrs(info.get(2)!).get(1)!; // IFLA_INFO_DATA → VETH_INFO_PEER
  assert.equal(decodeIfInfo(peerBlob).flags, 0, 'peer is brought up after creation (ENOTCONN otherwise)');
  const peer = parseAttrs(peerBlob.subarray(IFINFOMSG_LEN));
  assert.equal(readStr(peer.get(3)), 'eth0');
  assert.equal(peer.get(28)!.readInt32LE(0), 33, 'IFLA_NET_NS_FD');
  assert.equal(bytesToMac(peer.get(1)!), '02:00:00:00:00:09');
  assert.equal(readU32(peer.get(4)), 1400, 'peer inherits the MTU');
});

test('veth request validates names and MTUs with the field', () => {
  assert.throws(() => vethMessage({ name: 'a-very-long-name0', peer: { name: 'eth0' } }), { code: 'INVALID_IFNAME', field: 'link.name' });
  assert.throws(() => vethMessage({ name: 'syv1', peer: { name: 'eth/0' } }), { code: 'INVALID_IFNAME', field: 'peer.name' });
  assert.throws(() => vethMessage({ name: 'syv1', mtu: 20, peer: { name: 'eth0' } }), { code: 'INVALID_MTU', field: 'link.mtu' });
});

test('vxlan and macvlan IFLA_INFO_DATA', () => {
  const v = parseAttrs(vxlanInfoData({ id: 42, local: ipToBytes('10.253.0.1'), port: 4789, learning: false, link: 3 }));
  assert.equal(readU32(v.get(1)), 42);
  assert.equal(bytesToIp(v.get(4)!), '10.253.0.1');
  assert.equal(v.get(15)!.readUInt16BE(0), 4789, 'port in network order');
  assert.equal(v.get(7)![0], 0);
  assert.equal(readU32(v.get(3)), 3);
  const v6 = parseAttrs(vxlanInfoData({ id: 1, local: ipToBytes('fd00::1') }));
  assert.ok(v6.has(17) && !v6.has(4), 'IFLA_VXLAN_LOCAL6 for IPv6');
  assert.throws(() => vxlanInfoData({ id: 1 << 24 }), { code: 'INVALID_VNI' });
  assert.equal(readU32(parseAttrs(macvlanInfoData({ mode: 'bridge' })).get(1)), 4);
});

test('sysctl keys: dotted and path-array forms', () => {
  assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
  assert.equal(sysctlPath(['net', 'ipv6', 'conf', 'eth0.10', 'accept_ra']), '/proc/sys/net/ipv6/conf/eth0.10/accept_ra');
  for (const bad of ['', 'net..ipv4', 'net/ipv4', ['net', '..', 'x'], []]) {
    assert.throws(() => sysctlPath(bad as string), { code: 'INVALID_SYSCTL_KEY' });
  }
});
