/**
 * Hand-made IPv6 frames for the anti-spoofing tests: a neighbour advertisement with any
 * target, a router advertisement, or a UDP datagram with any source, sent as one raw Ethernet frame (python3,
 * AF_PACKET) so that nothing in the sender's kernel (source selection, neighbour
 * discovery) gets in the way. Checksums are correct, so a receiver that gets the frame
 * accepts it (RFC 4861 §7.1.2 validity: hop limit 255, code 0, not solicited when sent to
 * multicast).
 */

/** argv: ifname src_mac dst_mac src_ip6 dst_ip6 kind arg, kind = "na" (arg: target), "ra" (arg: router lifetime, s) or "udp" (arg: port:payload). */
const SCRIPT = `
import socket, struct, sys
ifname, smac, dmac, src, dst, kind, arg = sys.argv[1:8]
mac = lambda m: bytes.fromhex(m.replace(":", ""))
a6 = lambda a: socket.inet_pton(socket.AF_INET6, a)
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
if kind == "na":
    # Type 136, code 0, flags: override only (unsolicited), target, option 2 (target link-layer address) = our MAC.
    body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + a6(arg) + b"\\x02\\x01" + mac(smac)
    nh, hop, at = 58, 255, 2
elif kind == "ra":
    # Type 134, code 0, no hop limit advice, no flags, router lifetime, no reachable/retrans advice, option 1 (source link-layer address).
    body = struct.pack("!BBHBBHII", 134, 0, 0, 0, 0, int(arg), 0, 0) + b"\x01\x01" + mac(smac)
    nh, hop, at = 58, 255, 2
else:
    port, payload = arg.split(":", 1)
    data = payload.encode() + b"\\n"
    body = struct.pack("!HHHH", 40000, int(port), 8 + len(data), 0) + data
    nh, hop, at = 17, 64, 6
c = csum(a6(src) + a6(dst) + struct.pack("!I3xB", len(body), nh) + body)
body = body[:at] + struct.pack("!H", c) + body[at + 2:]
ip6 = struct.pack("!IHBB", 6 << 28, len(body), nh, hop) + a6(src) + a6(dst)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
try:
    s.send(mac(dmac) + mac(smac) + b"\\x86\\xdd" + ip6 + body)
except OSError as e:
    # ENOBUFS: an egress hook on the interface dropped it (an overlay direct port's check).
    if e.errno != 105: raise
`;

/** The all-nodes multicast group and its Ethernet address (RFC 2464 §7). */
export const ALL_NODES = { ip: 'ff02::1', mac: '33:33:00:00:00:01' };

export interface Ipv6Frame {
  ifname: string;
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
}

/** `python3 …` argv for an unsolicited, overriding neighbour advertisement for `target`. */
export function naArgs(f: Ipv6Frame, target: string): string[] {
  return ['-c', SCRIPT, f.ifname, f.srcMac, f.dstMac, f.src, f.dst, 'na', target];
}

/** `python3 …` argv for one UDP datagram carrying `payload` (plus a newline) to `port`. */
export function udpArgs(f: Ipv6Frame, port: number, payload: string): string[] {
  return ['-c', SCRIPT, f.ifname, f.srcMac, f.dstMac, f.src, f.dst, 'udp', `${port}:${payload}`];
}

/** `python3 …` argv for a router advertisement offering a default route for `lifetime` seconds. */
export function raArgs(f: Ipv6Frame, lifetime = 1800): string[] {
  return ['-c', SCRIPT, f.ifname, f.srcMac, f.dstMac, f.src, f.dst, 'ra', String(lifetime)];
}
