/**
 * nftables set and map ELEMENTS written straight over nfnetlink, in one batch per call.
 *
 * Why: through libnftables, every `add element` parses text and first refreshes its cache
 * (tables, chains, sets) over netlink: 0.08 ms on a warm loop, ~0.3 ms inside the daemon,
 * and an endpoint attach needs two of them (anti-spoofing, published ports). The kernel
 * work itself is a hash insert. Elements are bytes whose layout the set's type fixes, so
 * they are encoded here and sent as NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM between
 * NFNL_MSG_BATCH_BEGIN and _END: one transaction, all or nothing (net/netfilter/nfnetlink.c).
 *
 * Only elements, and one fixed shape of chain (a sandbox port's egress chain,
 * kernel/nft-port-chain.ts, joined and left with its elements): tables, sets, other chains
 * and rules stay libnftables text (kernel/nftables.ts), and callers keep that path as the
 * fallback for anything this one refuses.
 *
 * Key layout (nftables' datatypes, linux/netfilter/nf_tables.h): every part of a
 * concatenation is padded to a multiple of 4 bytes (NFT_REG32_SIZE); ifname is IFNAMSIZ
 * (16) bytes NUL-padded; ether_addr 6; ipv4_addr 4 and ipv6_addr 16 in network order;
 * inet_proto 1; inet_service 2 (big endian). A raw payload (`@th,64,128`) is its bytes.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { SwitchyardError, invalid } from '../errors.js';
import { ipToBytes, macToBytes } from './netlink/address-codec.js';
import { ENOENT, NLA_F_NESTED, NLM_F_CREATE, NLM_F_REQUEST, NetlinkError, attr, encodeMessage, nestedAttr, strAttr } from './netlink/message.js';
import { NETLINK_NETFILTER, NetlinkSocket, type BatchItem } from './netlink/socket.js';
import { NFPROTO, nfgenmsg, nftBatch, nftType, type NftFamily } from './nfnetlink.js';
import { deletePortChainItem, portChainItems, type NetdevPortChain } from './nft-port-chain.js';

const NFT_MSG_GETTABLE = 1;
const NFTA_TABLE_NAME = 1;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const IFNAMSIZ = 16;

export { NFPROTO, type NftFamily } from './nfnetlink.js';

/** One field of a key or of a map's data, typed as the set declares it. */
export type ElementPart =
  | { ifname: string }
  | { ether: string }
  | { ipv4: string }
  | { ipv6: string }
  | { proto: 'tcp' | 'udp' | 'sctp' }
  | { port: number }
  /** Raw bytes (a `typeof … @th,…` payload), e.g. an IPv6 address for an ND target. */
  | { raw: Buffer };

export interface ElementOp {
  op: 'add' | 'delete';
  family: NftFamily;
  table: string;
  set: string;
  key: ElementPart[];
  /** A map's data (the part after `:`); only on add. */
  data?: ElementPart[];
}

const PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;
const pad4 = (n: number): number => (n + 3) & ~3;

/** The bytes of one field, unpadded. */
export function partBytes(p: ElementPart): Buffer {
  if ('ifname' in p) {
    const b = Buffer.from(p.ifname, 'utf8');
    if (!b.length || b.length >= IFNAMSIZ || b.includes(0)) throw invalid('NFT_INVALID_ELEMENT', `interface name "${p.ifname}" is not 1-15 bytes`, 'ifname');
    const out = Buffer.alloc(IFNAMSIZ);
    b.copy(out);
    return out;
  }
  if ('ether' in p) return macToBytes(p.ether, 'ether');
  if ('ipv4' in p) {
    if (!isIPv4(p.ipv4)) throw invalid('NFT_INVALID_ELEMENT', `"${p.ipv4}" is not an IPv4 address`, 'ipv4');
    return ipToBytes(p.ipv4);
  }
  if ('ipv6' in p) {
    if (!isIPv6(p.ipv6)) throw invalid('NFT_INVALID_ELEMENT', `"${p.ipv6}" is not an IPv6 address`, 'ipv6');
    return ipToBytes(p.ipv6);
  }
  if ('proto' in p) return Buffer.from([PROTO[p.proto]]);
  if ('port' in p) {
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) throw invalid('NFT_INVALID_ELEMENT', `port ${p.port} is not 0-65535`, 'port');
    const b = Buffer.alloc(2);
    b.writeUInt16BE(p.port);
    return b;
  }
  return Buffer.from(p.raw);
}

/** A key or data value: one field as is, several as a concatenation (each padded to 4 bytes). */
export function encodeValue(parts: ElementPart[]): Buffer {
  if (parts.length === 1) return partBytes(parts[0]!);
  const bytes = parts.map(partBytes);
  const out = Buffer.alloc(bytes.reduce((n, b) => n + pad4(b.length), 0));
  let off = 0;
  for (const b of bytes) {
    b.copy(out, off);
    off += pad4(b.length);
  }
  return out;
}

const valueAttr = (type: number, v: Buffer): Buffer => nestedAttr(type | NLA_F_NESTED, [attr(NFTA_DATA_VALUE, v)]);

/** The batch for `ops` (pure; exported for tests): begin, one message per (family, table, set, op) run, end. */
export function elementBatch(ops: ElementOp[]): BatchItem[] {
  return nftBatch(elementItems(ops));
}

/** The element messages for `ops`, without the batch markers: one per (family, table, set, op) run. */
export function elementItems(ops: ElementOp[]): BatchItem[] {
  const items: BatchItem[] = [];
  // Consecutive ops on the same set with the same verb share a message; order is kept.
  let i = 0;
  while (i < ops.length) {
    const first = ops[i]!;
    const run: ElementOp[] = [];
    while (i < ops.length && ops[i]!.op === first.op && ops[i]!.family === first.family && ops[i]!.table === first.table && ops[i]!.set === first.set) run.push(ops[i++]!);
    const elems = run.map((o) => {
      const parts = [valueAttr(NFTA_SET_ELEM_KEY, encodeValue(o.key))];
      if (o.op === 'add' && o.data) parts.push(valueAttr(NFTA_SET_ELEM_DATA, encodeValue(o.data)));
      return nestedAttr(NFTA_LIST_ELEM | NLA_F_NESTED, parts);
    });
    const type = nftType(first.op === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    items.push({
      msg: encodeMessage({ type, flags: NLM_F_REQUEST | (first.op === 'add' ? NLM_F_CREATE : 0) }, [
        nfgenmsg(NFPROTO[first.family], 0),
        strAttr(NFTA_SET_ELEM_LIST_TABLE, first.table),
        strAttr(NFTA_SET_ELEM_LIST_SET, first.set),
        nestedAttr(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, elems),
      ]),
      what: `${first.op} ${run.length} element(s) in ${first.family} ${first.table} ${first.set}`,
    });
  }
  return items;
}

/** A kernel refusal as NFT_FAILED with the kernel's reason; anything else as it is. */
function wrap(err: unknown): unknown {
  return err instanceof NetlinkError ? new SwitchyardError('internal', 'NFT_FAILED', err.message, { cause: err }) : err;
}

/** An nfnetlink socket for element batches, bound to the namespace it was opened in. */
export class NftElements {
  private constructor(private readonly sock: NetlinkSocket) {}

  static open(nsPath?: string): NftElements {
    return new NftElements(NetlinkSocket.open(nsPath, NETLINK_NETFILTER));
  }

  /**
   * Applies `ops` as ONE nftables transaction. Any failure (a missing table or set, an
   * element already there with other data, a delete of a missing element) undoes the whole
   * batch and throws NFT_FAILED with the kernel's reason.
   */
  apply(ops: ElementOp[]): void {
    if (!ops.length) return;
    this.send(elementBatch(ops));
  }

  /**
   * A port joins (services/firewall/ruleset/port-guard.ts): its elements `ops` and its egress
   * chain (created or kept, holding exactly its rules: kernel/nft-port-chain.ts) as ONE transaction.
   * Idempotent. Any failure (no table, a device the kernel will not hook) undoes all of it: NFT_FAILED.
   */
  joinPortChain(chain: NetdevPortChain, ops: ElementOp[]): void {
    this.send(nftBatch([...elementItems(ops), ...portChainItems(chain)]));
  }

  /**
   * A port leaves: `ops` (its element deletes, written add-then-delete so that missing
   * elements are success) and its chain's deletion (its rules go with it) as ONE
   * transaction. The kernel answers a missing chain with ENOENT, which would abort the whole
   * batch, so on ENOENT the elements are deleted alone; a missing table is success (nothing
   * of the port is left). Deleting twice is success.
   */
  leavePortChain(chain: NetdevPortChain, ops: ElementOp[]): void {
    try {
      this.sock.requestBatch(nftBatch([...elementItems(ops), deletePortChainItem(chain)]));
      return;
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errno === ENOENT)) throw wrap(err);
    }
    try {
      if (ops.length) this.sock.requestBatch(nftBatch(elementItems(ops)));
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT && !this.hasTable('netdev', chain.table)) return;
      throw wrap(err);
    }
  }

  private send(items: BatchItem[]): void {
    try {
      this.sock.requestBatch(items);
    } catch (err) {
      throw wrap(err);
    }
  }

  /**
   * Does the table exist? One NFT_MSG_GETTABLE (no dump): microseconds whatever the size
   * of the ruleset, where libnftables' `list tables` first builds its whole cache (20-35 ms
   * with 1,000 endpoints' elements, every watchdog tick).
   */
  hasTable(family: NftFamily, name: string): boolean {
    const msg = encodeMessage({ type: nftType(NFT_MSG_GETTABLE), flags: NLM_F_REQUEST }, [
      nfgenmsg(NFPROTO[family], 0),
      strAttr(NFTA_TABLE_NAME, name),
    ]);
    try {
      return this.sock.request(msg, `get table ${family} ${name}`).length > 0;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT) return false;
      throw err;
    }
  }

  close(): void {
    this.sock.close();
  }

  /** close() off the event loop: after a leave, the kernel's close() waits for the deleted objects (~14 ms). */
  closeAsync(): Promise<void> {
    return this.sock.closeAsync();
  }
}
