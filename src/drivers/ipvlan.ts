/**
 * The ipvlan driver (Docker's semantics, moby libnetwork/drivers/ipvlan): every endpoint is
 * an ipvlan slave of a parent interface of the host, created directly inside the sandbox's
 * namespace as ethN; it carries the parent's MAC. `ipvlan_mode=l2` (default): the sandboxes
 * are on the parent's LAN and route via the network's gateway (the LAN's router).
 * `l3`/`l3s`: the parent routes for its slaves: no gateway, a default route straight out of
 * the interface, and every subnet on the parent reaches every other. `ipvlan_flag`
 * bridge|private|vepa as the kernel's. Parents (given, 802.1q made on demand, dummy; an
 * ipvlan network takes its parent alone) and the host-side interface are
 * drivers/parent-link.ts; the join is drivers/child-driver.ts. docs/drivers/ipvlan.md.
 *
 * Across hosts (`--scope global`, L3/L3S with a parent and a cluster store): the engine
 * hands out addresses from this host's blocks (engine/routed-blocks.ts, as for the routed
 * driver) and `syncRemoteBlocks` routes the other hosts' blocks via their data-path
 * addresses out of the parent (drivers/block-routes.ts). docs/drivers/ipvlan.md "Across hosts".
 */
import type { EndpointRecord, IpvlanNetworkState, NetworkRecord } from '../model/records.js';
import type { LinkKindSpec, RouteSpec } from '../kernel/netlink/index.js';
import type { NetworkPlanInput, RemoteBlock } from './contract.js';
import { syncBlockRoutes } from './block-routes.js';
import { ChildDriver, type ChildDriverOptions } from './child-driver.js';
import { parentStateOf } from './parent-link.js';
import { defaultRoutes } from './sandbox-end.js';
import { invalid } from '../errors.js';

export type IpvlanDriverOptions = ChildDriverOptions;

export function ipvlanOf(net: NetworkRecord): IpvlanNetworkState {
  return parentStateOf(net, 'ipvlan') as IpvlanNetworkState;
}

export class IpvlanDriver extends ChildDriver {
  readonly name = 'ipvlan';
  /** Remote blocks whose next hop the kernel refused (a host on another subnet), logged once. */
  private readonly unroutable = new Set<string>();

  constructor(o: IpvlanDriverOptions) {
    super(o, 'ipvlan');
  }

  /** Docker's rule: an ipvlan network takes its parent alone. */
  planNetwork(i: NetworkPlanInput): IpvlanNetworkState {
    return this.planParentNetwork(i) as IpvlanNetworkState;
  }

  /**
   * A slave carries its parent's MAC (the kernel's rule): that is the endpoint's recorded MAC
   * (inspect shows it), and a requested one is refused with Docker's message.
   */
  override planEndpoint(net: NetworkRecord, ep: { id: string; ifname: string; mac?: string }): { mac?: string } {
    if (ep.mac !== undefined) throw invalid('IPVLAN_MAC_UNSUPPORTED', 'ipvlan interfaces do not support custom mac address assignment', 'MacAddress');
    return this.parentMac(net);
  }

  /** A slave always carries its parent's MAC (the kernel's rule): the endpoint's is not set. */
  protected childSpec(net: NetworkRecord, parent: number): LinkKindSpec {
    const { mode, flag } = ipvlanOf(net).options;
    return { kind: 'ipvlan', parent, mode, flag };
  }

  /** The host's slave runs in the network's mode (the kernel keeps one mode per parent). */
  protected hostChildSpec(net: NetworkRecord, parent: number): LinkKindSpec {
    return this.childSpec(net, parent);
  }

  /**
   * A network that spans hosts: the other hosts' blocks, each via its host's data-path
   * address out of the parent (in L3 mode the parent's namespace routes the slaves'
   * traffic, with the parent as the output interface); ours no longer wanted go.
   */
  syncRemoteBlocks(net: NetworkRecord, blocks: readonly RemoteBlock[]): void {
    syncBlockRoutes(this.o.rtnl, net, blocks, { ...(blocks.length ? { oif: this.parents.index(net) } : {}), log: this.o.log, unroutable: this.unroutable });
  }

  /** A network that spans hosts loses its routes to the other hosts' blocks first; then the parents' part. */
  override async deleteNetwork(net: NetworkRecord): Promise<void> {
    if (net.scope === 'global') syncBlockRoutes(this.o.rtnl, net, []);
    await super.deleteNetwork(net);
  }

  protected routesViaGateway(net: NetworkRecord): boolean {
    return ipvlanOf(net).options.mode === 'l2';
  }

  /** L2: via the gateway; L3/L3S: `default dev ethN`, one per family the endpoint has. */
  protected defaultRoutes(net: NetworkRecord, ep: EndpointRecord, oif: number): RouteSpec[] {
    if (ipvlanOf(net).options.mode === 'l2') return defaultRoutes(oif, ep);
    const out: RouteSpec[] = [];
    if (ep.ipv4) out.push({ dst: 'default', oif, family: 4 });
    if (ep.ipv6) out.push({ dst: 'default', oif, family: 6 });
    return out;
  }
}
