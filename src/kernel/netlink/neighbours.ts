/**
 * Neighbour (ARP/NDP) and bridge forwarding-database entries over rtnetlink:
 * RTM_{NEW,DEL}NEIGH (linux/neighbour.h). The overlay driver uses both: static
 * neighbours inside sandboxes, and FDB entries that point a MAC (or the all-zero
 * flood entry) at a remote VTEP, as `bridge fdb append … dst <ip>` does (docs/notes/kernel-facts.md#vxlan-flood-entry).
 */
import { bytesToIp, bytesToMac, ipFamily, ipToBytes, macToBytes } from './address-codec.js';
import {
  EEXIST, ENOENT, NDMSG_LEN, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkError, RTM_DELNEIGH, RTM_GETNEIGH,
  RTM_NEWNEIGH, attr, decodeNdMsg, encodeMessage, encodeNdMsg, parseAttrs, readU32, u32Attr,
} from './message.js';
import { messagePayload, type NetlinkSocket } from './socket.js';

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_VNI = 7;
const NUD_PERMANENT = 0x80;
/** The entry belongs to the device itself (the vxlan FDB), not to its bridge master. */
const NTF_SELF = 0x02;

export interface NeighbourSpec {
  index: number;
  ip: string;
  mac: string;
}

export interface FdbSpec {
  /** The device owning the entry, e.g. a vxlan link. */
  index: number;
  /** 00:00:00:00:00:00 is the flood (BUM) entry. */
  mac: string;
  /** Remote tunnel endpoint. */
  dst?: string;
  vni?: number;
}

function neighbourMessage(type: number, flags: number, n: NeighbourSpec): Buffer {
  const ip = ipToBytes(n.ip, 'ip');
  const attrs = [attr(NDA_DST, ip)];
  if (type === RTM_NEWNEIGH) attrs.push(attr(NDA_LLADDR, macToBytes(n.mac)));
  return encodeMessage({ type, flags: NLM_F_REQUEST | flags }, [
    encodeNdMsg({ family: ipFamily(ip) === 4 ? AF_INET : AF_INET6, index: n.index, state: NUD_PERMANENT }),
    ...attrs,
  ]);
}

/** A permanent neighbour entry (`ip neigh replace IP lladdr MAC dev X nud permanent`). */
export function addNeighbour(sock: NetlinkSocket, n: NeighbourSpec): void {
  sock.request(neighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n), `add neighbour ${n.ip} lladdr ${n.mac} dev ${n.index}`);
}

/** Same as addNeighbour (replace semantics): already there = success. */
export const ensureNeighbour = addNeighbour;

/** The RTM_NEWNEIGH of addNeighbour/ensureNeighbour (pure; exported for tests). */
export function neighbourAddMessage(n: NeighbourSpec): Buffer {
  return neighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n);
}

/** Already gone = success. */
export function deleteNeighbour(sock: NetlinkSocket, n: NeighbourSpec): void {
  ignoreGone(() => sock.request(deleteNeighbourMessage(n), `delete neighbour ${n.ip} dev ${n.index}`));
}

/** The RTM_DELNEIGH of deleteNeighbour (for batches: ENOENT counts as success). */
export function deleteNeighbourMessage(n: NeighbourSpec): Buffer {
  return neighbourMessage(RTM_DELNEIGH, 0, n);
}

function fdbMessage(type: number, flags: number, f: FdbSpec): Buffer {
  const attrs = [attr(NDA_LLADDR, macToBytes(f.mac))];
  if (f.dst !== undefined) attrs.push(attr(NDA_DST, ipToBytes(f.dst, 'dst')));
  if (f.vni !== undefined) attrs.push(u32Attr(NDA_VNI, f.vni));
  return encodeMessage({ type, flags: NLM_F_REQUEST | flags }, [
    encodeNdMsg({ family: AF_BRIDGE, index: f.index, state: NUD_PERMANENT, flags: NTF_SELF }),
    ...attrs,
  ]);
}

/** `bridge fdb append MAC dev X dst IP`: APPEND lets one MAC point at several VTEPs. */
export function addFdb(sock: NetlinkSocket, f: FdbSpec): void {
  sock.request(fdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, f), `add fdb ${f.mac} dev ${f.index}${f.dst ? ` dst ${f.dst}` : ''}`);
}

/**
 * Idempotent `bridge fdb append MAC dev X dst IP self permanent`: an entry already there
 * (same MAC, same dst) = success. For a vxlan device use 00:00:00:00:00:00 once per remote
 * VTEP (the BUM flood list) and MAC → dst per remote endpoint.
 */
export function ensureFdb(sock: NetlinkSocket, f: FdbSpec): void {
  try {
    addFdb(sock, f);
  } catch (err) {
    if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err;
  }
}

/** The RTM_NEWNEIGH of addFdb/ensureFdb (pure; exported for tests). */
export function fdbAddMessage(f: FdbSpec): Buffer {
  return fdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, f);
}

/**
 * `bridge fdb replace MAC dev X dst IP self permanent` (pure; exported for tests): on a VXLAN
 * device REPLACE sets the MAC's (first) remote to `dst` in one step, so a MAC that moved to
 * another VTEP never has a moment without an entry. Only for MACs that have one remote.
 */
export function fdbReplaceMessage(f: FdbSpec): Buffer {
  return fdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, f);
}

/** The RTM_DELNEIGH of deleteFdb (pure; exported for tests). */
export function fdbDeleteMessage(f: FdbSpec): Buffer {
  return fdbMessage(RTM_DELNEIGH, 0, f);
}

/** Already gone = success. */
export function deleteFdb(sock: NetlinkSocket, f: FdbSpec): void {
  ignoreGone(() => sock.request(fdbMessage(RTM_DELNEIGH, 0, f), `delete fdb ${f.mac} dev ${f.index}`));
}

function ignoreGone(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof NetlinkError && (err.errno === ENOENT || err.kind === 'not-found'))) throw err;
  }
}

/** One entry of a neighbour or FDB dump. */
export interface NeighbourEntry {
  index: number;
  /** NDA_DST: the neighbour's IP, or an FDB entry's remote tunnel endpoint. */
  ip?: string;
  /** NDA_LLADDR. */
  mac?: string;
  /** NUD_PERMANENT: set by an administrator (the kernel never makes one itself). */
  permanent: boolean;
  vni?: number;
}

function decodeNeighbour(msg: Buffer): NeighbourEntry {
  const p = messagePayload(msg);
  const nd = decodeNdMsg(p);
  const a = parseAttrs(p.subarray(NDMSG_LEN));
  const dst = a.get(NDA_DST);
  const ll = a.get(NDA_LLADDR);
  const vni = readU32(a.get(NDA_VNI));
  return {
    index: nd.index,
    ...(dst ? { ip: bytesToIp(dst) } : {}),
    ...(ll && ll.length === 6 ? { mac: bytesToMac(ll) } : {}),
    permanent: (nd.state & NUD_PERMANENT) !== 0,
    ...(vni !== undefined ? { vni } : {}),
  };
}

function dumpNeighbours(sock: NetlinkSocket, family: number, index: number, what: string): NeighbourEntry[] {
  const msg = encodeMessage({ type: RTM_GETNEIGH, flags: NLM_F_REQUEST | NLM_F_DUMP }, [encodeNdMsg({ family, index })]);
  return sock
    .request(msg, what)
    .filter((m) => m.readUInt16LE(4) === RTM_NEWNEIGH)
    .map(decodeNeighbour)
    .filter((n) => n.index === index);
}

/** The IPv4 and IPv6 neighbour entries of device `index` (`ip neigh show dev X`). */
export function listNeighbours(sock: NetlinkSocket, index: number): NeighbourEntry[] {
  return [...dumpNeighbours(sock, AF_INET, index, `list IPv4 neighbours of ${index}`), ...dumpNeighbours(sock, AF_INET6, index, `list IPv6 neighbours of ${index}`)];
}

/** The FDB entries of device `index` (`bridge fdb show dev X`), one per (MAC, remote). */
export function listFdb(sock: NetlinkSocket, index: number): NeighbourEntry[] {
  return dumpNeighbours(sock, AF_BRIDGE, index, `list fdb of ${index}`);
}
