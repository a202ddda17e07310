/**
 * Routes over rtnetlink: RTM_{NEW,DEL,GET}ROUTE (linux/rtnetlink.h, struct rtmsg).
 */
import { invalid } from '../../errors.js';
import { bytesToIp, formatCidr, ipFamily, ipToBytes, parseCidr, type IpFamily } from './address-codec.js';
import {
  ENODEV, ESRCH, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkError, RTMSG_LEN, RTM_DELROUTE,
  RTM_GETROUTE, RTM_NEWROUTE, attr, decodeRtMsg, encodeMessage, encodeRtMsg, parseAttrs, readU32, u32Attr,
} from './message.js';
import { messagePayload, type NetlinkSocket } from './socket.js';

const AF_INET = 2;
const AF_INET6 = 10;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_TABLE = 15;
const RTM_F_CLONED = 0x200;
const RT_TABLE_COMPAT = 252;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
const RT_SCOPE_NOWHERE = 255;
/** Route origin as `ip route add` marks it (linux/rtnetlink.h RTPROT_BOOT). */
export const RTPROT_BOOT = 3;
/** Kernel-made routes, e.g. the on-link prefix route of an address. */
export const RTPROT_KERNEL = 2;
const RTN_UNICAST = 1;

export interface RouteSpec {
  /** "default" or a prefix like "10.1.0.0/16". */
  dst: 'default' | string;
  gateway?: string;
  /** Output interface index. */
  oif?: number;
  /** Needed only for "default" without a gateway. */
  family?: IpFamily;
  metric?: number;
  /** Routing table; main (254) when omitted. */
  table?: number;
  /** RTPROT_* origin mark (rtm_protocol) of an added route; RTPROT_BOOT (as `ip route add`) when omitted. */
  protocol?: number;
}

export interface RouteInfo {
  family: IpFamily;
  dst: 'default' | string;
  gateway?: string;
  oif?: number;
  table: number;
  /** RT_SCOPE_*: 0 universe, 253 link (on-link), 254 host. */
  scope: number;
  /** RTPROT_*: 2 kernel, 3 boot (ip route), 4 static… */
  protocol: number;
  metric?: number;
  /** RTN_*: 1 unicast, 2 local, 3 broadcast… */
  type: number;
}

interface Resolved {
  family: IpFamily;
  dst: Buffer | null;
  dstLen: number;
  gateway: Buffer | null;
}

/** Works out the family from dst and gateway, and checks they agree. */
function resolve(r: RouteSpec): Resolved {
  const gateway = r.gateway !== undefined ? ipToBytes(r.gateway, 'gateway') : null;
  const dst = r.dst === 'default' ? null : parseCidr(r.dst, 'dst');
  const families = [dst?.family, gateway ? ipFamily(gateway) : undefined, r.family].filter((f): f is IpFamily => f !== undefined);
  const family = families[0] ?? 4;
  if (families.some((f) => f !== family)) {
    throw invalid('ROUTE_FAMILY_MISMATCH', `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}: destination, gateway and family must be the same IP version`, 'gateway');
  }
  return { family, dst: dst ? dst.addr : null, dstLen: dst ? dst.prefixLen : 0, gateway };
}

function routeMessage(type: number, flags: number, r: RouteSpec, header: { protocol: number; scope: number; type: number }): Buffer {
  const x = resolve(r);
  const table = r.table ?? RT_TABLE_MAIN;
  const attrs: Buffer[] = [u32Attr(RTA_TABLE, table)];
  if (x.dst) attrs.push(attr(RTA_DST, x.dst));
  if (x.gateway) attrs.push(attr(RTA_GATEWAY, x.gateway));
  if (r.oif !== undefined) attrs.push(u32Attr(RTA_OIF, r.oif));
  if (r.metric !== undefined) attrs.push(u32Attr(RTA_PRIORITY, r.metric));
  return encodeMessage({ type, flags: NLM_F_REQUEST | flags }, [
    encodeRtMsg({ family: x.family === 4 ? AF_INET : AF_INET6, dstLen: x.dstLen, table: table < 256 ? table : RT_TABLE_COMPAT, ...header }),
    ...attrs,
  ]);
}

const describe = (r: RouteSpec): string =>
  `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif !== undefined ? ` dev ${r.oif}` : ''}`;

/** Adds or replaces a route (NLM_F_REPLACE: `ip route replace`). */
export function addRoute(sock: NetlinkSocket, r: RouteSpec): void {
  sock.request(addRouteMessage(r), `add ${describe(r)}`);
}

/** The RTM_NEWROUTE of addRoute (replace semantics). */
export function addRouteMessage(r: RouteSpec): Buffer {
  // Without a gateway the destination is on the link itself (RT_SCOPE_LINK), as iproute2 decides.
  const scope = r.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  return routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r, { protocol: r.protocol ?? RTPROT_BOOT, scope, type: RTN_UNICAST });
}

export const describeRoute = (r: RouteSpec): string => describe(r);

/** Deletes a route matching the spec. Already gone = success. */
export function deleteRoute(sock: NetlinkSocket, r: RouteSpec): void {
  // RT_SCOPE_NOWHERE and protocol 0 match any scope and origin (net/ipv4/fib_trie.c, fib_table_delete).
  const msg = routeMessage(RTM_DELROUTE, 0, r, { protocol: 0, scope: RT_SCOPE_NOWHERE, type: RTN_UNICAST });
  try {
    sock.request(msg, `delete ${describe(r)}`);
  } catch (err) {
    if (!(err instanceof NetlinkError && (err.errno === ESRCH || err.errno === ENODEV))) throw err;
  }
}

export function decodeRoute(msg: Buffer): RouteInfo & { cloned: boolean } {
  const p = messagePayload(msg);
  const rt = decodeRtMsg(p);
  const a = parseAttrs(p.subarray(RTMSG_LEN));
  const family: IpFamily = rt.family === AF_INET ? 4 : 6;
  const dst = a.get(RTA_DST);
  const out: RouteInfo & { cloned: boolean } = {
    family,
    dst: dst && rt.dstLen > 0 ? formatCidr(dst, rt.dstLen) : 'default',
    table: readU32(a.get(RTA_TABLE)) ?? rt.table,
    scope: rt.scope,
    protocol: rt.protocol,
    type: rt.type,
    cloned: (rt.flags & RTM_F_CLONED) !== 0,
  };
  const gw = a.get(RTA_GATEWAY);
  if (gw) out.gateway = bytesToIp(gw);
  const oif = readU32(a.get(RTA_OIF));
  if (oif !== undefined) out.oif = oif;
  const metric = readU32(a.get(RTA_PRIORITY));
  if (metric !== undefined) out.metric = metric;
  return out;
}

/** Routes of one family, from the main table unless another table (or 'all') is asked for. */
export function listRoutes(sock: NetlinkSocket, family: IpFamily, o: { table?: number | 'all' } = {}): RouteInfo[] {
  const table = o.table ?? RT_TABLE_MAIN;
  const msg = encodeMessage({ type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP }, [encodeRtMsg({ family: family === 4 ? AF_INET : AF_INET6 })]);
  return sock
    .request(msg, `list IPv${family} routes`)
    .filter((m) => m.readUInt16LE(4) === RTM_NEWROUTE)
    .map(decodeRoute)
    .filter((r) => !r.cloned && (table === 'all' || r.table === table))
    .map(({ cloned: _cloned, ...r }) => r);
}
