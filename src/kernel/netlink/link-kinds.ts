/**
 * The kind-specific part of a link (IFLA_LINKINFO → IFLA_INFO_DATA) for the kinds the
 * drivers create: macvlan, ipvlan, 802.1q vlan, vxlan, dummy. Pure: encoders turn a typed
 * spec into attributes, decodeKindData turns the kernel's attributes back into the same
 * shape, so a caller can tell a macvlan's mode, a vlan's id or a vxlan's VNI.
 * Attribute numbers and values are from linux/if_link.h (IFLA_MACVLAN_*, IFLA_IPVLAN_*,
 * IFLA_VLAN_*, IFLA_VXLAN_*, enum macvlan_mode, enum ipvlan_mode, IPVLAN_F_*).
 */
import { invalid } from '../../errors.js';
import { bytesToIp } from './address-codec.js';
import { attr, be16Attr, parseAttrs, readU16, readU32, readU8, u16Attr, u32Attr, u8Attr } from './message.js';

// IFLA_MACVLAN_*
const IFLA_MACVLAN_MODE = 1;
export const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODE;

// IFLA_IPVLAN_*
const IFLA_IPVLAN_MODE = 1;
const IFLA_IPVLAN_FLAGS = 2;
export const IPVLAN_MODE = { l2: 0, l3: 1, l3s: 2 } as const;
export type IpvlanMode = keyof typeof IPVLAN_MODE;
/** IPVLAN_F_PRIVATE = 1, IPVLAN_F_VEPA = 2; neither is the default "bridge". */
export const IPVLAN_FLAG = { bridge: 0, private: 1, vepa: 2 } as const;
export type IpvlanFlag = keyof typeof IPVLAN_FLAG;

// IFLA_VLAN_*
const IFLA_VLAN_ID = 1;
const IFLA_VLAN_PROTOCOL = 5;
/** ETH_P_8021Q: the only protocol the drivers use (802.1ad QinQ is 0x88a8). */
export const ETH_P_8021Q = 0x8100;

// IFLA_VXLAN_*
const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_GROUP = 2;
const IFLA_VXLAN_LINK = 3;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PROXY = 11;
const IFLA_VXLAN_PORT = 15;
const IFLA_VXLAN_GROUP6 = 16;
const IFLA_VXLAN_LOCAL6 = 17;

export interface VxlanData {
  /** VNI, 24 bits. */
  id: number;
  /** Local tunnel endpoint address (IPv4 or IPv6 bytes come from address-codec). */
  local?: Buffer;
  /** Multicast group or unicast remote. */
  group?: Buffer;
  /** Underlay device ifindex. */
  link?: number;
  /** UDP destination port; the kernel default is 8472, IANA's is 4789. */
  port?: number;
  learning?: boolean;
  /**
   * ARP/ND reduction (`ip link … type vxlan proxy`): the device answers ARP requests and
   * IPv6 neighbour solicitations from its own neighbour table instead of sending them on.
   */
  proxy?: boolean;
}

/** What decodeKindData makes of IFLA_INFO_DATA, per kind (absent fields were not reported). */
export type KindData =
  | { kind: 'macvlan'; mode?: MacvlanMode }
  | { kind: 'ipvlan'; mode?: IpvlanMode; flag?: IpvlanFlag }
  | { kind: 'vlan'; id?: number; protocol?: number }
  | { kind: 'vxlan'; vni?: number; local?: string; port?: number; learning?: boolean; underlay?: number };

export function vxlanInfoData(o: VxlanData): Buffer {
  if (!Number.isInteger(o.id) || o.id < 0 || o.id > 0xffffff) throw invalid('INVALID_VNI', `vxlan id ${o.id} must be 0-16777215`, 'id');
  const out = [u32Attr(IFLA_VXLAN_ID, o.id)];
  if (o.local) out.push(attr(o.local.length === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, o.local));
  if (o.group) out.push(attr(o.group.length === 4 ? IFLA_VXLAN_GROUP : IFLA_VXLAN_GROUP6, o.group));
  if (o.link !== undefined) out.push(u32Attr(IFLA_VXLAN_LINK, o.link));
  if (o.port !== undefined) {
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw invalid('INVALID_VXLAN_PORT', `vxlan port ${o.port} must be 1-65535`, 'port');
    out.push(be16Attr(IFLA_VXLAN_PORT, o.port)); // network byte order
  }
  if (o.learning !== undefined) out.push(u8Attr(IFLA_VXLAN_LEARNING, o.learning ? 1 : 0));
  if (o.proxy) out.push(u8Attr(IFLA_VXLAN_PROXY, 1));
  return Buffer.concat(out);
}

export function macvlanInfoData(o: { mode: MacvlanMode }): Buffer {
  const mode = MACVLAN_MODE[o.mode];
  if (mode === undefined) throw invalid('INVALID_MACVLAN_MODE', `macvlan mode "${o.mode}" must be one of ${Object.keys(MACVLAN_MODE).join(', ')}`, 'mode');
  return u32Attr(IFLA_MACVLAN_MODE, mode);
}

export function ipvlanInfoData(o: { mode: IpvlanMode; flag?: IpvlanFlag }): Buffer {
  const mode = IPVLAN_MODE[o.mode];
  if (mode === undefined) throw invalid('INVALID_IPVLAN_MODE', `ipvlan mode "${o.mode}" must be one of ${Object.keys(IPVLAN_MODE).join(', ')}`, 'mode');
  const out = [u16Attr(IFLA_IPVLAN_MODE, mode)];
  if (o.flag !== undefined) {
    const flag = IPVLAN_FLAG[o.flag];
    if (flag === undefined) throw invalid('INVALID_IPVLAN_FLAG', `ipvlan flag "${o.flag}" must be one of ${Object.keys(IPVLAN_FLAG).join(', ')}`, 'flag');
    out.push(u16Attr(IFLA_IPVLAN_FLAGS, flag));
  }
  return Buffer.concat(out);
}

/** An 802.1Q VLAN: id 1-4094 (0 and 4095 are reserved by IEEE 802.1Q). */
export function vlanInfoData(o: { id: number }): Buffer {
  if (!Number.isInteger(o.id) || o.id < 1 || o.id > 4094) throw invalid('INVALID_VLAN_ID', `vlan id ${o.id} must be an integer 1-4094`, 'id');
  return Buffer.concat([u16Attr(IFLA_VLAN_ID, o.id), be16Attr(IFLA_VLAN_PROTOCOL, ETH_P_8021Q)]);
}

const nameOf = <T extends Record<string, number>>(table: T, v: number | undefined): keyof T | undefined =>
  v === undefined ? undefined : (Object.keys(table) as (keyof T)[]).find((k) => table[k] === v);


const readBe16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);

/** IFLA_INFO_DATA of a known kind, decoded; undefined for kinds without one here (veth, bridge, dummy…). */
export function decodeKindData(kind: string, data: Buffer | undefined): KindData | undefined {
  const a = data ? parseAttrs(data) : new Map<number, Buffer>();
  switch (kind) {
    case 'macvlan':
      return { kind, mode: nameOf(MACVLAN_MODE, readU32(a.get(IFLA_MACVLAN_MODE))) };
    case 'ipvlan': {
      const flags = readU16(a.get(IFLA_IPVLAN_FLAGS));
      // IPVLAN_F_PRIVATE and IPVLAN_F_VEPA are exclusive; the kernel refuses both.
      return { kind, mode: nameOf(IPVLAN_MODE, readU16(a.get(IFLA_IPVLAN_MODE))), flag: nameOf(IPVLAN_FLAG, flags === undefined ? undefined : flags & 3) };
    }
    case 'vlan':
      return { kind, id: readU16(a.get(IFLA_VLAN_ID)), protocol: readBe16(a.get(IFLA_VLAN_PROTOCOL)) };
    case 'vxlan': {
      const local = a.get(IFLA_VXLAN_LOCAL) ?? a.get(IFLA_VXLAN_LOCAL6);
      const learning = readU8(a.get(IFLA_VXLAN_LEARNING));
      const underlay = readU32(a.get(IFLA_VXLAN_LINK));
      return {
        kind,
        vni: readU32(a.get(IFLA_VXLAN_ID)),
        local: local ? bytesToIp(local) : undefined,
        port: readBe16(a.get(IFLA_VXLAN_PORT)),
        learning: learning === undefined ? undefined : learning !== 0,
        underlay: underlay || undefined,
      };
    }
    default:
      return undefined;
  }
}
