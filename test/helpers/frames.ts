/**
 * Hand-made Ethernet frames for the firewall's frame-level tests, built byte by byte here
 * (VLAN tags, ARP probes, IPv4/IPv6 datagrams from any source, MLD reports) and sent as
 * they are on a packet socket (python3 AF_PACKET, as ipv6-frames.ts does), so nothing in
 * the sender's kernel (source selection, neighbour discovery, VLAN devices) gets in the
 * way. Checksums are correct, so a receiver that gets a frame accepts it.
 */
import { tryParseIp } from '../../src/model/ip.js';
import { inNs } from './netns.js';

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';
export const ETH = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd, vlan: 0x8100 } as const;

export const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');

export function ipBytes(text: string): Buffer {
  const a = tryParseIp(text);
  if (!a) throw new Error(`not an address: ${text}`);
  return Buffer.from(a.value.toString(16).padStart(a.family === 4 ? 8 : 32, '0'), 'hex');
}

const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 255, n & 255]);
const u32 = (n: number): Buffer => Buffer.from([(n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255]);

/** The Internet checksum (RFC 1071). */
export function checksum(data: Buffer): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) + (data[i + 1] ?? 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame; `vlan` adds an 802.1Q tag (VID 0 = priority-tagged). */
export function ether(dst: string, src: string, type: number, payload: Buffer, vlan?: { vid: number; pcp?: number }): Buffer {
  const tag = vlan ? Buffer.concat([u16(ETH.vlan), u16(((vlan.pcp ?? 0) << 13) | vlan.vid)]) : Buffer.alloc(0);
  return Buffer.concat([macBytes(dst), macBytes(src), tag, u16(type), payload]);
}

/** An Ethernet/IPv4 ARP packet (RFC 826): op 1 request, 2 reply. */
export function arp(op: 1 | 2, senderMac: string, senderIp: string, targetMac: string, targetIp: string): Buffer {
  return Buffer.concat([u16(1), u16(ETH.ip), Buffer.from([6, 4]), u16(op), macBytes(senderMac), ipBytes(senderIp), macBytes(targetMac), ipBytes(targetIp)]);
}

/** An IPv4 UDP datagram (no options, DF off, TTL 64). */
export function ipv4Udp(src: string, dst: string, dport: number, data: Buffer): Buffer {
  const udpLen = 8 + data.length;
  const pseudo = Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, 17]), u16(udpLen)]);
  const udp0 = Buffer.concat([u16(40000), u16(dport), u16(udpLen), u16(0), data]);
  const udp = Buffer.concat([udp0.subarray(0, 6), u16(checksum(Buffer.concat([pseudo, udp0])) || 0xffff), data]);
  const hdr0 = Buffer.concat([Buffer.from([0x45, 0]), u16(20 + udpLen), u16(1), u16(0), Buffer.from([64, 17]), u16(0), ipBytes(src), ipBytes(dst)]);
  const hdr = Buffer.concat([hdr0.subarray(0, 10), u16(checksum(hdr0)), hdr0.subarray(12)]);
  return Buffer.concat([hdr, udp]);
}

/** An IPv6 packet carrying `upper` (protocol `nh`), with optional extension headers before it; the upper checksum at `csumAt` is filled in. */
function ipv6(src: string, dst: string, nh: number, upper: Buffer, csumAt: number, o: { hop?: number; ext?: { nh: number; bytes: Buffer } } = {}): Buffer {
  const pseudo = Buffer.concat([ipBytes(src), ipBytes(dst), u32(upper.length), Buffer.from([0, 0, 0, nh])]);
  const c = checksum(Buffer.concat([pseudo, upper]));
  const body = Buffer.concat([upper.subarray(0, csumAt), u16(nh === 17 ? c || 0xffff : c), upper.subarray(csumAt + 2)]);
  const ext = o.ext ? o.ext.bytes : Buffer.alloc(0);
  const first = o.ext ? o.ext.nh : nh;
  return Buffer.concat([u32(6 << 28), u16(ext.length + body.length), Buffer.from([first, o.hop ?? 64]), ipBytes(src), ipBytes(dst), ext, body]);
}

/** An IPv6 UDP datagram from any source. */
export function ipv6Udp(src: string, dst: string, dport: number, data: Buffer): Buffer {
  return ipv6(src, dst, 17, Buffer.concat([u16(40000), u16(dport), u16(8 + data.length), u16(0), data]), 6);
}

/** A DAD probe (RFC 4862 §5.4.2): a neighbour solicitation from :: for `target`, to its solicited-node group. */
export function dadProbe(target: string): { packet: Buffer; dstMac: string } {
  const t = ipBytes(target);
  const group = `ff02::1:ff${t.subarray(13).toString('hex').replace(/^(..)(....)$/, '$1:$2')}`;
  const upper = Buffer.concat([Buffer.from([135, 0, 0, 0]), u32(0), t]);
  return { packet: ipv6('::', group, 58, upper, 2, { hop: 255 }), dstMac: `33:33:ff:${[...t.subarray(13)].map((b) => b.toString(16).padStart(2, '0')).join(':')}` };
}

/** An MLDv2 report (RFC 3810 §5.2) from ::, no records, with its hop-by-hop router alert, to ff02::16. */
export function mld2Report(): { packet: Buffer; dstMac: string } {
  const hbh = Buffer.from([58, 0, 5, 2, 0, 0, 1, 0]); // next header ICMPv6; router alert (MLD); PadN
  const upper = Buffer.concat([Buffer.from([143, 0, 0, 0]), u16(0), u16(0)]);
  return { packet: ipv6('::', 'ff02::16', 58, upper, 2, { hop: 1, ext: { nh: 0, bytes: hbh } }), dstMac: '33:33:00:00:00:16' };
}

const SEND = `
import socket, sys, select, time
ifname, frames, match, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
for f in frames.split(","):
    try:
        s.send(bytes.fromhex(f))
    except OSError as e:
        # ENOBUFS: an egress hook on the interface dropped it (an overlay direct port's check).
        if e.errno != 105: raise
if match:
    conds = [(int(o), bytes.fromhex(h)) for o, h in (c.split(":") for c in match.split(";"))]
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.time()))
        if not r:
            break
        pkt, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if all(pkt[o:o + len(h)] == h for o, h in conds):
            print("matched")
            break
`;

/**
 * Sends `frames` on `ifname` inside namespace `ns`; with `expect`, then waits up to
 * `timeoutMs` for a received frame holding those bytes at those offsets. True when one came.
 */
export function sendFrames(ns: string, ifname: string, frames: Buffer[], expect?: { at: [number, Buffer][]; timeoutMs?: number }): boolean {
  const match = expect ? expect.at.map(([o, b]) => `${o}:${b.toString('hex')}`).join(';') : '';
  const r = inNs(ns, 'python3', ['-c', SEND, ifname, frames.map((f) => f.toString('hex')).join(','), match, String((expect?.timeoutMs ?? 1000) / 1000)]);
  return r.stdout.includes('matched');
}

const ALL_NODES_IP = 'ff02::1';

/** A neighbour advertisement (RFC 4861 §4.4): override flag, `target`, and its target link-layer address option. */
export function neighbourAdvert(src: string, dst: string, target: string, mac: string): Buffer {
  const upper = Buffer.concat([Buffer.from([136, 0, 0, 0]), u32(0x20000000), ipBytes(target), Buffer.from([2, 1]), macBytes(mac)]);
  return ipv6(src, dst, 58, upper, 2, { hop: 255 });
}

/** A neighbour solicitation (RFC 4861 §4.3) from `src` for `target`, to its solicited-node group, with the source link-layer address option. */
export function neighbourSolicit(src: string, target: string, mac: string): { packet: Buffer; dstMac: string } {
  const { dstMac } = dadProbe(target);
  const t = ipBytes(target);
  const group = `ff02::1:ff${t.subarray(13).toString('hex').replace(/^(..)(....)$/, '$1:$2')}`;
  const upper = Buffer.concat([Buffer.from([135, 0, 0, 0]), u32(0), t, Buffer.from([1, 1]), macBytes(mac)]);
  return { packet: ipv6(src, group, 58, upper, 2, { hop: 255 }), dstMac };
}

/** A router advertisement (RFC 4861 §4.2) offering a default route for `lifetime` seconds, with the source link-layer address option. */
export function routerAdvert(src: string, mac: string, lifetime = 1800): Buffer {
  const upper = Buffer.concat([Buffer.from([134, 0, 0, 0, 64, 0]), u16(lifetime), u32(0), u32(0), Buffer.from([1, 1]), macBytes(mac)]);
  return ipv6(src, ALL_NODES_IP, 58, upper, 2, { hop: 255 });
}

/** One frame for sendRawFrames: its bytes, the protocol the socket names for it, whether it skips the qdisc layer. */
export interface RawFrame {
  bytes: Buffer;
  /** sll_protocol for sendto (becomes skb->protocol); absent: the socket's ETH_P_ALL, which the kernel replaces by the frame's EtherType. */
  protocol?: number;
  /** PACKET_QDISC_BYPASS (SOL_PACKET 263, option 20): the frame goes straight to the driver (dev_direct_xmit). */
  bypass?: boolean;
}

const SEND_RAW = `
import socket, sys, json
ifname, frames = sys.argv[1], json.loads(sys.argv[2])
plain = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
plain.bind((ifname, 0))
bypass = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
bypass.setsockopt(263, 20, 1)
bypass.bind((ifname, 0))
out = []
for f in frames:
    s = bypass if f["bypass"] else plain
    try:
        if f["protocol"]:
            s.sendto(bytes.fromhex(f["hex"]), (ifname, f["protocol"]))
        else:
            s.send(bytes.fromhex(f["hex"]))
        out.append("sent")
    except OSError as e:
        out.append(e.strerror or str(e.errno))
print(json.dumps(out))
`;

/**
 * Sends each frame on `ifname` inside namespace `ns` from a packet socket, in order, and
 * returns what each send() said: "sent", or the error (a drop by an egress hook is reported
 * to the sender as "No buffer space available"). Unlike sendFrames, a refused frame does not
 * stop the ones after it.
 */
export function sendRawFrames(ns: string, ifname: string, frames: RawFrame[]): string[] {
  const spec = frames.map((f) => ({ hex: f.bytes.toString('hex'), protocol: f.protocol ?? 0, bypass: f.bypass ?? false }));
  const r = inNs(ns, 'python3', ['-c', SEND_RAW, ifname, JSON.stringify(spec)]);
  return JSON.parse(r.stdout) as string[];
}
