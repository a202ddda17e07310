/**
 * Byte-level facts about DNS messages (RFC 1035 §4.1) that the hot paths need without a
 * full decode: the header bits, a header-only error answer, the question's extent.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** RFC 1035 §4.2.1: without EDNS a UDP message is at most 512 bytes. */
export const CLASSIC_UDP_LIMIT = 512;
/** What we advertise in our own OPT records: the DNS-flag-day 2020 size that avoids IP fragmentation. */
export const ADVERTISED_UDP_SIZE = 1232;
export const HEADER_BYTES = 12;

const QR = 0x80; // byte 2
const OPCODE_MASK = 0x78; // byte 2
const TC = 0x02; // byte 2
const RD = 0x01; // byte 2
const RA = 0x80; // byte 3

export function messageId(msg: Buffer): number {
  return msg.readUInt16BE(0);
}
export function isResponse(msg: Buffer): boolean {
  return (msg[2]! & QR) !== 0;
}
export function isTruncated(msg: Buffer): boolean {
  return (msg[2]! & TC) !== 0;
}
export function rcodeOf(msg: Buffer): number {
  return msg[3]! & 0x0f;
}

/**
 * Offset just past the first question (QNAME QTYPE QCLASS), or -1 when the message has no
 * complete question. Labels are walked; a compression pointer ends the name (RFC 1035 §4.1.4).
 */
export function firstQuestionEnd(msg: Buffer): number {
  if (msg.length < HEADER_BYTES || msg.readUInt16BE(4) === 0) return -1;
  let off = HEADER_BYTES;
  for (;;) {
    if (off >= msg.length) return -1;
    const len = msg[off]!;
    if (len === 0) { off += 1; break; }
    if ((len & 0xc0) === 0xc0) { off += 2; break; }
    if (len & 0xc0) return -1;
    off += 1 + len;
  }
  return off + 4 <= msg.length ? off + 4 : -1;
}

/**
 * Whether `reply` carries the same single question as `query` (RFC 5452 §9.1): same QNAME
 * (ASCII case-insensitive, as resolvers that randomise case expect), QTYPE and QCLASS. Both
 * must hold exactly one question written without compression, as a query's is.
 */
export function sameQuestion(query: Buffer, reply: Buffer): boolean {
  const end = firstQuestionEnd(query);
  if (end < 0 || reply.length < end || reply.readUInt16BE(4) !== 1 || query.readUInt16BE(4) !== 1) return false;
  if (firstQuestionEnd(reply) !== end) return false;
  const nameEnd = end - 4;
  for (let i = HEADER_BYTES; i < nameEnd; i++) {
    let a = query[i]!;
    let b = reply[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return query.compare(reply, nameEnd, end, nameEnd, end) === 0;
}

/**
 * A header-only-plus-question answer with `rcode`, built from the raw query so that even
 * a message we cannot decode gets an answer (FORMERR, SERVFAIL, REFUSED) instead of a
 * client timeout. Returns null when the input is not even a header.
 */
export function rcodeResponse(query: Buffer, rcode: number): Buffer | null {
  if (query.length < HEADER_BYTES) return null;
  const qEnd = firstQuestionEnd(query);
  const out = Buffer.allocUnsafe(qEnd > 0 ? qEnd : HEADER_BYTES);
  query.copy(out, 0, 0, out.length);
  out[2] = QR | (query[2]! & (OPCODE_MASK | RD));
  out[3] = RA | (rcode & 0x0f);
  out.writeUInt16BE(qEnd > 0 ? 1 : 0, 4);
  out.writeUInt32BE(0, 6); // ANCOUNT, NSCOUNT
  out.writeUInt16BE(0, 10); // ARCOUNT
  return out;
}
