/**
 * Text ↔ wire bytes for the addresses netlink carries: IPv4/IPv6 addresses, CIDR
 * prefixes and MAC addresses. Pure. The kernel wants raw network-order bytes
 * (struct in_addr / in6_addr, 6-byte lladdr); users and the model speak text.
 */
import { invalid } from '../../errors.js';

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** 4 or 16 bytes, network order. */
  addr: Buffer;
  prefixLen: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** 4 or 16 bytes for an IP address in text form; null when the text is not an address. */
export function tryIpToBytes(text: string): Buffer | null {
  if (IPV4.test(text)) return Buffer.from(text.split('.').map(Number));
  if (text.includes(':')) return ipv6ToBytes(text);
  return null;
}

export function ipToBytes(text: string, field = 'address'): Buffer {
  const b = tryIpToBytes(text);
  if (!b) throw invalid('INVALID_IP', `${field}: "${text}" is not an IPv4 or IPv6 address`, field);
  return b;
}

export function ipFamily(bytes: Buffer): IpFamily {
  return bytes.length === 4 ? 4 : 6;
}

/** IPv6 text (RFC 4291 §2.2, including "::" and a trailing dotted quad) to 16 bytes. */
function ipv6ToBytes(text: string): Buffer | null {
  if (text.length > 45 || /[^0-9a-fA-F:.]/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        if (!IPV4.test(p)) return null;
        const q = p.split('.').map(Number);
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

/** Text form of 4 or 16 address bytes; IPv6 in RFC 5952 canonical form. */
export function bytesToIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw invalid('INVALID_IP', `address of ${b.length} bytes is neither IPv4 nor IPv6`, 'address');
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** "10.0.0.1/24" or "fd00::1/64"; the address part keeps its host bits. */
export function parseCidr(text: string, field = 'cidr'): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw invalid('INVALID_CIDR', `${field}: "${text}" has no "/prefix-length"`, field);
  const addr = tryIpToBytes(text.slice(0, slash));
  if (!addr) throw invalid('INVALID_CIDR', `${field}: "${text}" does not start with an IPv4 or IPv6 address`, field);
  const lenText = text.slice(slash + 1);
  const prefixLen = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  const max = addr.length * 8;
  if (!(prefixLen >= 0 && prefixLen <= max)) {
    throw invalid('INVALID_CIDR', `${field}: prefix length in "${text}" must be 0-${max}`, field);
  }
  return { family: ipFamily(addr), addr, prefixLen };
}

export function formatCidr(addr: Buffer, prefixLen: number): string {
  return `${bytesToIp(addr)}/${prefixLen}`;
}

/** IPv4 directed broadcast of a prefix (host bits all ones), as `ip addr add … brd +` computes. */
export function ipv4Broadcast(addr: Buffer, prefixLen: number): Buffer {
  const host = prefixLen === 0 ? 0xffffffff : (2 ** (32 - prefixLen) - 1);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((addr.readUInt32BE(0) | host) >>> 0, 0);
  return b;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function macToBytes(text: string, field = 'mac'): Buffer {
  if (!MAC.test(text)) throw invalid('INVALID_MAC', `${field}: "${text}" is not a MAC address like 02:42:ac:11:00:02`, field);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function bytesToMac(b: Buffer): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * A random unicast, locally administered MAC (IEEE 802: bit 0 of the first octet
 * clear = unicast, bit 1 set = locally administered). `random` supplies 6 bytes.
 */
export function localMac(random: Buffer): string {
  const b = Buffer.from(random.subarray(0, 6));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return bytesToMac(b);
}
