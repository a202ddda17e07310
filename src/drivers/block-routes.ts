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
 * Makes the routes of ours into `net`'s subnets exactly `blocks`: a route per block via its
 * host's data-path address (out of `oif` when given), replaced in place when a block moved;
 * routes of ours into the subnets that are not wanted go (a route an admin added, with
 * another protocol, stays). A block outside the network's subnets, or a node address of the
 * other family, is refused (INVALID_BLOCK) before anything changes.
 */
export function syncBlockRoutes(rtnl: Rtnl, net: NetworkRecord, blocks: readonly RemoteBlock[], oif?: number): void {
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
      if (!wanted.has(r.dst)) rtnl.deleteRoute({ dst: r.dst, gateway: r.gateway, family, ...(r.oif ? { oif: r.oif } : {}) });
    }
  }
  for (const [cidr, b] of wanted) rtnl.addRoute({ dst: cidr, gateway: b.nodeAddress, protocol: RTPROT_SWITCHYARD, ...(oif ? { oif } : {}) });
}
