/**
 * The hot path: an A or AAAA question for a name the directory knows, answered straight
 * from the query bytes, without building dns-packet objects (a full decode + encode costs
 * ~2.8 µs, a third of the per-query budget at 90k q/s on the target box; docs/DNS.md).
 *
 * It only takes the plain case: one question, QTYPE A/AAAA, QCLASS IN, a name of ordinary
 * host-name bytes, no records but an optional trailing OPT, an answer that fits the
 * client's limit. Everything else returns null and goes through resolveQuery (answer.ts),
 * whose output this must match byte for byte in meaning (test/unit/dns-fast-answer.test.ts).
 */
import { isIPv4 } from 'node:net';
import type { DnsDirectory } from './types.js';
import { ADVERTISED_UDP_SIZE, CLASSIC_UDP_LIMIT, HEADER_BYTES } from './wire.js';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_OPT = 41;
const CLASS_IN = 1;
const OPT_RR_BYTES = 11;
/** Each answer: pointer to the question name (0xC00C), TYPE, CLASS, TTL, RDLENGTH (RFC 1035 §4.1.3, §4.1.4). */
const ANSWER_FIXED_BYTES = 12;

export interface FastAnswerContext {
  directory: DnsDirectory;
  sandboxId: string;
  transport: 'udp' | 'tcp';
  rotation: number;
  ttl: number;
}

/** The encoded answer, or null when the query needs the general path. */
export function fastAnswer(msg: Buffer, ctx: FastAnswerContext): Buffer | null {
  if (msg.length < HEADER_BYTES + 5) return null;
  // QR=0, OPCODE=0 (byte 2 bits 7..3); QDCOUNT=1, ANCOUNT=0, NSCOUNT=0, ARCOUNT≤1.
  if ((msg[2]! & 0xf8) !== 0 || msg.readUInt16BE(4) !== 1 || msg.readUInt32BE(6) !== 0) return null;
  const arcount = msg.readUInt16BE(10);
  if (arcount > 1) return null;

  const name = readHostName(msg);
  if (name === null) return null;
  const qnameEnd = HEADER_BYTES + wireNameLength(name);
  const qtype = msg.readUInt16BE(qnameEnd);
  if ((qtype !== TYPE_A && qtype !== TYPE_AAAA) || msg.readUInt16BE(qnameEnd + 2) !== CLASS_IN) return null;
  const qEnd = qnameEnd + 4;

  let limit = ctx.transport === 'tcp' ? 65535 : CLASSIC_UDP_LIMIT;
  if (arcount === 1) {
    // The only extra record we take is an OPT with the root name, ending the message.
    if (msg.length < qEnd + OPT_RR_BYTES || msg[qEnd] !== 0 || msg.readUInt16BE(qEnd + 1) !== TYPE_OPT) return null;
    if (msg.length !== qEnd + OPT_RR_BYTES + msg.readUInt16BE(qEnd + 9)) return null;
    if (ctx.transport === 'udp') limit = Math.max(CLASSIC_UDP_LIMIT, msg.readUInt16BE(qEnd + 3));
  } else if (msg.length !== qEnd) {
    return null;
  }

  const known = ctx.directory.lookup(ctx.sandboxId, name);
  if (known === null) return null;
  const addrs = qtype === TYPE_A ? known.v4 : known.v6;
  const rdlen = qtype === TYPE_A ? 4 : 16;
  const n = addrs.length;
  const size = qEnd + n * (ANSWER_FIXED_BYTES + rdlen) + (arcount ? OPT_RR_BYTES : 0);
  if (size > limit) return null; // truncation is the general path's job

  const out = Buffer.allocUnsafe(size);
  msg.copy(out, 0, 0, qEnd);
  out[2] = 0x84 | (msg[2]! & 0x01); // QR, AA, RD as asked
  out[3] = 0x80; // RA, NOERROR
  out.writeUInt16BE(n, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(arcount, 10);
  let off = qEnd;
  for (let i = 0; i < n; i++) {
    out.writeUInt16BE(0xc00c, off);
    out.writeUInt16BE(qtype, off + 2);
    out.writeUInt16BE(CLASS_IN, off + 4);
    out.writeUInt32BE(ctx.ttl, off + 6);
    out.writeUInt16BE(rdlen, off + 10);
    if (!writeAddress(addrs[(ctx.rotation + i) % n]!, qtype, out, off + 12)) return null;
    off += ANSWER_FIXED_BYTES + rdlen;
  }
  if (arcount) {
    out[off] = 0;
    out.writeUInt16BE(TYPE_OPT, off + 1);
    out.writeUInt16BE(ADVERTISED_UDP_SIZE, off + 3);
    out.writeUInt32BE(0, off + 5); // extended RCODE, version 0, no DO
    out.writeUInt16BE(0, off + 9);
  }
  return out;
}

/**
 * The question name, lower-cased, without the trailing dot, when it is made of host-name
 * bytes only (letters, digits, '-', '_'); null for anything else (escapes, pointers, root).
 */
function readHostName(msg: Buffer): string | null {
  let off = HEADER_BYTES;
  let name = '';
  for (;;) {
    const len = msg[off];
    if (len === undefined || len > 63) return null;
    if (len === 0) break;
    if (off + 1 + len >= msg.length) return null;
    for (let i = off + 1; i <= off + len; i++) {
      const c = msg[i]!;
      const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || (c >= 0x41 && c <= 0x5a);
      if (!ok) return null;
    }
    const label = msg.toString('latin1', off + 1, off + 1 + len);
    name = name ? `${name}.${label}` : label;
    off += 1 + len;
  }
  if (!name || off + 5 > msg.length) return null;
  return name.toLowerCase();
}

/** Bytes the name takes on the wire: one length byte per label, the labels, the root byte. */
function wireNameLength(name: string): number {
  return name.length + 2;
}

function writeAddress(ip: string, qtype: number, out: Buffer, off: number): boolean {
  if (qtype === TYPE_A) return writeV4(ip, out, off);
  const bytes = v6Bytes(ip);
  if (!bytes) return false;
  bytes.copy(out, off);
  return true;
}

function writeV4(ip: string, out: Buffer, off: number): boolean {
  let octet = 0;
  let digits = 0;
  let k = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || k === 3) return false;
      out[off + k++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) return false;
    } else {
      return false;
    }
  }
  if (k !== 3 || digits === 0) return false;
  out[off + 3] = octet;
  return true;
}

/** IPv6 text → 16 bytes, memoised (a sandbox's addresses repeat across queries). */
const v6Cache = new Map<string, Buffer | null>();
const V6_CACHE_MAX = 4096;

function v6Bytes(ip: string): Buffer | null {
  let b = v6Cache.get(ip);
  if (b !== undefined) return b;
  b = parseV6(ip);
  if (v6Cache.size >= V6_CACHE_MAX) v6Cache.clear();
  v6Cache.set(ip, b);
  return b;
}

function parseV6(ip: string): Buffer | null {
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (!s) return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        if (!isIPv4(p)) return null;
        const o = p.split('.').map(Number);
        out.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}
