/**
 * The part of the macvlan and ipvlan drivers that is the same: every endpoint is a child
 * link of the network's parent (drivers/parent-link.ts), created directly inside the
 * sandbox's namespace as ethN by one RTM_NEWLINK, then configured there (addresses, up,
 * default routes). A driver says what kind of child to make, and its default routes.
 */
import type { EndpointRecord, IpvlanNetworkState, MacvlanNetworkState, NetworkRecord } from '../model/records.js';
import { Rtnl, type LinkKindSpec, type RouteSpec } from '../kernel/netlink/index.js';
import { LOCAL_ENDPOINT_DRIVER, type DriverCapabilities, type HostLink, type JoinOptions, type NetworkDriver, type NetworkPlanInput, type SandboxNs } from './contract.js';
import type { NetworkDriverState } from '../model/records.js';
import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../kernel/libc.js';
import { withNetnsFd } from '../kernel/netns.js';
import { configureSandboxEnd, sandboxEndPresent } from './sandbox-end.js';
import { checkParentSharing, isolated, parentStateOf, ParentLinks, type ParentDriver } from './parent-link.js';
import { internal, notImplemented } from '../errors.js';

export interface ChildDriverOptions {
  /** rtnetlink in the daemon's ("host") namespace, where the parents are. */
  rtnl: Rtnl;
  /** Opens rtnetlink inside a sandbox namespace. */
  openRtnl: (nsPath: string) => Rtnl;
  log: (msg: string) => void;
}

export abstract class ChildDriver implements NetworkDriver {
  abstract readonly name: ParentDriver;
  readonly capabilities: DriverCapabilities = LOCAL_ENDPOINT_DRIVER;
  protected readonly parents: ParentLinks;
  /** Child deletions sent by leave whose kernel part has not finished. */
  private readonly pending = new Set<Promise<void>>();

  constructor(protected readonly o: ChildDriverOptions, driver: ParentDriver) {
    this.parents = new ParentLinks({ driver, rtnl: o.rtnl, log: o.log });
  }

  abstract planNetwork(i: NetworkPlanInput): NetworkDriverState;
  /** The child of `parent` an endpoint gets (the kind-specific part). */
  protected abstract childSpec(net: NetworkRecord, parent: number, ep?: EndpointRecord): LinkKindSpec & { mac?: string };
  /** The host-side interface's spec on `parent` (macvlan: bridge mode; ipvlan: the network's mode). */
  protected abstract hostChildSpec(net: NetworkRecord, parent: number): LinkKindSpec;
  /** The default routes are sandbox-end.ts's (via the network's gateway). */
  protected abstract routesViaGateway(net: NetworkRecord): boolean;
  /** The endpoint's default routes through `oif` (after the addresses, when it is the gateway endpoint). */
  protected abstract defaultRoutes(net: NetworkRecord, ep: EndpointRecord, oif: number): RouteSpec[];

  /**
   * The plan both drivers share: their own options only, no interface prefix (not implemented
   * yet), and Docker's rules on sharing a parent (drivers/parent-link.ts checkParentSharing).
   */
  protected planParentNetwork(i: NetworkPlanInput): MacvlanNetworkState | IpvlanNetworkState {
    const options = i.options;
    if (options.driver !== this.name) throw internal('DRIVER_OPTIONS_MISMATCH', `${this.name} driver given ${options.driver} options`);
    if (options.containerIfacePrefix) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', `option com.docker.network.container_iface_prefix is not implemented yet by the ${this.name} driver (sandbox interfaces are named eth0, eth1, ...)`, 'Options.com.docker.network.container_iface_prefix');
    }
    checkParentSharing(this.name, options, i.others, i.internal);
    return options.driver === 'macvlan' ? { driver: 'macvlan', options } : { driver: 'ipvlan', options };
  }

  /** The parent's MAC as the endpoint's recorded one (a child that carries it), when known. */
  protected parentMac(net: NetworkRecord): { mac?: string } {
    const mac = this.parents.mac(net);
    return mac ? { mac } : {};
  }

  /** The links in the host's namespace the network keeps: a parent it made, its host interface. */
  networkLinks(net: NetworkRecord): string[] {
    return this.parents.wanted(net);
  }

  planEndpoint(_net: NetworkRecord, _ep: { id: string; ifname: string; mac?: string }): { hostLink?: string; mac?: string } {
    return {};
  }

  /** Makes or verifies the parent (802.1q or dummy when needed) and the host-side interface. */
  ensureNetwork(net: NetworkRecord): void {
    this.parents.ensure(net, (parent) => this.hostChildSpec(net, parent));
  }

  /** Removes the host interface, the dummy, and a VLAN parent it made once unused (gone = success). */
  async deleteNetwork(net: NetworkRecord): Promise<void> {
    await this.parents.release(net);
  }

  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    const parent = this.parents.index(net);
    const { mtu } = parentStateOf(net, this.name).options;
    const nsFd = open(sb.nsPath, O_RDONLY | O_CLOEXEC);
    try {
      // A half-made join (a crash after the create) left the child: start again.
      const stale = withNetnsFd(nsFd, () => ifNameToIndex(ep.ifname));
      if (stale) this.deleteInSandbox(sb, ep.ifname);
      this.o.rtnl.createTypedLink({ ...this.childSpec(net, parent, ep), name: ep.ifname, nsFd, ...(mtu ? { mtu } : {}) });
      try {
        // Routes via the gateway go in configureSandboxEnd's one request (none on a dummy
        // parent); other default routes (ipvlan L3: out of the interface) after it.
        const viaGateway = this.routesViaGateway(net);
        const gateway = opts.gateway && !(viaGateway && isolated(net, this.name));
        configureSandboxEnd(nsFd, net, ep, sb, { gateway: gateway && viaGateway });
        if (gateway && !viaGateway) this.setGateway(net, ep, sb, true);
        this.parents.addHostRoutes(net, ep);
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

  /**
   * A network on a dummy parent (no parent, or --internal) has no route via a gateway: no way
   * out. Routes out of the interface (ipvlan L3) stay, as Docker adds them: over a dummy they
   * reach the network's other subnets and nothing else.
   */
  setGateway(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void {
    if (this.routesViaGateway(net) && isolated(net, this.name)) return;
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      const link = rt.getLink(ep.ifname);
      if (!link) return;
      for (const r of this.defaultRoutes(net, ep, link.index)) {
        if (gateway) rt.addRoute(r);
        else rt.deleteRoute(r);
      }
    } finally {
      rt.close();
    }
  }

  /**
   * Deletes the host routes to the endpoint, then its child in the sandbox: the deletion is
   * sent at once, by ifindex, and the kernel's slow part (unregistering the device waits for
   * an RCU grace period) finishes after the promise, as the bridge's batched deletion does
   * (close() waits for it). By index, so a join of the same name meanwhile is never hit.
   * Already gone, or the namespace gone = success.
   */
  async leave(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    try {
      this.parents.removeHostRoutes(net, ep);
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: host routes: ${String(err)}`);
    }
    let rt: Rtnl;
    try {
      rt = this.o.openRtnl(sb.nsPath);
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
      return;
    }
    let index: number | undefined;
    try {
      index = rt.getLink(ep.ifname)?.index;
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
    }
    if (index === undefined) {
      rt.close();
      return;
    }
    const done: Promise<void> = rt.deleteLinkAsync(index)
      .catch((err) => this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`))
      .finally(() => {
        rt.close();
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  /** Resolves when the children being deleted are gone. */
  async close(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** The sandbox's namespace went with its children: only the host routes are left to remove. */
  releaseSandbox(_sb: SandboxNs, endpoints: readonly { net: NetworkRecord; ep: EndpointRecord }[]): void {
    for (const { net, ep } of endpoints) {
      try {
        this.parents.removeHostRoutes(net, ep);
      } catch (err) {
        this.o.log(`release ${ep.id.slice(0, 12)}: host routes: ${String(err)}`);
      }
    }
  }

  /**
   * The child is in the sandbox, of the driver's kind, up, with its addresses (and the host
   * routes to it when the network has a host interface). Without the sandbox there is
   * nothing on the host to look at: not present (reconcile always passes the sandbox).
   */
  endpointPresent(net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    if (!sb) return false;
    if (!sandboxEndPresent(this.o.openRtnl, sb, ep.ifname, this.name, [ep.ipv4, ep.ipv6])) return false;
    return this.parents.hostRoutesPresent(net, ep);
  }

  /** Its dummies, VLAN parents and host interfaces (by their switchyard: alias). */
  ownsLink(link: HostLink): boolean {
    return this.parents.owns(link);
  }
}
