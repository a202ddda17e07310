/**
 * Netlink framing, pure Buffer work (no I/O).
 *
 * A message is a 16-byte nlmsghdr, a fixed family header (ifinfomsg, ifaddrmsg, rtmsg,
 * ndmsg) and a run of rtattrs, each 4-byte aligned (NLMSG_ALIGN / RTA_ALIGN). Integers
 * are in host byte order (little-endian on every platform Switchyard targets), except
 * where an attribute says "network order" (ports, addresses).
 * See https://docs.kernel.org/userspace-api/netlink/intro.html and rtnetlink(7).
 */
import { SwitchyardError, type ErrorKind } from '../../errors.js';

// linux/netlink.h
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
/** On a dump part: the set changed while it was dumped (retry for a consistent view). */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** On NLMSG_ERROR: the echoed request was cut to its header (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** On NLMSG_ERROR / NLMSG_DONE: extended-ack TLVs follow (NETLINK_EXT_ACK). */
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;

// linux/rtnetlink.h message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

export const NLMSG_HDRLEN = 16;

export const align4 = (n: number): number => (n + 3) & ~3;

export interface NlHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NlMessage {
  header: NlHeader;
  /** Everything after the nlmsghdr, up to nlmsg_len. */
  payload: Buffer;
  /** The whole message, header included. */
  raw: Buffer;
}

/** One message: nlmsghdr + the (already aligned) body parts. */
export function encodeMessage(h: { type: number; flags: number; seq?: number; pid?: number }, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts.map(pad4));
  const msg = Buffer.alloc(NLMSG_HDRLEN + body.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(h.type, 4);
  msg.writeUInt16LE(h.flags, 6);
  msg.writeUInt32LE(h.seq ?? 0, 8);
  msg.writeUInt32LE(h.pid ?? 0, 12);
  body.copy(msg, NLMSG_HDRLEN);
  return msg;
}

export function decodeHeader(buf: Buffer, off = 0): NlHeader {
  return {
    len: buf.readUInt32LE(off),
    type: buf.readUInt16LE(off + 4),
    flags: buf.readUInt16LE(off + 6),
    seq: buf.readUInt32LE(off + 8),
    pid: buf.readUInt32LE(off + 12),
  };
}

/** Splits one datagram into its messages (a multipart dump packs several per recv). */
export function splitMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const header = decodeHeader(buf, off);
    if (header.len < NLMSG_HDRLEN || off + header.len > buf.length) {
      throw new SwitchyardError('internal', 'NETLINK_MALFORMED', `netlink message at offset ${off} claims ${header.len} bytes, ${buf.length - off} left`);
    }
    out.push({ header, payload: buf.subarray(off + NLMSG_HDRLEN, off + header.len), raw: buf.subarray(off, off + header.len) });
    off += align4(header.len);
  }
  return out;
}

// ---- rtattr ----

function pad4(b: Buffer): Buffer {
  const n = align4(b.length);
  return n === b.length ? b : Buffer.concat([b, Buffer.alloc(n - b.length)]);
}

/** One rtattr: rta_len counts header + payload (unpadded); the result is padded to 4. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  if (len > 0xffff) throw new SwitchyardError('invalid', 'NETLINK_ATTR_TOO_LONG', `netlink attribute ${type} is ${len} bytes (max 65535)`);
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
export const u8Attr = (type: number, v: number): Buffer => attr(type, Buffer.from([v & 0xff]));
export function u16Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v, 0);
  return attr(type, b);
}
/** u16 in network order (e.g. IFLA_VXLAN_PORT). */
export function be16Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return attr(type, b);
}
export function u32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return attr(type, b);
}
export function s32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return attr(type, b);
}
/** NUL-terminated string (NLA_STRING / NLA_NUL_STRING both accept it). */
export const strAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`, 'utf8'));
/** A nested attribute; pass NLA_F_NESTED in `type` where the kernel insists on it. */
export const nestedAttr = (type: number, children: Buffer[]): Buffer => attr(type, Buffer.concat(children.map(pad4)));

export interface RtAttr {
  /** Type with NLA_F_NESTED / NLA_F_NET_BYTEORDER masked off. */
  type: number;
  value: Buffer;
}

/** All attributes in order (repeated types kept). */
export function parseAttrList(buf: Buffer): RtAttr[] {
  const out: RtAttr[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break; // truncated tail: the kernel never sends one
    out.push({ type: buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, value: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (last one wins). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  return new Map(parseAttrList(buf).map((a) => [a.type, a.value]));
}

export const readU8 = (v: Buffer | undefined): number | undefined => (v && v.length >= 1 ? v.readUInt8(0) : undefined);
export const readU16 = (v: Buffer | undefined): number | undefined => (v && v.length >= 2 ? v.readUInt16LE(0) : undefined);
export const readU32 = (v: Buffer | undefined): number | undefined => (v && v.length >= 4 ? v.readUInt32LE(0) : undefined);
export const readS32 = (v: Buffer | undefined): number | undefined => (v && v.length >= 4 ? v.readInt32LE(0) : undefined);
export function readStr(v: Buffer | undefined): string | undefined {
  if (!v) return undefined;
  const nul = v.indexOf(0);
  return v.toString('utf8', 0, nul < 0 ? v.length : nul);
}

// ---- family headers ----

/** struct ifinfomsg (16 bytes). */
export interface IfInfoMsg {
  family: number;
  type: number;
  index: number;
  flags: number;
  change: number;
}
export const IFINFOMSG_LEN = 16;
export function encodeIfInfo(m: Partial<IfInfoMsg>): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? 0, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((m.change ?? 0) >>> 0, 12);
  return b;
}
export function decodeIfInfo(p: Buffer): IfInfoMsg {
  return { family: p.readUInt8(0), type: p.readUInt16LE(2), index: p.readInt32LE(4), flags: p.readUInt32LE(8), change: p.readUInt32LE(12) };
}

/** struct ifaddrmsg (8 bytes). */
export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  flags: number;
  scope: number;
  index: number;
}
export const IFADDRMSG_LEN = 8;
export function encodeIfAddr(m: Partial<IfAddrMsg>): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(m.family ?? 0, 0);
  b.writeUInt8(m.prefixLen ?? 0, 1);
  b.writeUInt8(m.flags ?? 0, 2);
  b.writeUInt8(m.scope ?? 0, 3);
  b.writeUInt32LE(m.index ?? 0, 4);
  return b;
}
export function decodeIfAddr(p: Buffer): IfAddrMsg {
  return { family: p.readUInt8(0), prefixLen: p.readUInt8(1), flags: p.readUInt8(2), scope: p.readUInt8(3), index: p.readUInt32LE(4) };
}

/** struct rtmsg (12 bytes). */
export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}
export const RTMSG_LEN = 12;
export function encodeRtMsg(m: Partial<RtMsg>): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  [m.family, m.dstLen, m.srcLen, m.tos, m.table, m.protocol, m.scope, m.type].forEach((v, i) => b.writeUInt8(v ?? 0, i));
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  return b;
}
export function decodeRtMsg(p: Buffer): RtMsg {
  return {
    family: p[0]!, dstLen: p[1]!, srcLen: p[2]!, tos: p[3]!, table: p[4]!, protocol: p[5]!, scope: p[6]!, type: p[7]!,
    flags: p.readUInt32LE(8),
  };
}

/** struct ndmsg (12 bytes). */
export interface NdMsg {
  family: number;
  index: number;
  state: number;
  flags: number;
  type: number;
}
export const NDMSG_LEN = 12;
export function encodeNdMsg(m: Partial<NdMsg>): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b.writeUInt8(m.family ?? 0, 0);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt16LE(m.state ?? 0, 8);
  b.writeUInt8(m.flags ?? 0, 10);
  b.writeUInt8(m.type ?? 0, 11);
  return b;
}
export function decodeNdMsg(p: Buffer): NdMsg {
  return { family: p[0]!, index: p.readInt32LE(4), state: p.readUInt16LE(8), flags: p[10]!, type: p[11]! };
}

// ---- errors ----

export interface NlErrorReply {
  /** Positive errno; 0 for a plain ACK. */
  errno: number;
  /** NLMSGERR_ATTR_MSG, the kernel's human-readable reason, when it gave one. */
  extAck?: string;
}

/**
 * Payload of NLMSG_ERROR: s32 -errno, the offending request's nlmsghdr (whole request
 * unless NLM_F_CAPPED), then ext-ack TLVs when NLM_F_ACK_TLVS is set
 * (https://docs.kernel.org/userspace-api/netlink/intro.html#ext-ack).
 */
export function parseErrorPayload(payload: Buffer, headerFlags: number): NlErrorReply {
  const errno = -payload.readInt32LE(0) || 0; // || 0: no -0 for a plain ACK
  const out: NlErrorReply = { errno };
  if (!(headerFlags & NLM_F_ACK_TLVS) || payload.length < 4 + NLMSG_HDRLEN) return out;
  const echoedLen = headerFlags & NLM_F_CAPPED ? NLMSG_HDRLEN : payload.readUInt32LE(4);
  const msg = readStr(parseAttrs(payload.subarray(4 + align4(echoedLen))).get(NLMSGERR_ATTR_MSG));
  if (msg) out.extAck = msg;
  return out;
}

/** NLMSG_DONE of a dump carries an s32 status too, with ext-ack TLVs right after it. */
export function parseDonePayload(payload: Buffer, headerFlags: number): NlErrorReply {
  if (payload.length < 4) return { errno: 0 };
  const errno = -payload.readInt32LE(0) || 0;
  const out: NlErrorReply = { errno };
  if (headerFlags & NLM_F_ACK_TLVS) {
    const msg = readStr(parseAttrs(payload.subarray(4)).get(NLMSGERR_ATTR_MSG));
    if (msg) out.extAck = msg;
  }
  return out;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 11: 'EAGAIN', 12: 'ENOMEM',
  13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 18: 'EXDEV', 19: 'ENODEV', 20: 'ENOTDIR', 22: 'EINVAL',
  23: 'ENFILE', 24: 'EMFILE', 28: 'ENOSPC', 34: 'ERANGE', 39: 'ENOTEMPTY', 61: 'ENODATA', 71: 'EPROTO', 75: 'EOVERFLOW',
  90: 'EMSGSIZE', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN', 101: 'ENETUNREACH', 105: 'ENOBUFS', 107: 'ENOTCONN', 110: 'ETIMEDOUT', 113: 'EHOSTUNREACH', 524: 'ENOTSUPP',
};
const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted', ENOENT: 'no such file or directory', ESRCH: 'no such process', EBUSY: 'device or resource busy',
  EEXIST: 'file exists', ENODEV: 'no such device', EINVAL: 'invalid argument', ERANGE: 'numerical result out of range',
  EOPNOTSUPP: 'operation not supported', ENOTSUPP: 'operation not supported', EAFNOSUPPORT: 'address family not supported',
  EADDRINUSE: 'address already in use', EADDRNOTAVAIL: 'cannot assign requested address', ENETUNREACH: 'network is unreachable',
  ENOBUFS: 'no buffer space available', ENOMEM: 'out of memory', ENOSPC: 'no space left on device', EMSGSIZE: 'message too long',
  ENOTEMPTY: 'directory not empty', EACCES: 'permission denied', ENETDOWN: 'network is down',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `ERRNO_${errno}`;
}

/** errno → error kind: the mapping the engine, API and CLI rely on. */
export function errnoKind(errno: number): ErrorKind {
  switch (errnoName(errno)) {
    case 'EEXIST': return 'conflict';
    case 'ENODEV': case 'ESRCH': case 'ENOENT': return 'not-found';
    case 'EINVAL': case 'ERANGE': return 'invalid';
    case 'EPERM': case 'EACCES': return 'forbidden';
    default: return 'internal';
  }
}

/** A netlink request the kernel refused; `errno` is kept for callers that branch on it. */
export class NetlinkError extends SwitchyardError {
  readonly errno: number;
  readonly extAck: string | undefined;
  constructor(what: string, reply: NlErrorReply) {
    const name = errnoName(reply.errno);
    const text = ERRNO_TEXT[name] ?? 'kernel error';
    super(errnoKind(reply.errno), `NETLINK_${name}`, `${what}: ${text} (${name})${reply.extAck ? `: ${reply.extAck}` : ''}`);
    this.errno = reply.errno;
    this.extAck = reply.extAck;
  }
}

export const ENOENT = 2;
export const ESRCH = 3;
export const EEXIST = 17;
export const ENODEV = 19;
export const EADDRNOTAVAIL = 99;
