/**
 * The pure half of the overlay driver (drivers/overlay.ts): the VNI a new network gets, the
 * names and marks of what it makes on a host, the MTU rule, and the difference between the
 * peer entries a network's namespace holds and the ones it should hold. No kernel here.
 * docs/drivers/overlay.md.
 */
import type { NetworkRecord, OverlayNetworkState } from '../model/records.js';
import { OVERLAY_OPT, VNI_MAX } from '../model/driver-options.js';
import { LINK_ALIAS_PREFIX, type PeerEndpoint } from './contract.js';
import { conflict, internal, invalid } from '../errors.js';

/** Docker's swarm manager gives out VNIs from 4096 up (libnetwork ovmanager); below is left to users. */
export const FIRST_AUTO_VNI = 4096;

/** IANA's VXLAN port (RFC 7348 §5), Docker's default `--data-path-port`. */
export const DEFAULT_DATA_PATH_PORT = 4789;

/**
 * The encapsulation's cost per packet: outer IPv4 (20) or IPv6 (40) header, UDP (8), VXLAN
 * (8) and the inner Ethernet header (14) (RFC 7348 §5): 50 over IPv4, 70 over IPv6.
 */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;

export function overlayOf(net: NetworkRecord): OverlayNetworkState {
  if (net.state.driver !== 'overlay') throw internal('NOT_AN_OVERLAY_NETWORK', `network ${net.name} is not an overlay network (driver ${net.driver})`);
  return net.state;
}

/**
 * The VNI of a new network: the one asked for (`vxlanid_list`, one VNI: this release has one
 * subnet per family and one VXLAN device per network), refused when another network of this
 * store holds it; else the lowest free from 4096 up. Cluster-wide uniqueness is the engine's
 * claim on `vni/<n>` (uniqueClaims): this check only catches the clash early.
 */
export function chooseVni(asked: readonly number[], others: readonly NetworkRecord[]): number {
  if (asked.length > 1) {
    throw invalid('INVALID_OPTION', `option ${OVERLAY_OPT.vxlanIdList}: one VXLAN ID per network (given ${asked.length}: ${asked.join(',')})`, `Options.${OVERLAY_OPT.vxlanIdList}`);
  }
  const taken = new Map<number, string>();
  for (const n of others) if (n.state.driver === 'overlay') taken.set(n.state.vni, n.name);
  const want = asked[0];
  if (want !== undefined) {
    const holder = taken.get(want);
    if (holder !== undefined) throw conflict('VNI_IN_USE', `VXLAN ID ${want} is already used by network ${holder}`);
    return want;
  }
  for (let vni = FIRST_AUTO_VNI; vni <= VNI_MAX; vni++) if (!taken.has(vni)) return vni;
  throw conflict('VNI_EXHAUSTED', `no free VXLAN ID from ${FIRST_AUTO_VNI} to ${VNI_MAX}`);
}

/** The cluster-wide claim the engine takes for a network's VNI. */
export const vniClaim = (vni: number): string => `vni/${vni}`;

/** The overlay namespace's pin: `1-<netid10>`, as Docker names it (`<epoch>-<netid[:10]>`). */
export const overlayNsName = (netId: string): string => `1-${netId.slice(0, 10)}`;

/** Docker's device names inside the overlay namespace: `ov-<vni %06x>-<netid5>` and `vx-…`. */
export function overlayLinkNames(net: NetworkRecord): { bridge: string; vxlan: string } {
  const tag = `${overlayOf(net).vni.toString(16).padStart(6, '0')}-${net.id.slice(0, 5)}`;
  return { bridge: `ov-${tag}`, vxlan: `vx-${tag}` };
}

/** A guarded port's veth end in the network's namespace (the other end is the sandbox's interface). */
export const overlayVethName = (epId: string): string => `syo${epId.slice(0, 10)}`;

/** A guarded port's macvlan on the VXLAN device, with the sandbox's MAC (its frames go in and out through it). */
export const overlayProxyName = (epId: string): string => `syp${epId.slice(0, 10)}`;

/** The marks on what the driver makes (IFLA_IFALIAS), so reconcile and `system reset` can prove it is ours. */
export const OVERLAY_ALIAS = {
  bridge: `${LINK_ALIAS_PREFIX}overlay-bridge:`,
  vxlan: `${LINK_ALIAS_PREFIX}vxlan:`,
  veth: `${LINK_ALIAS_PREFIX}overlay-veth:`,
  proxy: `${LINK_ALIAS_PREFIX}overlay-proxy:`,
} as const;
export const overlayAlias = (kind: keyof typeof OVERLAY_ALIAS, id: string): string => `${OVERLAY_ALIAS[kind]}${id.slice(0, 12)}`;
export const isOverlayAlias = (alias: string | undefined): boolean => !!alias && Object.values(OVERLAY_ALIAS).some((p) => alias.startsWith(p));

/**
 * The MTU of the sandbox's overlay interface (and of the bridge and VXLAN device): the
 * underlay link's MTU less the encapsulation (50 over IPv4, 70 over IPv6) and the
 * encryption's overhead (0 until encryption exists), unless `com.docker.network.driver.mtu`
 * asks for a value, which may not exceed that limit (a larger one would black-hole full-size
 * packets: the kernel never fragments VXLAN's outer packet on the sender for us).
 */
export function overlayMtu(o: { underlayMtu: number; underlayFamily: 4 | 6; asked: number; encryptionOverhead?: number; underlayName?: string }): number {
  const limit = o.underlayMtu - VXLAN_OVERHEAD[o.underlayFamily] - (o.encryptionOverhead ?? 0);
  if (limit < 68) {
    throw invalid('OVERLAY_UNDERLAY_MTU_TOO_SMALL', `the underlay${o.underlayName ? ` ${o.underlayName}` : ''} MTU ${o.underlayMtu} leaves ${limit} for the overlay, below IPv4's minimum of 68`, 'underlay');
  }
  if (o.asked === 0) return limit;
  if (o.asked > limit) {
    throw invalid(
      'OVERLAY_MTU_TOO_LARGE',
      `option com.docker.network.driver.mtu=${o.asked} is larger than this host allows: the underlay${o.underlayName ? ` ${o.underlayName}` : ''} MTU ${o.underlayMtu} less ${VXLAN_OVERHEAD[o.underlayFamily]} for VXLAN over IPv${o.underlayFamily}${o.encryptionOverhead ? ` and ${o.encryptionOverhead} for encryption` : ''} is ${limit}`,
      'Options.com.docker.network.driver.mtu',
    );
  }
  return o.asked;
}

/** A static FDB entry on the VXLAN device: frames for `mac` go to the VTEP `dst`. */
export interface FdbEntry {
  mac: string;
  dst: string;
}

/** A permanent neighbour entry on the VXLAN device (its ARP/ND proxy answers from these). */
export interface NeighEntry {
  ip: string;
  mac: string;
}

export interface PeerEntries {
  fdb: FdbEntry[];
  neigh: NeighEntry[];
}

const bare = (cidr: string): string => cidr.split('/')[0]!;
const norm = (mac: string): string => mac.toLowerCase();

/** The entries that make `peers` reachable: MAC → node address, and each of their IPs → MAC. */
export function peerEntries(peers: readonly PeerEndpoint[]): PeerEntries {
  const fdb = new Map<string, FdbEntry>();
  const neigh = new Map<string, NeighEntry>();
  for (const p of peers) {
    fdb.set(norm(p.mac), { mac: norm(p.mac), dst: p.nodeAddress });
    for (const cidr of [p.ipv4, p.ipv6]) if (cidr) neigh.set(bare(cidr), { ip: bare(cidr), mac: norm(p.mac) });
  }
  return { fdb: [...fdb.values()], neigh: [...neigh.values()] };
}

/**
 * What to add and what to remove to go from `have` to `want`. An FDB entry is one MAC with
 * one remote: a MAC now elsewhere is removed (whole) and added again with its new remote.
 */
export function peerDiff(have: PeerEntries, want: PeerEntries): { add: PeerEntries; remove: PeerEntries } {
  const fdbKey = (e: FdbEntry) => `${norm(e.mac)}>${e.dst}`;
  const neighKey = (e: NeighEntry) => `${e.ip}>${norm(e.mac)}`;
  const haveFdb = new Set(have.fdb.map(fdbKey));
  const wantFdb = new Set(want.fdb.map(fdbKey));
  const haveNeigh = new Set(have.neigh.map(neighKey));
  const wantNeigh = new Set(want.neigh.map(neighKey));
  return {
    add: { fdb: want.fdb.filter((e) => !haveFdb.has(fdbKey(e))), neigh: want.neigh.filter((e) => !haveNeigh.has(neighKey(e))) },
    remove: { fdb: have.fdb.filter((e) => !wantFdb.has(fdbKey(e))), neigh: have.neigh.filter((e) => !wantNeigh.has(neighKey(e))) },
  };
}
