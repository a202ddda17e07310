/**
 * The macvlan driver (Docker's semantics, moby libnetwork/drivers/macvlan): every endpoint
 * is a macvlan child of a parent interface of the host, created directly inside the
 * sandbox's namespace as ethN with its own MAC, its address on the LAN's subnet and a
 * default route via the LAN's gateway (the network's gateway address, never put on the
 * host). Parents (given, 802.1q made on demand, dummy) and the host-side interface are
 * drivers/parent-link.ts; the join is drivers/child-driver.ts. docs/drivers/macvlan.md.
 */
import type { EndpointRecord, MacvlanNetworkState, NetworkRecord } from '../model/records.js';
import type { LinkKindSpec, RouteSpec } from '../kernel/netlink/index.js';
import type { NetworkPlanInput } from './contract.js';
import { ChildDriver, type ChildDriverOptions } from './child-driver.js';
import { parentStateOf } from './parent-link.js';
import { defaultRoutes } from './sandbox-end.js';
import { forbidden } from '../errors.js';

export type MacvlanDriverOptions = ChildDriverOptions;

export function macvlanOf(net: NetworkRecord): MacvlanNetworkState {
  return parentStateOf(net, 'macvlan') as MacvlanNetworkState;
}

export class MacvlanDriver extends ChildDriver {
  readonly name = 'macvlan';

  constructor(o: MacvlanDriverOptions) {
    super(o, 'macvlan');
  }

  /** Docker's rules: networks may share a parent, except a passthru one, which takes it alone. */
  planNetwork(i: NetworkPlanInput): MacvlanNetworkState {
    return this.planParentNetwork(i) as MacvlanNetworkState;
  }

  /**
   * Passthru: the child carries its parent's MAC (childSpec sets none), so that is the MAC
   * recorded for the endpoint (inspect shows it). Other modes: the endpoint's own (random or
   * requested) is kept.
   */
  override planEndpoint(net: NetworkRecord, _ep: { id: string; ifname: string; mac?: string }): { mac?: string } {
    if (macvlanOf(net).options.mode !== 'passthru') return {};
    return this.parentMac(net);
  }

  /** A passthru child takes the whole parent: one running endpoint per passthru network. */
  admit(net: NetworkRecord, attached: number): void {
    if (macvlanOf(net).options.mode === 'passthru' && attached >= 1) {
      throw forbidden('MACVLAN_PASSTHRU_FULL', `network ${net.name} is a passthru macvlan network: its parent takes one endpoint, and it has one`);
    }
  }

  /**
   * The endpoint's own MAC, except in passthru mode: there the child takes the parent's MAC
   * and setting another would change the parent's (which is never touched).
   */
  protected childSpec(net: NetworkRecord, parent: number, ep?: EndpointRecord): LinkKindSpec & { mac?: string } {
    const { mode } = macvlanOf(net).options;
    return { kind: 'macvlan', parent, mode, ...(ep && mode !== 'passthru' ? { mac: ep.mac } : {}) };
  }

  protected hostChildSpec(_net: NetworkRecord, parent: number): LinkKindSpec {
    return { kind: 'macvlan', parent, mode: 'bridge' };
  }

  protected routesViaGateway(): boolean {
    return true;
  }

  protected defaultRoutes(_net: NetworkRecord, ep: EndpointRecord, oif: number): RouteSpec[] {
    return defaultRoutes(oif, ep);
  }
}
