/**
 * The macvlan driver (Docker's semantics, moby libnetwork/drivers/macvlan): every endpoint
 * is a macvlan child of a parent interface of the host, created directly inside the
 * sandbox's namespace as ethN with its own MAC, its address on the LAN's subnet and a
 * default route via the LAN's gateway (the network's gateway address, never put on the
 * host). The driver makes no link in the host's namespace. docs/drivers/macvlan.md.
 *
 * Not implemented yet (refused with OPTION_NOT_IMPLEMENTED): a parent `IF.VLAN` that does
 * not exist (802.1q sub-interface made on demand), no parent or `--internal` (dummy parent).
 */
import type { EndpointRecord, MacvlanNetworkState, NetworkRecord } from '../model/records.js';
import { Rtnl } from '../kernel/netlink/index.js';
import { LOCAL_ENDPOINT_DRIVER, type DriverCapabilities, type HostLink, type JoinOptions, type NetworkDriver, type NetworkPlanInput, type SandboxNs } from './contract.js';
import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../kernel/libc.js';
import { withNetns, withNetnsFd } from '../kernel/netns.js';
import { configureSandboxEnd, defaultRoutes } from './sandbox-end.js';
import { conflict, internal, invalid, notImplemented } from '../errors.js';

const fieldOf = (key: string): string => `Options.${key}`;

export interface MacvlanDriverOptions {
  /** rtnetlink in the daemon's ("host") namespace, where the parents are. */
  rtnl: Rtnl;
  /** Opens rtnetlink inside a sandbox namespace. */
  openRtnl: (nsPath: string) => Rtnl;
  log: (msg: string) => void;
}

export function macvlanOf(net: NetworkRecord): MacvlanNetworkState {
  if (net.state.driver !== 'macvlan') throw internal('NOT_A_MACVLAN_NETWORK', `network ${net.name} is not a macvlan network (driver ${net.driver})`);
  return net.state;
}

/** The parent interface of a macvlan network (planNetwork refuses a network without one). */
const parentOf = (net: NetworkRecord): string => macvlanOf(net).options.parent!;

export class MacvlanDriver implements NetworkDriver {
  readonly name = 'macvlan';
  readonly capabilities: DriverCapabilities = LOCAL_ENDPOINT_DRIVER;

  constructor(private readonly o: MacvlanDriverOptions) {}

  /** Docker's rules: a parent is needed (dummy parents: later), passthru takes its parent alone. */
  planNetwork(i: NetworkPlanInput): MacvlanNetworkState {
    const options = i.options;
    if (options.driver !== 'macvlan') throw internal('DRIVER_OPTIONS_MISMATCH', `macvlan driver given ${options.driver} options`);
    if (options.parent === undefined) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'option parent is required by the macvlan driver for now (a network without a parent, on a dummy link, is not implemented yet)', fieldOf('parent'));
    }
    if (options.containerIfacePrefix) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'option com.docker.network.container_iface_prefix is not implemented yet by the macvlan driver (sandbox interfaces are named eth0, eth1, ...)', fieldOf('com.docker.network.container_iface_prefix'));
    }
    for (const n of i.others) {
      if (n.state.driver !== 'macvlan' || n.state.options.parent !== options.parent) continue;
      if (options.mode === 'passthru' || n.state.options.mode === 'passthru') {
        throw conflict('MACVLAN_PARENT_IN_USE', `network ${n.name} is already using parent interface ${options.parent} (a passthru macvlan network takes its parent alone)`);
      }
    }
    return { driver: 'macvlan', options };
  }

  /** No host links: the children live in the sandboxes. */
  networkLinks(_net: NetworkRecord): string[] {
    return [];
  }

  planEndpoint(_net: NetworkRecord, _ep: { id: string; ifname: string }): { hostLink?: string } {
    return {};
  }

  /** Checks the parent (the network has no kernel state of its own on the host). */
  ensureNetwork(net: NetworkRecord): void {
    if (net.internal) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'option internal is not implemented yet by the macvlan driver (an internal network uses a dummy parent)', 'Internal');
    }
    this.parentIndex(net);
  }

  private parentIndex(net: NetworkRecord): number {
    const parent = parentOf(net);
    const index = ifNameToIndex(parent);
    if (index) return index;
    if (/^.+\.\d+$/.test(parent)) {
      throw notImplemented(
        'OPTION_NOT_IMPLEMENTED',
        `option parent: ${parent} does not exist, and making an 802.1q sub-interface for it is not implemented yet (create it first)`,
        fieldOf('parent'),
      );
    }
    throw invalid('MACVLAN_PARENT_MISSING', `option parent: interface ${parent} does not exist on the host`, fieldOf('parent'));
  }

  async deleteNetwork(_net: NetworkRecord): Promise<void> {
    // Nothing on the host: a parent that existed before is never touched.
  }

  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    const parent = this.parentIndex(net);
    const { mode, mtu } = macvlanOf(net).options;
    const nsFd = open(sb.nsPath, O_RDONLY | O_CLOEXEC);
    try {
      // A half-made join (a crash after the create) left the child: start again.
      const stale = withNetnsFd(nsFd, () => ifNameToIndex(ep.ifname));
      if (stale) this.deleteInSandbox(sb, ep.ifname);
      this.o.rtnl.createTypedLink({ kind: 'macvlan', parent, mode, name: ep.ifname, mac: ep.mac, nsFd, ...(mtu ? { mtu } : {}) });
      try {
        configureSandboxEnd(nsFd, net, ep, sb, opts);
      } catch (err) {
        this.deleteInSandbox(sb, ep.ifname);
        throw err;
      }
    } finally {
      close(nsFd);
    }
  }

  private deleteInSandbox(sb: SandboxNs, ifname: string): void {
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      rt.deleteLink(ifname);
    } finally {
      rt.close();
    }
  }

  setGateway(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void {
    if (net.internal) return;
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      const link = rt.getLink(ep.ifname);
      if (!link) return;
      for (const r of defaultRoutes(link.index, ep)) {
        if (gateway) rt.addRoute(r);
        else rt.deleteRoute(r);
      }
    } finally {
      rt.close();
    }
  }

  /** Deletes the child in the sandbox (already gone, or the namespace gone = success). */
  async leave(_net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    try {
      const index = withNetns(sb.nsPath, () => ifNameToIndex(ep.ifname));
      if (index) this.deleteInSandbox(sb, ep.ifname);
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
    }
  }

  /**
   * The child is in the sandbox, up, with its MAC and addresses. Without the sandbox there is
   * nothing on the host to look at: not present (reconcile always passes the sandbox).
   */
  endpointPresent(_net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    if (!sb) return false;
    let rt: Rtnl;
    try {
      rt = this.o.openRtnl(sb.nsPath);
    } catch {
      return false;
    }
    try {
      const link = rt.getLink(ep.ifname);
      if (!link || !link.up || link.kind !== 'macvlan') return false;
      const have = new Set(rt.listAddresses(link.index).map((a) => a.cidr));
      return (!ep.ipv4 || have.has(ep.ipv4)) && (!ep.ipv6 || have.has(ep.ipv6));
    } finally {
      rt.close();
    }
  }

  /** It makes no host links, so it owns none. */
  ownsLink(_link: HostLink): boolean {
    return false;
  }
}

