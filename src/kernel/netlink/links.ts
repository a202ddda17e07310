/**
 * Links (network devices) over rtnetlink: RTM_{NEW,DEL,GET,SET}LINK.
 * Attribute numbers are from linux/if_link.h; see also rtnetlink(7) and
 * https://docs.kernel.org/networking/bridge.html for the bridge-port attributes.
 */
import { randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../../errors.js';
import { bytesToMac, ipToBytes, localMac, macToBytes } from './address-codec.js';
import {
  decodeKindData, ipvlanInfoData, macvlanInfoData, vlanInfoData, vxlanInfoData, type IpvlanFlag, type IpvlanMode, type KindData,
  type MacvlanMode,
} from './link-kinds.js';

// The encoders moved to link-kinds.ts; re-exported for existing callers.
export { MACVLAN_MODE, macvlanInfoData, vxlanInfoData, type VxlanData } from './link-kinds.js';
import {
  EEXIST, ENODEV, NLA_F_NESTED, NLM_F_CREATE, NLM_F_ECHO, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkError, RTM_DELLINK,
  RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK, attr, decodeIfInfo, encodeIfInfo, encodeMessage, nestedAttr,
  parseAttrs, readS32, readStr, readU32, readU8, s32Attr, strAttr, u32Attr, u8Attr, IFINFOMSG_LEN,
} from './message.js';
import { NetlinkSocket, messagePayload } from './socket.js';

const AF_UNSPEC = 0;
const AF_BRIDGE = 7;
export const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const IF_OPER_UNKNOWN = 0;
const IF_OPER_UP = 6;

// linux/if_link.h: IFLA_*
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_GROUP = 27;
export const IFLA_PROTINFO = 12;
export const IFLA_OPERSTATE = 16;
export const IFLA_IFALIAS = 20;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
// IFLA_BRPORT_* (inside IFLA_PROTINFO for AF_BRIDGE)
const IFLA_BRPORT_MODE = 4; // hairpin
const IFLA_BRPORT_LEARNING = 8;

/** Linux limits interface names to IFNAMSIZ - 1 = 15 bytes. */
const IFNAMSIZ = 16;

export interface LinkInfo {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: "bridge", "veth", "vxlan"…; absent for physical devices and lo. */
  kind?: string;
  mtu: number;
  mac: string;
  /** ifindex of the bridge (or bond) this link is a port of. */
  master?: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** Operationally up (RFC 2863 operstate "up", or "unknown" with carrier, as for lo). */
  operUp: boolean;
  /** IFLA_LINK: the parent device, or a veth's peer index (in the peer's namespace). */
  link?: number;
  /** IFLA_LINK_NETNSID: the namespace id (as seen from here) holding `link`, e.g. a veth peer's. */
  netnsId?: number;
  /** IFLA_IFALIAS: links Switchyard creates carry one starting `switchyard:`. */
  alias?: string;
  /** IFLA_INFO_DATA decoded for macvlan, ipvlan, vlan and vxlan (see link-kinds.ts). */
  data?: KindData;
  /** IFLA_GROUP: the device group (0 = default). */
  group?: number;
}

export type LinkRef = string | number;

/** Everything RTM_NEWLINK can set on a link being created. */
export interface NewLinkOptions {
  name: string;
  mtu?: number;
  mac?: string;
  /** ifindex of the bridge to enslave the link to. */
  master?: number;
  up?: boolean;
  /** IFLA_LINK: parent device (vxlan underlay, macvlan lower device). */
  link?: number;
  /** Create the link directly inside the namespace open at this fd. */
  nsFd?: number;
  /** Raw IFLA_INFO_DATA attributes (see link-kinds.ts: vxlanInfoData, macvlanInfoData…). */
  data?: Buffer;
}

export interface VethOptions extends Omit<NewLinkOptions, 'link' | 'data'> {
  peer: { name: string; nsFd?: number; mac?: string; mtu?: number; up?: boolean };
}

export interface SetLinkOptions {
  up?: boolean;
  /** A bridge ifindex, or null to leave the current bridge (`nomaster`). */
  master?: number | null;
  mtu?: number;
  name?: string;
  mac?: string;
  /** Device group (IFLA_GROUP): a whole group can be deleted in one request. */
  group?: number;
  /** IFLA_IFALIAS (up to IFALIASZ-1 = 255 bytes); '' removes it. */
  alias?: string;
}

export interface BridgePortOptions {
  hairpin?: boolean;
  learning?: boolean;
}

// ---- reading ----

export function decodeLink(msg: Buffer): LinkInfo {
  const p = messagePayload(msg);
  const ifi = decodeIfInfo(p);
  const a = parseAttrs(p.subarray(IFINFOMSG_LEN));
  const linkinfo = a.get(IFLA_LINKINFO);
  const operstate = readU8(a.get(IFLA_OPERSTATE)) ?? IF_OPER_UNKNOWN;
  const info: LinkInfo = {
    index: ifi.index,
    name: readStr(a.get(IFLA_IFNAME)) ?? '',
    mtu: readU32(a.get(IFLA_MTU)) ?? 0,
    mac: a.has(IFLA_ADDRESS) ? bytesToMac(a.get(IFLA_ADDRESS)!) : '',
    up: (ifi.flags & IFF_UP) !== 0,
    operUp: operstate === IF_OPER_UP || (operstate === IF_OPER_UNKNOWN && (ifi.flags & IFF_RUNNING) !== 0),
  };
  const li = linkinfo ? parseAttrs(linkinfo) : undefined;
  const kind = li ? readStr(li.get(IFLA_INFO_KIND)) : undefined;
  if (kind) {
    info.kind = kind;
    const data = decodeKindData(kind, li!.get(IFLA_INFO_DATA));
    if (data) info.data = data;
  }
  const alias = readStr(a.get(IFLA_IFALIAS));
  if (alias) info.alias = alias;
  const master = readU32(a.get(IFLA_MASTER));
  if (master) info.master = master;
  const link = readU32(a.get(IFLA_LINK));
  if (link && link !== ifi.index) info.link = link;
  const nsid = readS32(a.get(IFLA_LINK_NETNSID));
  if (nsid !== undefined && nsid >= 0) info.netnsId = nsid;
  const group = readU32(a.get(IFLA_GROUP));
  if (group !== undefined) info.group = group;
  return info;
}

/** ifinfomsg + IFLA_IFNAME, or ifinfomsg with the index: how the kernel looks a link up. */
function linkSelector(ref: LinkRef, fields: { family?: number; flags?: number; change?: number } = {}): Buffer[] {
  if (typeof ref === 'number') return [encodeIfInfo({ ...fields, index: ref })];
  return [encodeIfInfo({ ...fields, index: 0 }), strAttr(IFLA_IFNAME, validName(ref))];
}

export function getLink(sock: NetlinkSocket, ref: LinkRef): LinkInfo | null {
  const msg = encodeMessage({ type: RTM_GETLINK, flags: NLM_F_REQUEST }, linkSelector(ref));
  try {
    const [reply] = sock.request(msg, `get link ${ref}`);
    return reply ? decodeLink(reply) : null;
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === ENODEV) return null;
    throw err;
  }
}

export function listLinks(sock: NetlinkSocket): LinkInfo[] {
  const msg = encodeMessage({ type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_DUMP }, [encodeIfInfo({ family: AF_UNSPEC })]);
  return sock.request(msg, 'list links').filter((m) => m.readUInt16LE(4) === RTM_NEWLINK).map(decodeLink);
}

function requireLink(sock: NetlinkSocket, ref: LinkRef): LinkInfo {
  const link = getLink(sock, ref);
  if (!link) throw notFound('LINK_NOT_FOUND', `link ${ref} does not exist${sock.nsPath ? ` in ${sock.nsPath}` : ''}`);
  return link;
}

// ---- creating ----

/** The top-level attributes shared by every new link and by a veth peer. */
function linkAttrs(o: { name: string; mtu?: number; mac?: string; master?: number; nsFd?: number; link?: number }, field: string): Buffer[] {
  const out = [strAttr(IFLA_IFNAME, validName(o.name, `${field}.name`))];
  if (o.mtu !== undefined) out.push(u32Attr(IFLA_MTU, validMtu(o.mtu, `${field}.mtu`)));
  if (o.mac !== undefined) out.push(attr(IFLA_ADDRESS, macToBytes(o.mac, `${field}.mac`)));
  if (o.master !== undefined) out.push(u32Attr(IFLA_MASTER, o.master));
  if (o.link !== undefined) out.push(u32Attr(IFLA_LINK, o.link));
  if (o.nsFd !== undefined) out.push(s32Attr(IFLA_NET_NS_FD, o.nsFd));
  return out;
}

function upFlags(up: boolean | undefined): { flags: number; change: number } {
  return up === undefined ? { flags: 0, change: 0 } : { flags: up ? IFF_UP : 0, change: IFF_UP };
}

/** `data` is built after the link's own attributes are validated, so errors name the link first. */
function newLinkMessage(kind: string, o: NewLinkOptions, data: () => Buffer[] = () => []): Buffer {
  const own = linkAttrs(o, 'link');
  const info = [strAttr(IFLA_INFO_KIND, kind)];
  const d = data();
  if (d.length) info.push(nestedAttr(IFLA_INFO_DATA, d));
  return encodeMessage({ type: RTM_NEWLINK, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL }, [
    encodeIfInfo({ family: AF_UNSPEC, ...upFlags(o.up) }),
    ...own,
    nestedAttr(IFLA_LINKINFO, info),
  ]);
}

/**
 * Creates a link of any kind; returns its ifindex in this socket's namespace, or 0 when
 * it was created in another namespace (nsFd). Already there = conflict LINK_EXISTS.
 */
export function createLink(sock: NetlinkSocket, kind: string, o: NewLinkOptions): { index: number } {
  const replies = requestCreate(sock, newLinkMessage(kind, o, () => (o.data ? [o.data] : [])), `create ${kind} link ${o.name}`);
  return { index: createdIndex(sock, replies, o) };
}

/** The device kinds the drivers create, each with what the kernel needs to make it. */
export type LinkKindSpec =
  /** On a parent device (by ifindex in the socket's namespace); mode as `ip link … type macvlan mode`. */
  | { kind: 'macvlan'; parent: number; mode: MacvlanMode }
  /** The slaves carry the parent's MAC; `flag` defaults to the kernel's "bridge". */
  | { kind: 'ipvlan'; parent: number; mode: IpvlanMode; flag?: IpvlanFlag }
  /** 802.1Q sub-interface, id 1-4094. */
  | { kind: 'vlan'; parent: number; id: number }
  /** VNI, local tunnel address, UDP port, underlay device; learning defaults to OFF (static FDB). */
  | { kind: 'vxlan'; vni: number; local?: string; underlay?: number; port?: number; learning?: boolean; proxy?: boolean }
  | { kind: 'dummy' };

/** A typed link: its kind and the common attributes (name, MTU, MAC, alias, namespace, up). */
export type TypedLinkSpec = LinkKindSpec & {
  name: string;
  mtu?: number;
  mac?: string;
  /** IFLA_IFALIAS, e.g. `switchyard:<network id>`; at most 255 bytes. */
  alias?: string;
  up?: boolean;
  /** Create the link directly inside the namespace open at this fd (parent/underlay stay here). */
  nsFd?: number;
};

/** IFLA_IFALIAS is limited to IFALIASZ - 1 = 255 bytes (linux/if.h). */
const IFALIASZ = 256;

/**
 * The RTM_NEWLINK of createTypedLink (pure; exported for tests). The parent (IFLA_LINK) and
 * a vxlan's underlay are looked up in the requesting socket's namespace even when the link is
 * created elsewhere (nsFd): the kernel resolves them in the source namespace (rtnl_newlink).
 */
export function typedLinkMessage(spec: TypedLinkSpec): Buffer {
  const o: NewLinkOptions = { name: spec.name, mtu: spec.mtu, mac: spec.mac, up: spec.up, nsFd: spec.nsFd };
  if (spec.kind === 'macvlan' || spec.kind === 'ipvlan' || spec.kind === 'vlan') o.link = validIndex(spec.parent, 'parent');
  if (spec.alias !== undefined) validAlias(spec.alias);
  if (spec.kind === 'ipvlan' && spec.mac !== undefined) {
    // The kernel would silently give the slave its parent's MAC anyway (ipvlan_link_new).
    throw invalid('INVALID_MAC', `mac: an ipvlan link always carries its parent's MAC; "${spec.mac}" cannot be set`, 'mac');
  }
  return newLinkMessage(spec.kind, o, () => {
    switch (spec.kind) {
      case 'macvlan': return [macvlanInfoData({ mode: spec.mode })];
      case 'ipvlan': return [ipvlanInfoData({ mode: spec.mode, flag: spec.flag })];
      case 'vlan': return [vlanInfoData({ id: spec.id })];
      case 'vxlan': return [vxlanInfoData({
        id: spec.vni,
        local: spec.local === undefined ? undefined : ipToBytes(spec.local, 'local'),
        link: spec.underlay === undefined ? undefined : validIndex(spec.underlay, 'underlay'),
        port: spec.port,
        learning: spec.learning ?? false,
        ...(spec.proxy ? { proxy: true } : {}),
      })];
      case 'dummy': return [];
    }
  });
}

/**
 * Creates a macvlan, ipvlan, vlan, vxlan or dummy link, in this namespace or directly in the
 * one open at `nsFd`. The alias goes in a second request (RTM_SETLINK, from a socket in the
 * link's namespace): the kernel ignores IFLA_IFALIAS on RTM_NEWLINK (only do_setlink reads it;
 * checked on 6.18: a bridge created with IFLA_IFALIAS in the request shows no alias).
 * If that fails the new link is deleted again. Returns the ifindex here, or 0 when created
 * in another namespace. Already there = conflict LINK_EXISTS.
 */
export function createTypedLink(sock: NetlinkSocket, spec: TypedLinkSpec): { index: number } {
  const replies = requestCreate(sock, typedLinkMessage(spec), `create ${spec.kind} link ${spec.name}`);
  const index = createdIndex(sock, replies, spec);
  if (spec.alias !== undefined) {
    const there = spec.nsFd === undefined ? sock : NetlinkSocket.openAt(spec.nsFd);
    try {
      const ref = spec.nsFd === undefined ? index : spec.name;
      try {
        setAlias(there, ref, spec.alias);
      } catch (err) {
        deleteLink(there, ref);
        throw err;
      }
    } finally {
      if (there !== sock) there.close();
    }
  }
  return { index };
}

/** RTM_SETLINK with IFLA_IFALIAS only (pure; exported for tests). */
export function aliasMessage(ref: LinkRef, alias: string): Buffer {
  return encodeMessage({ type: RTM_SETLINK, flags: NLM_F_REQUEST }, [...linkSelector(ref), aliasAttr(alias)]);
}

/** IFLA_IFALIAS, checked (the one encoding of an alias: aliasMessage, setLink, the batch). */
function aliasAttr(alias: string): Buffer {
  return strAttr(IFLA_IFALIAS, validAlias(alias));
}

export function setAlias(sock: NetlinkSocket, ref: LinkRef, alias: string): void {
  try {
    sock.request(aliasMessage(ref, alias), `set alias of link ${ref}`);
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === ENODEV) throw notFound('LINK_NOT_FOUND', `set alias of link ${ref}: no such link`);
    throw err;
  }
}

/**
 * A veth pair in ONE request: the peer is created directly inside the target namespace
 * (VETH_INFO_PEER carries its own ifinfomsg + IFLA_NET_NS_FD), and the host end is
 * enslaved and brought up in the same call. 0.6 ms against 16 ms for create-then-move,
 * because moving a device between namespaces is the expensive kernel path (docs/notes/kernel-facts.md#veth-peer-made-in-place).
 */
export function createVeth(sock: NetlinkSocket, o: VethOptions): { index: number } {
  const peer = { ...o.peer, mtu: o.peer.mtu ?? o.mtu };
  const replies = requestCreate(sock, vethMessage(o), `create veth ${o.name} (peer ${peer.name})`);
  if (peer.up) bringPeerUp(sock, peer);
  return { index: createdIndex(sock, replies, o) };
}

/** The RTM_NEWLINK request of createVeth (pure; exported for tests). */
export function vethMessage(o: VethOptions): Buffer {
  const peer = { ...o.peer, mtu: o.peer.mtu ?? o.mtu };
  // VETH_INFO_PEER's payload is a struct ifinfomsg followed by the peer's IFLA_* attributes.
  // The peer is created without IFF_UP: it is configured before the host end exists, and
  // opening a veth whose other end is missing fails with ENOTCONN (drivers/net/veth.c, veth_open).
  const peerInfo = (): Buffer[] => [attr(VETH_INFO_PEER, Buffer.concat([encodeIfInfo({ family: AF_UNSPEC }), ...linkAttrs(peer, 'peer')]))];
  return newLinkMessage('veth', o, peerInfo);
}

/** Brings the peer up from a socket in its namespace (~0.1 ms for the setns window). */
function bringPeerUp(sock: NetlinkSocket, peer: { name: string; nsFd?: number }): void {
  if (peer.nsFd === undefined) return setLink(sock, peer.name, { up: true });
  const there = NetlinkSocket.openAt(peer.nsFd);
  try {
    setLink(there, peer.name, { up: true });
  } finally {
    there.close();
  }
}

/**
 * The new link's index from the kernel's echo (NLM_F_ECHO on RTM_NEWLINK, honoured since
 * Linux 6.1), saving a lookup; a lookup by name otherwise. A link created in another
 * namespace is not echoed to us and has no index here: 0.
 */
function createdIndex(sock: NetlinkSocket, replies: Buffer[], o: { name: string; nsFd?: number }): number {
  if (o.nsFd !== undefined) return 0;
  const echoed = replies.filter((m) => m.readUInt16LE(4) === RTM_NEWLINK).map(decodeLink).find((l) => l.name === o.name);
  return echoed ? echoed.index : requireLink(sock, o.name).index;
}

function requestCreate(sock: NetlinkSocket, msg: Buffer, what: string): Buffer[] {
  msg.writeUInt16LE(msg.readUInt16LE(6) | NLM_F_ECHO, 6);
  try {
    return sock.request(msg, what);
  } catch (err) {
    if (err instanceof NetlinkError && err.errno === EEXIST) {
      throw conflict('LINK_EXISTS', `${what}: a link by that name already exists${err.extAck ? ` (${err.extAck})` : ''}`);
    }
    throw err;
  }
}

/**
 * Create-or-verify a bridge. Its MAC is set explicitly at creation (random, locally
 * administered, unless given): a bridge without an assigned address takes the lowest
 * port MAC and would change it as ports join and leave (net/bridge/br_stp_if.c,
 * br_stp_recalculate_bridge_id skips bridges whose address was set by the user).
 */
export function ensureBridge(sock: NetlinkSocket, o: { name: string; mtu?: number; up?: boolean; mac?: string }): LinkInfo {
  if (!getLink(sock, o.name)) {
    const mac = o.mac ?? localMac(randomBytes(6));
    try {
      sock.request(newLinkMessage('bridge', { name: o.name, mac }), `create bridge ${o.name}`);
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err; // lost a race: verify below
    }
  }
  const link = requireLink(sock, o.name);
  if (link.kind !== 'bridge') {
    throw conflict('LINK_EXISTS', `link ${o.name} exists and is a ${link.kind ?? 'physical device'}, not a bridge`);
  }
  // The MTU goes through a separate change: only then does the bridge record it as set by
  // the user and stop following its ports' MTU (net/bridge/br_device.c, br_change_mtu).
  const change: SetLinkOptions = {};
  if (o.mtu !== undefined && o.mtu !== link.mtu) change.mtu = o.mtu;
  if (o.up && !link.up) change.up = true;
  if (!Object.keys(change).length) return link;
  setLink(sock, link.index, change);
  return requireLink(sock, link.index);
}

// ---- changing ----

/**
 * Changes a link. The kernel applies flags last (net/core/rtnetlink.c, do_setlink) and
 * refuses to rename a device that is up, so "down + rename" is sent as two requests.
 */
export function setLink(sock: NetlinkSocket, ref: LinkRef, o: SetLinkOptions): void {
  const what = `set link ${ref}`;
  const attrs: Buffer[] = [];
  if (o.mtu !== undefined) attrs.push(u32Attr(IFLA_MTU, validMtu(o.mtu, 'mtu')));
  if (o.mac !== undefined) attrs.push(attr(IFLA_ADDRESS, macToBytes(o.mac)));
  if (o.master !== undefined) attrs.push(u32Attr(IFLA_MASTER, o.master ?? 0)); // 0 = nomaster
  if (o.name !== undefined) attrs.push(strAttr(IFLA_IFNAME, validName(o.name)));
  if (o.group !== undefined) attrs.push(u32Attr(IFLA_GROUP, o.group));
  if (o.alias !== undefined) attrs.push(aliasAttr(o.alias));
  // A rename needs the index: IFLA_IFNAME would otherwise be read as the link to change.
  const target = o.name !== undefined && typeof ref === 'string' ? requireLink(sock, ref).index : ref;
  const send = (flags: { flags: number; change: number }, extra: Buffer[]): void => {
    const msg = encodeMessage({ type: RTM_SETLINK, flags: NLM_F_REQUEST }, [...linkSelector(target, flags), ...extra]);
    try {
      sock.request(msg, what);
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) throw notFound('LINK_NOT_FOUND', `${what}: no such link`);
      throw err;
    }
  };
  if (o.up === false && attrs.length) {
    send(upFlags(false), []);
    send(upFlags(undefined), attrs);
  } else {
    send(upFlags(o.up), attrs);
  }
}

/**
 * Bridge-port flags, as `bridge link set dev X hairpin on learning off` sends them:
 * RTM_SETLINK, family AF_BRIDGE, IFLA_PROTINFO nested (NLA_F_NESTED is how the bridge
 * tells the nested form from the legacy u8 port state; net/bridge/br_netlink.c).
 */
export function setBridgePort(sock: NetlinkSocket, index: number, o: BridgePortOptions): void {
  const msg = bridgePortMessage(index, o);
  if (msg) sock.request(msg, `set bridge port ${index}`);
}

/** The RTM_SETLINK of setBridgePort; null when `o` sets nothing. */
export function bridgePortMessage(index: number, o: BridgePortOptions): Buffer | null {
  const port: Buffer[] = [];
  if (o.hairpin !== undefined) port.push(u8Attr(IFLA_BRPORT_MODE, o.hairpin ? 1 : 0));
  if (o.learning !== undefined) port.push(u8Attr(IFLA_BRPORT_LEARNING, o.learning ? 1 : 0));
  if (!port.length) return null;
  return encodeMessage({ type: RTM_SETLINK, flags: NLM_F_REQUEST }, [
    encodeIfInfo({ family: AF_BRIDGE, index }),
    nestedAttr(IFLA_PROTINFO | NLA_F_NESTED, port),
  ]);
}

/** RTM_SETLINK renaming the (down) link at `index`. */
export function linkRenameMessage(index: number, name: string): Buffer {
  return encodeMessage({ type: RTM_SETLINK, flags: NLM_F_REQUEST }, [...linkSelector(index), strAttr(IFLA_IFNAME, validName(name))]);
}

/** RTM_SETLINK bringing the link at `index` up or down, nothing else. */
export function linkUpMessage(index: number, up: boolean): Buffer {
  return encodeMessage({ type: RTM_SETLINK, flags: NLM_F_REQUEST }, linkSelector(index, upFlags(up)));
}

// ---- deleting ----

function deleteMessage(ref: LinkRef): Buffer {
  return encodeMessage({ type: RTM_DELLINK, flags: NLM_F_REQUEST }, linkSelector(ref));
}

const isGone = (err: unknown): boolean => err instanceof NetlinkError && err.errno === ENODEV;

/** Deletes a link (a veth takes its peer with it). Already gone = success. */
export function deleteLink(sock: NetlinkSocket, ref: LinkRef): void {
  try {
    sock.request(deleteMessage(ref), `delete link ${ref}`);
  } catch (err) {
    if (!isGone(err)) throw err;
  }
}

/** deleteLink off the event loop: veth deletion costs ~30 ms of kernel time (docs/notes/kernel-facts.md#veth-deletion-cost). */
export async function deleteLinkAsync(sock: NetlinkSocket, ref: LinkRef): Promise<void> {
  try {
    await sock.requestAsync(deleteMessage(ref), `delete link ${ref}`);
  } catch (err) {
    if (!isGone(err)) throw err;
  }
}

/**
 * Deletes every link of a device group in one request. The kernel unregisters them as one
 * batch (rtnl_group_dellink → unregister_netdevice_many), paying the RCU grace period
 * once for the whole group instead of once per device. No link in the group = success.
 */
export async function deleteGroupAsync(sock: NetlinkSocket, group: number): Promise<void> {
  const msg = encodeMessage({ type: RTM_DELLINK, flags: NLM_F_REQUEST }, [encodeIfInfo({ index: 0 }), u32Attr(IFLA_GROUP, group)]);
  try {
    await sock.requestAsync(msg, `delete link group ${group}`);
  } catch (err) {
    if (!isGone(err)) throw err;
  }
}

// ---- validation ----

function validIndex(index: number, field: string): number {
  if (!Number.isInteger(index) || index < 1 || index > 0x7fffffff) throw invalid('INVALID_IFINDEX', `${field}: ifindex ${index} must be a positive integer`, field);
  return index;
}

function validAlias(alias: string): string {
  if (Buffer.byteLength(alias) >= IFALIASZ || alias.includes('\0')) {
    throw invalid('INVALID_IFALIAS', `alias: "${alias.slice(0, 40)}…" must be at most ${IFALIASZ - 1} bytes without NUL`, 'alias');
  }
  return alias;
}

function validName(name: string, field = 'name'): string {
  if (!name || Buffer.byteLength(name) >= IFNAMSIZ || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw invalid('INVALID_IFNAME', `${field}: "${name}" is not a valid interface name (1-15 bytes, no whitespace, "/" or ":")`, field);
  }
  return name;
}

function validMtu(mtu: number, field: string): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid('INVALID_MTU', `${field}: MTU ${mtu} must be an integer 68-65535`, field);
  return mtu;
}
