/**
 * The routed driver (Calico's data path, flannel's host-gw; docs/drivers/routed.md): no
 * bridge and no encapsulation. Each endpoint is a veth pair whose sandbox end has the
 * endpoint's address alone (/32, /128) and a default route through a link-local gateway
 * (169.254.1.1, fe80::1) that is a permanent neighbour entry pointing at the host end's
 * fixed MAC (ee:ee:ee:ee:ee:ee); the host end has a host route to the endpoint's address.
 * The host forwards between its veths and the underlay with plain routing; other hosts'
 * blocks of the network are routed via their data-path addresses (syncRemoteBlocks, fed by
 * the cluster layer or learned over BGP by BIRD, services/bgp). Packets on the underlay carry
 * the sandboxes' own addresses.
 *
 * Every route it makes carries RTPROT_SWITCHYARD, so reconcile and `system reset` remove
 * only ours. Isolation and anti-spoofing: table inet switchyard-routed
 * (services/firewall/ruleset/routed.ts).
 *
 * What waits for the cluster layer: claiming blocks (model/ip-blocks.ts) and handing
 * addresses out of this host's blocks (the engine's IPAM today takes any address of the
 * subnet), and calling syncRemoteBlocks when claims change.
 */
import type { EndpointRecord, NetworkRecord, RoutedNetworkState } from '../model/records.js';
import { Rtnl, type RtnlBatch } from '../kernel/netlink/index.js';
import { sandboxEndPresent } from './sandbox-end.js';
import { REMOTE_BLOCK_METRIC, RTPROT_SWITCHYARD, syncBlockRoutes } from './block-routes.js';
import type { Nft } from '../kernel/nftables.js';
import { LINK_ALIAS_PREFIX, type RemoteBlock, type DriverCapabilities, type DriverPublishTarget, type HostLink, type JoinOptions, type NetworkDriver, type NetworkPlanInput, type SandboxNs } from './contract.js';
import { parseCanonicalCidr } from '../model/ip.js';
import { checkBlockFits } from '../model/ip-blocks.js';
import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../kernel/libc.js';
import { withNetns, withNetnsFd } from '../kernel/netns.js';
import { writeSysctl } from '../kernel/sysctl.js';
import type { Graveyard } from './graveyard.js';
import { GRAVEYARD_GROUP } from './graveyard.js';
import { conflict, internal, notImplemented } from '../errors.js';
import {
  ROUTED_PORT_PREFIX, renderOffloadDevices, renderRoutedBase, renderRoutedReload, routedEndpointElements, routedNetworkElements, type RoutedFirewallEndpoint, type RoutedFirewallNetwork,
} from '../services/firewall/ruleset/routed.js';

/** rtm_protocol of every route this driver adds, and the metric of remote block routes (drivers/block-routes.ts). */
export { RTPROT_SWITCHYARD, REMOTE_BLOCK_METRIC };
/** The sandbox's gateway: link-local, never on the wire as a source or destination (Calico's choice). */
export const GATEWAY4 = '169.254.1.1';
export const GATEWAY6 = 'fe80::1';
/** The MAC of every host end, so the sandbox's neighbour entry for the gateway is known before the veth exists. */
export const HOST_END_MAC = 'ee:ee:ee:ee:ee:ee';
export const ROUTED_ALIAS = `${LINK_ALIAS_PREFIX}routed:`;
export const routedAlias = (ep: EndpointRecord): string => `${ROUTED_ALIAS}${ep.id.slice(0, 12)}`;


export interface RoutedDriverOptions {
  /** rtnetlink in the daemon's ("host") namespace. */
  rtnl: Rtnl;
  openRtnl: (nsPath: string) => Rtnl;
  /** nftables in the daemon's namespace, opened on first use; absent = no firewall (--firewall=false). */
  nft?: () => Nft;
  /**
   * Offload established same-network flows to an nftables flowtable when the kernel has one
   * (default true; false: never, as a control in tests). docs/drivers/routed.md "Offload".
   */
  offload?: boolean;
  /** Batched deletion of veths (absent: deleted at once). */
  graveyard?: Graveyard;
  defaultMtu: number;
  log: (msg: string) => void;
}

export function routedOf(net: NetworkRecord): RoutedNetworkState {
  if (net.state.driver !== 'routed') throw internal('NOT_A_ROUTED_NETWORK', `network ${net.name} is not a routed network (driver ${net.driver})`);
  return net.state;
}

const bare = (cidr: string): string => cidr.split('/')[0]!;
const hostCidr = (cidr: string): string => `${bare(cidr)}/${cidr.includes(':') ? 128 : 32}`;

/** The host's way to a sandbox: per address of the endpoint, a host route through its host end and a permanent neighbour. */
function routeToSandbox(b: RtnlBatch, index: number, ep: EndpointRecord): void {
  for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.addRoute({ dst: hostCidr(cidr), oif: index, protocol: RTPROT_SWITCHYARD });
  for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.replaceNeighbour({ index, ip: bare(cidr), mac: ep.mac });
}

export function routedFirewallNetwork(net: NetworkRecord): RoutedFirewallNetwork {
  return { subnets: net.pools.map((p) => p.subnet), internal: net.internal };
}

export function routedFirewallEndpoint(ep: EndpointRecord): RoutedFirewallEndpoint {
  return { port: ep.hostLink!, ...(ep.ipv4 ? { ipv4: bare(ep.ipv4) } : {}), ...(ep.ipv6 ? { ipv6: bare(ep.ipv6) } : {}) };
}

export class RoutedDriver implements NetworkDriver {
  readonly name = 'routed';
  readonly capabilities: DriverCapabilities = {
    scope: 'global',
    needsIpam: true,
    creatable: true,
    singleton: false,
    attach: 'endpoint',
    handsOverLinks: false,
  };
  private nftHandle: Nft | undefined;
  private baseReady = false;
  /** The table has the flowtable (known once the base is loaded). */
  private offload = false;
  /** Blocks whose next hop the kernel refused (logged once). */
  private readonly unroutable = new Set<string>();

  constructor(private readonly o: RoutedDriverOptions) {}

  planNetwork(i: NetworkPlanInput): RoutedNetworkState {
    const options = i.options;
    if (options.driver !== 'routed') throw internal('DRIVER_OPTIONS_MISMATCH', `routed driver given ${options.driver} options`);
    if (options.containerIfacePrefix) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'option com.docker.network.container_iface_prefix is not implemented yet by the routed driver (sandbox interfaces are named eth0, eth1, ...)', 'Options.com.docker.network.container_iface_prefix');
    }
    if (options.hostIpv4 || options.hostIpv6) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'options com.docker.network.host_ipv4/host_ipv6 are not implemented yet by the routed driver (egress is masqueraded)', 'Options.com.docker.network.host_ipv4');
    }
    return { driver: 'routed', options };
  }

  /**
   * Published ports DNAT to the endpoint's /32 (/128) behind its own veth: the ports service
   * gives that veth route_localnet for 127.0.0.1 (as it does a bridge), and the firewall
   * admits DNATed flows to published ports on `syr*` (docs/drivers/routed.md "Published ports").
   */
  publishTarget(_net: NetworkRecord): DriverPublishTarget {
    return { link: '', endpointLink: true };
  }

  networkLinks(_net: NetworkRecord): string[] {
    return [];
  }

  /** The host end of the veth: `syr<first 10 of the endpoint id>`. */
  planEndpoint(_net: NetworkRecord, ep: { id: string }): { hostLink: string } {
    return { hostLink: `${ROUTED_PORT_PREFIX}${ep.id.slice(0, 10)}` };
  }

  private nft(): Nft | undefined {
    if (!this.o.nft) return undefined;
    this.nftHandle ??= this.o.nft();
    if (!this.baseReady) {
      this.offload = this.o.offload !== false && this.tryOffloadBase(this.nftHandle);
      if (!this.offload) this.nftHandle.run(renderRoutedBase());
      this.baseReady = true;
    }
    return this.nftHandle;
  }

  /** The base with the flowtable; false (nothing changed: one transaction) on a kernel without nf_flow_table. */
  private tryOffloadBase(nft: Nft): boolean {
    try {
      nft.run(renderRoutedBase({ offload: true }));
      return true;
    } catch (err) {
      this.o.log(`routed: no flowtable offload (${String(err).split('\n')[0]}): established flows take the whole forward path`);
      return false;
    }
  }

  /** Hooks the flowtable on these devices; a failure costs speed only, so it is logged, not thrown. */
  private offloadOn(devices: readonly string[]): void {
    if (!devices.length || !this.nft() || !this.offload) return;
    try {
      this.nftHandle!.run(renderOffloadDevices(devices));
    } catch (err) {
      this.o.log(`routed: flowtable on ${devices.join(', ')}: ${String(err).split('\n')[0]}`);
    }
  }

  /** The flowtable on the links that carry our routes to other hosts' blocks (the underlay). */
  private offloadUplinks(): void {
    if (!this.nft() || !this.offload) return;
    const names = new Map(this.o.rtnl.listLinks().map((l) => [l.index, l.name]));
    const devices = new Set<string>();
    for (const family of [4, 6] as const) {
      for (const r of this.o.rtnl.listRoutes(family)) {
        const name = r.protocol === RTPROT_SWITCHYARD && r.gateway && r.oif ? names.get(r.oif) : undefined;
        if (name) devices.add(name);
      }
    }
    this.offloadOn([...devices]);
  }

  private nftRun(lines: string[]): void {
    if (!lines.length) return;
    this.nft()?.run(lines.join('\n') + '\n');
  }

  /** Forwarding must be on in the daemon's namespace (the daemon's --ip-forward turns it on); the network's firewall elements. */
  ensureNetwork(net: NetworkRecord): void {
    const { blockSize } = routedOf(net).options;
    for (const p of net.pools) checkBlockFits(parseCanonicalCidr(p.subnet, 'IPAM.Config.Subnet'), blockSize);
    this.nftRun(routedNetworkElements('add', routedFirewallNetwork(net)));
  }

  /** The firewall elements and every route to other hosts' blocks of the network go. */
  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.syncRemoteBlocks(net, []);
    // Deleting an absent interval element fails the whole transaction: add, then delete.
    const elements = routedNetworkElements('add', routedFirewallNetwork(net));
    this.nftRun([...elements, ...routedNetworkElements('delete', routedFirewallNetwork(net))]);
  }

  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    const host = ep.hostLink!;
    const mtu = routedOf(net).options.mtu || this.o.defaultMtu;
    // A restarted sandbox whose old veth the kernel has not reclaimed yet: it is dead.
    if (ifNameToIndex(host)) this.o.rtnl.deleteLink(host);
    // security: the port's allowed sources are in place before it exists (fail closed: a
    // port not in @ports carries nothing of a sandbox's, since its traffic is not checked).
    const fw = routedFirewallEndpoint(ep);
    this.nftRun(routedEndpointElements('add', fw));
    const nsFd = open(sb.nsPath, O_RDONLY | O_CLOEXEC);
    try {
      let made: { index: number };
      try {
        // A half-made join (crash after the create): the sandbox end is still there.
        if (withNetnsFd(nsFd, () => ifNameToIndex(ep.ifname))) this.deleteInSandbox(sb, ep.ifname);
        // Held (JoinOptions.held): the host end stays down, so nothing passes (a veth whose
        // peer is down delivers nothing), and without its host routes (they need it up).
        made = this.o.rtnl.createVeth({ name: host, mtu, mac: HOST_END_MAC, up: !opts.held, peer: { name: ep.ifname, nsFd, mac: ep.mac, mtu } });
      } catch (err) {
        this.revoke(fw);
        throw err;
      }
      try {
        this.configureHostEnd(made.index, ep, !!opts.held);
        this.configureSandboxEnd(nsFd, net, ep, sb, opts);
      } catch (err) {
        this.o.rtnl.deleteLink(host);
        this.revoke(fw);
        throw err;
      }
      if (!opts.held) this.offloadOn([host]);
    } finally {
      close(nsFd);
    }
  }

  /**
   * Host end: marked, IPv6 on (no RA), a host route and a permanent neighbour per address of
   * the endpoint; held, the routes and neighbours wait for release (a route needs its link up,
   * and a link going up keeps no neighbours it had while down).
   */
  private configureHostEnd(index: number, ep: EndpointRecord, held: boolean): void {
    const host = ep.hostLink!;
    writeSysctl(['net', 'ipv6', 'conf', host, 'accept_ra'], '0');
    writeSysctl(['net', 'ipv6', 'conf', host, 'disable_ipv6'], ep.ipv6 ? '0' : '1');
    this.o.rtnl.batch((b) => {
      b.setAlias(index, routedAlias(ep));
      if (!held) routeToSandbox(b, index, ep);
    });
  }

  /**
   * A held port passes traffic: its host end comes up with its host routes and permanent
   * neighbours (one rtnetlink batch, in that order), then the flowtable hooks it.
   */
  release(net: NetworkRecord, ep: EndpointRecord, _sb: SandboxNs): void {
    const link = this.o.rtnl.getLink(ep.hostLink!);
    if (!link || link.alias !== routedAlias(ep)) throw conflict('ENDPOINT_LINK_MISSING', `endpoint ${ep.id.slice(0, 12)} on ${net.name} has no host end ${ep.hostLink}`);
    if (link.up) throw conflict('ENDPOINT_NOT_HELD', `endpoint ${ep.id.slice(0, 12)} on ${net.name} was not joined held`);
    this.o.rtnl.batch((b) => {
      b.setUp(link.index);
      routeToSandbox(b, link.index, ep);
    });
    this.offloadOn([ep.hostLink!]);
  }

  /**
   * Sandbox end: its address alone (/32, /128), up, the gateway as a permanent neighbour
   * (the host end's MAC) with an on-link route to it, the network's subnets through it, and
   * the default route when it carries the sandbox's gateway (never on an internal network).
   */
  private configureSandboxEnd(nsFd: number, net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    const { index, rt } = withNetnsFd(nsFd, () => {
      const index = ifNameToIndex(ep.ifname);
      if (!index) throw conflict('ENDPOINT_LINK_MISSING', `interface ${ep.ifname} did not appear in sandbox ${sb.id}`);
      if (ep.ipv6) writeSysctl(['net', 'ipv6', 'conf', ep.ifname, 'disable_ipv6'], '0');
      if (ep.ipv6) writeSysctl(['net', 'ipv6', 'conf', ep.ifname, 'accept_ra'], '0');
      return { index, rt: Rtnl.open() };
    });
    try {
      rt.batch((b) => {
        if (ep.ipv4) b.addAddress(index, hostCidr(ep.ipv4));
        if (ep.ipv6) b.addAddress(index, hostCidr(ep.ipv6), { noDad: true });
        b.setUp(index);
        if (ep.ipv4) b.addRoute({ dst: `${GATEWAY4}/32`, oif: index });
      });
      if (ep.ipv4) rt.addNeighbour({ index, ip: GATEWAY4, mac: HOST_END_MAC });
      if (ep.ipv6) rt.addNeighbour({ index, ip: GATEWAY6, mac: HOST_END_MAC });
      rt.batch((b) => {
        for (const p of net.pools) {
          const v6 = p.subnet.includes(':');
          if (v6 ? !ep.ipv6 : !ep.ipv4) continue;
          b.addRoute({ dst: p.subnet, gateway: v6 ? GATEWAY6 : GATEWAY4, oif: index });
        }
        if (opts.gateway && !net.internal) for (const r of this.defaultRoutes(index, ep)) b.addRoute(r);
      });
    } finally {
      rt.close();
    }
  }

  private defaultRoutes(oif: number, ep: EndpointRecord): { dst: 'default'; gateway: string; oif: number; family: 4 | 6 }[] {
    const out: { dst: 'default'; gateway: string; oif: number; family: 4 | 6 }[] = [];
    if (ep.ipv4) out.push({ dst: 'default', gateway: GATEWAY4, oif, family: 4 });
    if (ep.ipv6) out.push({ dst: 'default', gateway: GATEWAY6, oif, family: 6 });
    return out;
  }

  setGateway(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void {
    if (net.internal) return;
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      const link = rt.getLink(ep.ifname);
      if (!link) return;
      for (const r of this.defaultRoutes(link.index, ep)) {
        if (gateway) rt.addRoute(r);
        else rt.deleteRoute(r);
      }
    } finally {
      rt.close();
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

  private revoke(fw: RoutedFirewallEndpoint): void {
    try {
      const add = routedEndpointElements('add', fw);
      this.nftRun([...add, ...routedEndpointElements('delete', fw)]);
    } catch (err) {
      this.o.log(`routed: firewall elements of ${fw.port}: ${String(err)}`);
    }
  }

  /** The veth goes (its host route with it), then its firewall elements. */
  async leave(_net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    try {
      const index = withNetns(sb.nsPath, () => ifNameToIndex(ep.ifname));
      if (index) {
        const rt = this.o.openRtnl(sb.nsPath);
        try {
          rt.batch((b) => {
            b.setUp(index, false);
            for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.deleteAddress(index, hostCidr(cidr));
            b.rename(index, `syd${ep.id.slice(0, 10)}`);
          });
        } finally {
          rt.close();
        }
      }
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
    }
    const host = ifNameToIndex(ep.hostLink!);
    if (host) {
      if (this.o.graveyard) this.o.graveyard.bury(host);
      else this.o.rtnl.deleteLink(host);
    }
    this.revoke(routedFirewallEndpoint(ep));
  }

  endpointPresent(_net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    const link = this.o.rtnl.getLink(ep.hostLink!);
    // A held port (host end down) is not present: reconcile joins it again.
    if (!link || link.alias !== routedAlias(ep) || !link.up) return false;
    if (!sb) return true;
    return sandboxEndPresent(this.o.openRtnl, sb, ep.ifname, undefined, [ep.ipv4 && hostCidr(ep.ipv4), ep.ipv6 && hostCidr(ep.ipv6)]);
  }

  ownsLink(link: HostLink): boolean {
    return (!!link.alias && link.alias.startsWith(ROUTED_ALIAS)) || link.group === GRAVEYARD_GROUP;
  }

  // security: the namespace took the veths with it; their anti-spoofing elements go too.
  releaseSandbox(_sb: SandboxNs, endpoints: readonly { net: NetworkRecord; ep: EndpointRecord }[]): void {
    for (const { ep } of endpoints) if (ep.hostLink) this.revoke(routedFirewallEndpoint(ep));
  }

  reloadFirewall(networks: readonly NetworkRecord[], runningEndpoints: readonly EndpointRecord[]): void {
    if (!this.o.nft) return;
    const nets = networks.filter((n) => n.state.driver === 'routed');
    const ids = new Set(nets.map((n) => n.id));
    const nft = this.nft()!;
    const eps = runningEndpoints.filter((e) => ids.has(e.networkId) && e.hostLink);
    nft.run(renderRoutedReload(nets.map(routedFirewallNetwork), eps.map(routedFirewallEndpoint), { offload: this.offload }));
    this.offloadOn(eps.map((e) => e.hostLink!).filter((l) => ifNameToIndex(l)));
    this.offloadUplinks();
  }

  /**
   * The other hosts' blocks of `net` now: a route per block via its host's data-path
   * address, marked RTPROT_SWITCHYARD; routes of ours to the network's subnets that are
   * not in the list are removed. Blocks outside the network's subnets are refused. A next
   * hop that is not directly reachable (a host on another subnet) is logged and skipped.
   */
  syncRemoteBlocks(net: NetworkRecord, blocks: readonly RemoteBlock[]): void {
    syncBlockRoutes(this.o.rtnl, net, blocks, { log: this.o.log, unroutable: this.unroutable });
    if (blocks.length) this.offloadUplinks();
  }

  async close(): Promise<void> {
    await this.o.graveyard?.settle();
    this.nftHandle?.close();
    this.nftHandle = undefined;
    this.baseReady = false;
  }
}
