/**
 * Routes to the other hosts' address blocks of a network (engine/routed-blocks.ts hands
 * them over through the drivers' `syncRemoteBlocks`): one route per block via the data-path
 * address of the host holding it, in the daemon's namespace, marked RTPROT_SWITCHYARD so
 * that only ours are ever replaced or removed. Shared by the routed driver (no `oif`) and
 * global ipvlan L3 networks (out of the network's parent: docs/drivers/ipvlan.md "Across
 * hosts").
 */
import type { NetworkRecord } from '../model/records.js';
import type { Rtnl } from '../kernel/netlink/index.js';
import type { RemoteBlock } from './contract.js';
import { cidrContainsCidr, formatCidr, parseCanonicalCidr, parseCidr, tryParseIp } from '../model/ip.js';
import { invalid } from '../errors.js';

/** rtm_protocol of every route Switchyard's drivers add (unassigned in linux/rtnetlink.h and iproute2's rt_protos). */
export const RTPROT_SWITCHYARD = 83;

/**
 * The metric of a route to another host's block, both families: below BIRD's (377,
 * services/bgp/config.ts), so a host on the same segment is reached directly even when BGP
 * also offers its block through a router (IPv6 routes would otherwise get the kernel's 1024).
 */
export const REMOTE_BLOCK_METRIC = 100;

export interface BlockRouteOptions {
  /** The routes go out of this link (global ipvlan: the parent); none: the kernel picks it. */
  oif?: number;
  /** Where a skipped block is logged (once per block and next hop, while it stays wanted). */
  log?: (msg: string) => void;
  /** The blocks logged as unroutable so far, kept by the caller across syncs. */
  unroutable?: Set<string>;
}

/**
 * Makes the routes of ours into `net`'s subnets exactly `blocks`: a route per block via its
 * host's data-path address (out of `oif` when given), metric REMOTE_BLOCK_METRIC, replaced in
 * place when a block moved; routes of ours into the subnets that are not wanted go (a route an
 * admin added, with another protocol, stays; one of an older release without the metric is
 * replaced). A block outside the network's subnets, or a node address of the other family, is
 * refused (INVALID_BLOCK) before anything changes. A next hop the kernel refuses (a host on
 * another subnet, behind a router) is logged and skipped, the other blocks are still routed:
 * for routed networks BGP carries such blocks (BIRD, metric 377).
 */
export function syncBlockRoutes(rtnl: Rtnl, net: NetworkRecord, blocks: readonly RemoteBlock[], o: BlockRouteOptions = {}): void {
  const subnets = net.pools.map((p) => parseCanonicalCidr(p.subnet, 'subnet'));
  const wanted = new Map<string, RemoteBlock>();
  for (const b of blocks) {
    const c = parseCanonicalCidr(b.cidr, 'blocks.cidr', 'block');
    if (!subnets.some((s) => cidrContainsCidr(s, c))) throw invalid('INVALID_BLOCK', `block ${b.cidr} of node ${b.nodeId} is not inside a subnet of network ${net.name}`, 'blocks.cidr');
    const via = tryParseIp(b.nodeAddress);
    if (!via || via.family !== c.family) throw invalid('INVALID_BLOCK', `block ${b.cidr}: node address ${JSON.stringify(b.nodeAddress)} is not an IPv${c.family} address`, 'blocks.nodeAddress');
    wanted.set(formatCidr(c), b);
  }
  // Ours that are no longer wanted go; the wanted ones are (re)placed (replace semantics: a block that moved to another host changes its next hop).
  for (const family of [4, 6] as const) {
    for (const r of rtnl.listRoutes(family)) {
      if (r.protocol !== RTPROT_SWITCHYARD || r.dst === 'default' || !r.gateway) continue;
      if (!subnets.some((s) => cidrContainsCidr(s, parseCidr(r.dst)))) continue;
      // A route of an older release (no explicit metric: 0 for IPv4, 1024 for IPv6) is replaced too.
      if (!wanted.has(r.dst) || (r.metric ?? 0) !== REMOTE_BLOCK_METRIC) {
        rtnl.deleteRoute({ dst: r.dst, gateway: r.gateway, family, ...(r.oif ? { oif: r.oif } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) });
      }
    }
  }
  const unroutable = o.unroutable;
  if (unroutable) for (const key of unroutable) if (key.startsWith(`${net.id}/`) && !wanted.has(key.slice(net.id.length + 1, key.lastIndexOf('/')))) unroutable.delete(key);
  for (const [cidr, b] of wanted) {
    const key = `${net.id}/${cidr}/${b.nodeAddress}`;
    try {
      rtnl.addRoute({ dst: cidr, gateway: b.nodeAddress, protocol: RTPROT_SWITCHYARD, metric: REMOTE_BLOCK_METRIC, ...(o.oif ? { oif: o.oif } : {}) });
    } catch (err) {
      if (!unroutable?.has(key)) o.log?.(`${net.driver} ${net.name}: no route to block ${cidr} via ${b.nodeAddress} (node ${b.nodeId.slice(0, 12)}): ${String(err)}; skipped${net.driver === 'routed' ? ', left to BGP' : ''}`);
      unroutable?.add(key);
      continue;
    }
    unroutable?.delete(key);
  }
}
