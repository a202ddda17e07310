/**
 * IPsec xfrm (NETLINK_XFRM) in process, for one network namespace: ESP states (SAs) and
 * policies, added, replaced, listed and deleted through the same in-process netlink socket
 * layer as rtnetlink (kernel/netlink/socket.ts), so no `ip xfrm` process is spawned.
 *
 * Struct layouts are those of <linux/xfrm.h> on Linux x86-64 and arm64 (both LP64, same
 * alignment): xfrm_usersa_info 224 bytes, xfrm_usersa_id 24, xfrm_userpolicy_info 168,
 * xfrm_userpolicy_id 64, xfrm_user_tmpl 64, xfrm_algo_aead 72 + key, xfrm_replay_state_esn
 * 24 + bitmap. Integers are host order except SPIs and ports (network order).
 * See https://man7.org/linux/man-pages/man8/ip-xfrm.8.html for the objects' meaning.
 */
import { SwitchyardError } from '../errors.js';
import { bytesToIp, ipToBytes } from './netlink/address-codec.js';
import { NLM_F_DUMP, NLM_F_REQUEST, NetlinkError, attr, encodeMessage, parseAttrs } from './netlink/message.js';
import { NetlinkSocket, messagePayload } from './netlink/socket.js';
import { AF_INET, AF_INET6 } from './libc.js';

export const NETLINK_XFRM = 6;

// linux/xfrm.h message types and attributes
const XFRM_MSG_NEWSA = 0x10;
const XFRM_MSG_DELSA = 0x11;
const XFRM_MSG_GETSA = 0x12;
const XFRM_MSG_NEWPOLICY = 0x13;
const XFRM_MSG_DELPOLICY = 0x14;
const XFRM_MSG_GETPOLICY = 0x15;
const XFRM_MSG_UPDPOLICY = 0x19;
const XFRMA_TMPL = 5;
const XFRMA_ALG_AEAD = 18;
const XFRMA_MARK = 21;
const XFRMA_REPLAY_ESN_VAL = 23;
const XFRM_STATE_ESN = 128;
const XFRM_MODE_TRANSPORT = 0;
const IPPROTO_ESP = 50;
const DIR = { in: 0, out: 1, fwd: 2 } as const;
const ACTION = { allow: 0, block: 1 } as const;
const XFRM_INF = 0xffffffffffffffffn;

const USERSA_INFO_LEN = 224;
const USERSA_ID_LEN = 24;
const USERPOLICY_INFO_LEN = 168;
const USERPOLICY_ID_LEN = 64;
const USER_TMPL_LEN = 64;
const SELECTOR_LEN = 56;
const ALG_NAME_LEN = 64;

const ENOENT = 2;
const ESRCH = 3;

export type XfrmDir = keyof typeof DIR;
export type XfrmAction = keyof typeof ACTION;

export interface XfrmMark {
  value: number;
  mask: number;
}

/** An ESP transport-mode SA with an AEAD and extended sequence numbers. */
export interface XfrmSa {
  src: string;
  dst: string;
  spi: number;
  reqid: number;
  /** e.g. rfc4106(gcm(aes)); absent in a dump of an SA that has another algorithm. */
  aead?: { name: string; key: Buffer; icvBits: number };
  replayWindow?: number;
  mark?: XfrmMark;
}

export interface XfrmSelector {
  src: string;
  srcPrefix: number;
  dst: string;
  dstPrefix: number;
  /** IP protocol (17 = UDP); 0 = any. */
  proto: number;
  /** Destination port; 0 = any. */
  dport: number;
}

export interface XfrmTemplate {
  src: string;
  dst: string;
  spi: number;
  reqid: number;
}

export interface XfrmPolicy {
  dir: XfrmDir;
  selector: XfrmSelector;
  mark?: XfrmMark;
  priority: number;
  action: XfrmAction;
  /** ESP transport templates (usually one); none for a block policy. */
  templates: XfrmTemplate[];
}

function family(addr: Buffer): number {
  return addr.length === 4 ? AF_INET : AF_INET6;
}

/** xfrm_address_t: 16 bytes, an IPv4 address in the first 4. */
function xaddr(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  b.copy(out);
  return out;
}

function readXaddr(buf: Buffer, off: number, fam: number): string {
  return bytesToIp(buf.subarray(off, off + (fam === AF_INET ? 4 : 16)));
}

function markAttr(m: XfrmMark | undefined): Buffer[] {
  if (!m) return [];
  const b = Buffer.alloc(8);
  b.writeUInt32LE(m.value >>> 0, 0);
  b.writeUInt32LE(m.mask >>> 0, 4);
  return [attr(XFRMA_MARK, b)];
}

function readMark(v: Buffer | undefined): XfrmMark | undefined {
  return v && v.length >= 8 ? { value: v.readUInt32LE(0), mask: v.readUInt32LE(4) } : undefined;
}

/** The XFRM_MSG_NEWSA of addSa (pure; exported for tests). */
export function newSaMessage(sa: XfrmSa): Buffer {
  const src = ipToBytes(sa.src, 'src');
  const dst = ipToBytes(sa.dst, 'dst');
  if (src.length !== dst.length) throw new SwitchyardError('invalid', 'XFRM_FAMILY_MISMATCH', `SA ${sa.src} → ${sa.dst} mixes IPv4 and IPv6`, { field: 'dst' });
  if (!sa.aead) throw new SwitchyardError('invalid', 'XFRM_NO_ALGORITHM', `SA ${sa.src} → ${sa.dst} spi 0x${sa.spi.toString(16)} has no AEAD`, { field: 'aead' });
  const info = Buffer.alloc(USERSA_INFO_LEN);
  // selector (0..55) left empty: a transport SA matched by SPI and addresses
  xaddr(dst).copy(info, 56); // id.daddr
  info.writeUInt32BE(sa.spi >>> 0, 72); // id.spi
  info.writeUInt8(IPPROTO_ESP, 76); // id.proto
  xaddr(src).copy(info, 80); // saddr
  // lft: soft/hard byte and packet limits infinite (iproute2's defaults); time limits 0 = none
  for (let i = 0; i < 4; i++) info.writeBigUInt64LE(XFRM_INF, 96 + i * 8);
  info.writeUInt32LE(sa.reqid >>> 0, 208);
  info.writeUInt16LE(family(dst), 212);
  info.writeUInt8(XFRM_MODE_TRANSPORT, 214);
  info.writeUInt8(0, 215); // replay_window: ESN carries it
  info.writeUInt8(XFRM_STATE_ESN, 216);
  const aead = Buffer.alloc(ALG_NAME_LEN + 8 + sa.aead.key.length);
  aead.write(sa.aead.name, 0, ALG_NAME_LEN - 1, 'latin1');
  aead.writeUInt32LE(sa.aead.key.length * 8, ALG_NAME_LEN);
  aead.writeUInt32LE(sa.aead.icvBits, ALG_NAME_LEN + 4);
  sa.aead.key.copy(aead, ALG_NAME_LEN + 8);
  const window = sa.replayWindow ?? 128;
  const bmpLen = Math.ceil(window / 32);
  const esn = Buffer.alloc(24 + bmpLen * 4);
  esn.writeUInt32LE(bmpLen, 0);
  esn.writeUInt32LE(window, 20);
  return encodeMessage({ type: XFRM_MSG_NEWSA, flags: NLM_F_REQUEST }, [info, attr(XFRMA_ALG_AEAD, aead), attr(XFRMA_REPLAY_ESN_VAL, esn), ...markAttr(sa.mark)]);
}

function saIdMessage(sa: { dst: string; spi: number; mark?: XfrmMark }): Buffer {
  const dst = ipToBytes(sa.dst, 'dst');
  const id = Buffer.alloc(USERSA_ID_LEN);
  xaddr(dst).copy(id, 0);
  id.writeUInt32BE(sa.spi >>> 0, 16);
  id.writeUInt16LE(family(dst), 20);
  id.writeUInt8(IPPROTO_ESP, 22);
  return encodeMessage({ type: XFRM_MSG_DELSA, flags: NLM_F_REQUEST }, [id, ...markAttr(sa.mark)]);
}

function selectorBytes(s: XfrmSelector): Buffer {
  const src = ipToBytes(s.src, 'selector.src');
  const dst = ipToBytes(s.dst, 'selector.dst');
  const b = Buffer.alloc(SELECTOR_LEN);
  xaddr(dst).copy(b, 0);
  xaddr(src).copy(b, 16);
  b.writeUInt16BE(s.dport, 32);
  b.writeUInt16BE(s.dport ? 0xffff : 0, 34);
  b.writeUInt16LE(family(dst), 40);
  b.writeUInt8(s.dstPrefix, 42);
  b.writeUInt8(s.srcPrefix, 43);
  b.writeUInt8(s.proto, 44);
  return b;
}

function readSelector(b: Buffer, off: number): XfrmSelector {
  const fam = b.readUInt16LE(off + 40);
  return {
    dst: readXaddr(b, off, fam),
    src: readXaddr(b, off + 16, fam),
    dport: b.readUInt16BE(off + 32),
    dstPrefix: b.readUInt8(off + 42),
    srcPrefix: b.readUInt8(off + 43),
    proto: b.readUInt8(off + 44),
  };
}

/** The XFRM_MSG_UPDPOLICY (create or replace in place) of putPolicy (pure; exported for tests). */
export function putPolicyMessage(p: XfrmPolicy): Buffer {
  const info = Buffer.alloc(USERPOLICY_INFO_LEN);
  selectorBytes(p.selector).copy(info, 0);
  for (let i = 0; i < 4; i++) info.writeBigUInt64LE(XFRM_INF, 56 + i * 8);
  info.writeUInt32LE(p.priority >>> 0, 152);
  info.writeUInt8(DIR[p.dir], 160);
  info.writeUInt8(ACTION[p.action], 161);
  const tmpls = p.templates.map((t) => {
    const src = ipToBytes(t.src, 'template.src');
    const dst = ipToBytes(t.dst, 'template.dst');
    const b = Buffer.alloc(USER_TMPL_LEN);
    xaddr(dst).copy(b, 0);
    b.writeUInt32BE(t.spi >>> 0, 16);
    b.writeUInt8(IPPROTO_ESP, 20);
    b.writeUInt16LE(family(dst), 24);
    xaddr(src).copy(b, 28);
    b.writeUInt32LE(t.reqid >>> 0, 44);
    b.writeUInt8(XFRM_MODE_TRANSPORT, 48);
    b.writeUInt32LE(0xffffffff, 52); // aalgos, ealgos, calgos: any (iproute2's default)
    b.writeUInt32LE(0xffffffff, 56);
    b.writeUInt32LE(0xffffffff, 60);
    return b;
  });
  const parts = [info, ...(tmpls.length ? [attr(XFRMA_TMPL, Buffer.concat(tmpls))] : []), ...markAttr(p.mark)];
  return encodeMessage({ type: XFRM_MSG_UPDPOLICY, flags: NLM_F_REQUEST }, parts);
}

function policyIdMessage(p: Pick<XfrmPolicy, 'dir' | 'selector' | 'mark'>): Buffer {
  const id = Buffer.alloc(USERPOLICY_ID_LEN);
  selectorBytes(p.selector).copy(id, 0);
  id.writeUInt8(DIR[p.dir], 60);
  return encodeMessage({ type: XFRM_MSG_DELPOLICY, flags: NLM_F_REQUEST }, [id, ...markAttr(p.mark)]);
}

/** Decodes one XFRM_MSG_NEWSA of a dump (pure; exported for tests). */
export function decodeSa(payload: Buffer): XfrmSa {
  const fam = payload.readUInt16LE(212);
  const attrs = parseAttrs(payload.subarray(USERSA_INFO_LEN));
  const sa: XfrmSa = {
    dst: readXaddr(payload, 56, fam),
    spi: payload.readUInt32BE(72),
    src: readXaddr(payload, 80, fam),
    reqid: payload.readUInt32LE(208),
  };
  const a = attrs.get(XFRMA_ALG_AEAD);
  if (a && a.length >= ALG_NAME_LEN + 8) {
    const name = a.subarray(0, ALG_NAME_LEN).toString('latin1').replace(/\0.*$/s, '');
    const keyBits = a.readUInt32LE(ALG_NAME_LEN);
    sa.aead = { name, icvBits: a.readUInt32LE(ALG_NAME_LEN + 4), key: Buffer.from(a.subarray(ALG_NAME_LEN + 8, ALG_NAME_LEN + 8 + keyBits / 8)) };
  }
  const esn = attrs.get(XFRMA_REPLAY_ESN_VAL);
  if (esn && esn.length >= 24) sa.replayWindow = esn.readUInt32LE(20);
  const mark = readMark(attrs.get(XFRMA_MARK));
  if (mark) sa.mark = mark;
  return sa;
}

/** Decodes one XFRM_MSG_NEWPOLICY of a dump (pure; exported for tests). */
export function decodePolicy(payload: Buffer): XfrmPolicy {
  const attrs = parseAttrs(payload.subarray(USERPOLICY_INFO_LEN));
  const dirNum = payload.readUInt8(160);
  const templates: XfrmTemplate[] = [];
  const t = attrs.get(XFRMA_TMPL);
  for (let off = 0; t && off + USER_TMPL_LEN <= t.length; off += USER_TMPL_LEN) {
    const fam = t.readUInt16LE(off + 24);
    templates.push({ dst: readXaddr(t, off, fam), spi: t.readUInt32BE(off + 16), src: readXaddr(t, off + 28, fam), reqid: t.readUInt32LE(off + 44) });
  }
  const p: XfrmPolicy = {
    dir: (Object.keys(DIR) as XfrmDir[]).find((k) => DIR[k] === dirNum) ?? 'fwd',
    selector: readSelector(payload, 0),
    priority: payload.readUInt32LE(152),
    action: payload.readUInt8(161) === ACTION.block ? 'block' : 'allow',
    templates,
  };
  const mark = readMark(attrs.get(XFRMA_MARK));
  if (mark) p.mark = mark;
  return p;
}

/** xfrm in one namespace, through one NETLINK_XFRM socket. */
export class Xfrm {
  private constructor(private readonly sock: NetlinkSocket) {}

  /**
   * In the namespace pinned at nsPath (the caller's own when omitted). Throws
   * XFRM_UNSUPPORTED when the kernel has no xfrm netlink (CONFIG_XFRM_USER).
   */
  static open(nsPath?: string): Xfrm {
    try {
      return new Xfrm(NetlinkSocket.open(nsPath, NETLINK_XFRM));
    } catch (err) {
      throw new SwitchyardError('unavailable', 'XFRM_UNSUPPORTED',
        `this kernel has no IPsec xfrm netlink interface (CONFIG_XFRM_USER, module xfrm_user): ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    this.sock.close();
  }

  /** Adds an SA (fails with EEXIST when one with the same destination and SPI exists). */
  addSa(sa: XfrmSa): void {
    this.sock.request(newSaMessage(sa), `add xfrm state ${sa.src} → ${sa.dst} spi 0x${sa.spi.toString(16)}`);
  }

  /** Already gone = success. */
  deleteSa(sa: { dst: string; spi: number; mark?: XfrmMark }): void {
    try {
      this.sock.request(saIdMessage(sa), `delete xfrm state ${sa.dst} spi 0x${sa.spi.toString(16)}`);
    } catch (err) {
      if (!(err instanceof NetlinkError && (err.errno === ESRCH || err.errno === ENOENT))) throw err;
    }
  }

  listSas(): XfrmSa[] {
    return this.sock.request(encodeMessage({ type: XFRM_MSG_GETSA, flags: NLM_F_REQUEST | NLM_F_DUMP }, []), 'list xfrm states')
      .filter((m) => m.readUInt16LE(4) === XFRM_MSG_NEWSA)
      .map((m) => decodeSa(messagePayload(m)));
  }

  /** Creates the policy or replaces the one with the same direction, selector and mark, atomically. */
  putPolicy(p: XfrmPolicy): void {
    this.sock.request(putPolicyMessage(p), `put xfrm policy ${p.dir} ${p.selector.src}/${p.selector.srcPrefix} → ${p.selector.dst}/${p.selector.dstPrefix}`);
  }

  /** Already gone = success. */
  deletePolicy(p: Pick<XfrmPolicy, 'dir' | 'selector' | 'mark'>): void {
    try {
      this.sock.request(policyIdMessage(p), `delete xfrm policy ${p.dir} ${p.selector.src} → ${p.selector.dst}`);
    } catch (err) {
      if (!(err instanceof NetlinkError && (err.errno === ENOENT || err.errno === ESRCH))) throw err;
    }
  }

  listPolicies(): XfrmPolicy[] {
    return this.sock.request(encodeMessage({ type: XFRM_MSG_GETPOLICY, flags: NLM_F_REQUEST | NLM_F_DUMP }, []), 'list xfrm policies')
      .filter((m) => m.readUInt16LE(4) === XFRM_MSG_NEWPOLICY)
      .map((m) => decodePolicy(messagePayload(m)));
  }
}
