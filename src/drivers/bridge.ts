/**
 * The bridge driver: one Linux bridge per network, one veth pair per endpoint.
 *
 * The sandbox end of the veth is created directly inside the sandbox's namespace
 * by a single RTM_NEWLINK (0.6 ms), instead of being created on the host and moved
 * (16 ms; docs/notes/kernel-facts.md#veth-peer-made-in-place). Removing an endpoint renames the sandbox end out
 * of the way at once and lets the kernel's ~30 ms veth deletion run off the event loop.
 */
import type { BridgeNetworkState, EndpointRecord, NetworkRecord } from '../model/records.js';
import { Rtnl } from '../kernel/netlink/index.js';
import type { AntiSpoofEndpoint, AntiSpoofFirewall, FirewallBackend, FirewallNetwork, NetworkFirewall } from '../services/firewall/contract.js';
import { LINK_ALIAS_PREFIX, LOCAL_ENDPOINT_DRIVER, type DriverCapabilities, type HostLink, type JoinOptions, type NetworkDriver, type NetworkPlanInput, type SandboxNs } from './contract.js';
import { BRIDGE_OPT, GENERIC_OPT, refuseUnimplementedOptions } from '../model/driver-options.js';
import { formatIp } from '../model/ip.js';
import { shortId } from '../model/names.js';
import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../kernel/libc.js';
import { withNetns } from '../kernel/netns.js';
import { GRAVEYARD_GROUP, type Graveyard } from './graveyard.js';
import { configureSandboxEnd, defaultRoutes } from './sandbox-end.js';
import { writeSysctl } from '../kernel/sysctl.js';
import { conflict, forbidden, internal, SwitchyardError } from '../errors.js';

/** A Linux bridge holds at most 1,024 ports (BR_PORT_BITS = 10); port 0 is never used. */
export const MAX_BRIDGE_PORTS = 1023;

export interface BridgeDriverOptions {
  /** rtnetlink in the daemon's ("host") namespace. */
  rtnl: Rtnl;
  /** Opens rtnetlink inside a sandbox namespace. */
  openRtnl: (nsPath: string) => Rtnl;
  /** The networks' rules, and the reload of them and of the anti-spoofing sets (reloadFirewall). */
  firewall: NetworkFirewall & Pick<FirewallBackend, 'reload' | 'reloadEndpointSources'>;
  /** Batched deletion of links that are out of service. */
  graveyard: Graveyard;
  /** Per-endpoint anti-spoofing (docs/SECURITY.md); absent = none. */
  antiSpoof?: AntiSpoofFirewall;
  /** Daemon-wide default MTU (--mtu). */
  defaultMtu: number;
  log: (msg: string) => void;
}

/** What the anti-spoofing sets need of an endpoint: its port, MAC and bare addresses. */
export function antiSpoofSpec(ep: EndpointRecord): AntiSpoofEndpoint {
  return {
    port: ep.hostLink!,
    mac: ep.mac,
    ...(ep.ipv4 ? { ipv4: ep.ipv4.split('/')[0]! } : {}),
    ...(ep.ipv6 ? { ipv6: ep.ipv6.split('/')[0]! } : {}),
  };
}

/** The bridge driver's part of a network record (planned at create). */
export function bridgeOf(net: NetworkRecord): BridgeNetworkState {
  if (net.state.driver !== 'bridge') throw internal('NOT_A_BRIDGE_NETWORK', `network ${net.name} is not a bridge network (driver ${net.driver})`);
  return net.state;
}

export function bridgeMtu(net: NetworkRecord, defaultMtu: number): number {
  return bridgeOf(net).options.mtu || defaultMtu;
}

export function firewallSpec(net: NetworkRecord): FirewallNetwork {
  const { bridge, options } = bridgeOf(net);
  return {
    bridge,
    subnets: net.pools.map((p) => p.subnet),
    icc: options.enableIcc,
    masquerade: options.enableIpMasquerade,
    internal: net.internal,
  };
}

/**
 * The marks on the links this driver makes (IFLA_IFALIAS): reconcile deletes a link only
 * when its driver recognises the mark, so a user's link named like ours (`sy-uplink`) is
 * never touched. `switchyard system reset` deletes every link whose alias starts with
 * LINK_ALIAS_PREFIX.
 */
export const BRIDGE_ALIAS = `${LINK_ALIAS_PREFIX}bridge:`;
export const VETH_ALIAS = `${LINK_ALIAS_PREFIX}veth:`;
export const bridgeAlias = (net: NetworkRecord): string => `${BRIDGE_ALIAS}${net.id.slice(0, 12)}`;
export const vethAlias = (ep: EndpointRecord): string => `${VETH_ALIAS}${ep.id.slice(0, 12)}`;

const prefixOf = (cidr: string): string => cidr.split('/')[1]!;
const isV6 = (addr: string): boolean => addr.includes(':');

export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';
  readonly capabilities: DriverCapabilities = { ...LOCAL_ENDPOINT_DRIVER, predefined: 'bridge' };

  constructor(private readonly o: BridgeDriverOptions) {}

  /** The bridge device: `-o com.docker.network.bridge.name`, else `sy-<id12>` (`sy0` for the default network). */
  planNetwork(i: NetworkPlanInput): BridgeNetworkState {
    const options = i.options;
    if (options.driver !== 'bridge') throw internal('DRIVER_OPTIONS_MISMATCH', `bridge driver given ${options.driver} options`);
    if (!i.predefined) refuseUnimplementedOptions(options);
    const bridge = options.bridgeName || `sy-${shortId(i.id)}`;
    for (const n of i.others) {
      if (n.state.driver === 'bridge' && n.state.bridge === bridge) throw conflict('BRIDGE_NAME_IN_USE', `bridge name ${bridge} is already used by network ${n.name}`);
    }
    return { driver: 'bridge', bridge, options };
  }

  /** The default network's options as Docker shows them for docker0; its bridge is `sy0`. */
  predefinedOptions(daemon: { mtu: number; defaultBindIp: string }): Record<string, string> {
    return {
      [BRIDGE_OPT.defaultBridge]: 'true',
      [BRIDGE_OPT.enableIcc]: 'true',
      [BRIDGE_OPT.enableIpMasquerade]: 'true',
      [BRIDGE_OPT.hostBindingIpv4]: daemon.defaultBindIp,
      [BRIDGE_OPT.name]: 'sy0',
      [GENERIC_OPT.mtu]: String(daemon.mtu),
    };
  }

  networkLinks(net: NetworkRecord): string[] {
    return [bridgeOf(net).bridge];
  }

  /** The host end of the veth: `syv<first 10 of the endpoint id>`. */
  planEndpoint(_net: NetworkRecord, ep: { id: string }): { hostLink: string } {
    return { hostLink: `syv${ep.id.slice(0, 10)}` };
  }

  /** A Linux bridge holds at most 1,023 ports. */
  admit(net: NetworkRecord, attached: number): void {
    if (attached >= MAX_BRIDGE_PORTS) {
      throw forbidden(
        'BRIDGE_FULL',
        `network ${net.name} is full: a Linux bridge holds at most ${MAX_BRIDGE_PORTS} ports (BR_PORT_BITS=10); spread sandboxes over several networks`,
      );
    }
  }

  /** Published ports are DNAT'ed through the bridge; host_binding_ipv4 is the network's default host address. */
  publishTarget(net: NetworkRecord): { link: string; defaultHostIp?: string } {
    const { bridge, options } = bridgeOf(net);
    return { link: bridge, ...(options.hostBindingIpv4 ? { defaultHostIp: formatIp(options.hostBindingIpv4) } : {}) };
  }

  ensureNetwork(net: NetworkRecord): void {
    const name = bridgeOf(net).bridge;
    const mtu = bridgeMtu(net, this.o.defaultMtu);
    const br = this.o.rtnl.ensureBridge({ name, mtu, up: false });
    // security: a bridge must not learn routes from router advertisements on its own
    // segment, IPv4-only ones included (their link-local address would take a sandbox's RA
    // as the host's default route), as Docker's setupDefaultSysctl does for every bridge.
    // (A kernel without IPv6 has no such file, and takes no RA.)
    try {
      writeSysctl(['net', 'ipv6', 'conf', name, 'accept_ra'], '0');
    } catch (err) {
      if (!(err instanceof SwitchyardError && err.code === 'SYSCTL_NOT_FOUND')) throw err;
    }
    const hasV6 = net.pools.some((p) => isV6(p.subnet));
    if (hasV6) {
      writeSysctl(['net', 'ipv6', 'conf', name, 'disable_ipv6'], '0');
    }
    const inhibit = bridgeOf(net).options.inhibitIpv4;
    for (const pool of net.pools) {
      if (!pool.gateway) continue;
      if (!isV6(pool.subnet) && inhibit) continue;
      this.o.rtnl.addAddress(br.index, `${pool.gateway}/${prefixOf(pool.subnet)}`, { noDad: true });
    }
    // The mark goes with the "up" (one request); an unmarked bridge of an older release gets it here.
    const alias = bridgeAlias(net);
    this.o.rtnl.setLink(br.index, { up: true, ...(br.alias !== alias ? { alias } : {}) });
    this.o.firewall.ensureNetwork(firewallSpec(net));
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    const name = bridgeOf(net).bridge;
    this.o.firewall.deleteNetwork(name);
    const index = ifNameToIndex(name);
    // Free the name at once (a network may be created again with it); the kernel's slow
    // unregister happens later, batched with others (graveyard.ts).
    if (index) this.o.graveyard.bury(index, `syd${net.id.slice(0, 10)}`);
  }

  /** Resolves when every batched deletion has finished. */
  settle(): Promise<void> {
    return this.o.graveyard.settle();
  }

  close(): Promise<void> {
    return this.settle();
  }

  // security: deleting a sandbox's namespace takes its veths with it (no leave runs), so
  // their anti-spoofing elements go at the same moment (docs/SECURITY.md "Anti-spoofing").
  releaseSandbox(_sb: SandboxNs, endpoints: readonly { net: NetworkRecord; ep: EndpointRecord }[]): void {
    for (const { ep } of endpoints) {
      if (!ep.hostLink) continue;
      try {
        this.o.antiSpoof?.revokeEndpointSources(antiSpoofSpec(ep));
      } catch (err) {
        this.o.log(`anti-spoofing elements of ${ep.hostLink}: ${String(err)}`);
      }
    }
  }

  /** security: the networks' rules, then the anti-spoofing elements of every running endpoint (docs/SECURITY.md). */
  reloadFirewall(networks: readonly NetworkRecord[], runningEndpoints: readonly EndpointRecord[]): void {
    this.o.firewall.reload(networks.map(firewallSpec));
    this.o.firewall.reloadEndpointSources(runningEndpoints.filter((e) => e.hostLink).map(antiSpoofSpec));
  }

  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    // if_nametoindex is an ioctl (microseconds); RTM_GETLINK returns the whole link with
    // its statistics. The daemon's thread is in the host namespace outside netns windows.
    const bridge = bridgeOf(net).bridge;
    const brIndex = ifNameToIndex(bridge);
    if (!brIndex) throw conflict('BRIDGE_MISSING', `bridge ${bridge} of network ${net.name} does not exist`);
    const mtu = bridgeMtu(net, this.o.defaultMtu);
    // A sandbox restarted right after it stopped: the kernel may not have reclaimed the
    // old namespace's veth yet, and it has this endpoint's name. It is dead; take it out.
    if (ifNameToIndex(ep.hostLink!)) this.o.rtnl.deleteLink(ep.hostLink!);
    // security: the port's allowed sources are in place before it exists, so no frame of
    // this endpoint is ever bridged unchecked (docs/SECURITY.md "Anti-spoofing").
    this.o.antiSpoof?.allowEndpointSources(antiSpoofSpec(ep));
    const nsFd = open(sb.nsPath, O_RDONLY | O_CLOEXEC);
    try {
      let host: { index: number };
      try {
        host = this.o.rtnl.createVeth({
          name: ep.hostLink!,
          mtu,
          master: brIndex,
          up: true,
          peer: { name: ep.ifname, nsFd, mac: ep.mac, mtu },
        });
      } catch (err) {
        this.o.antiSpoof?.revokeEndpointSources(antiSpoofSpec(ep));
        throw err;
      }
      try {
        // A bridge port needs no IPv6 address of its own: without this, its link-local address,
        // DAD and multicast joins in the host's namespace come with every endpoint.
        writeSysctl(['net', 'ipv6', 'conf', ep.hostLink!, 'disable_ipv6'], '1');
        this.o.rtnl.batch((b) => {
          // Hairpin lets a sandbox reach its own published port through the host's address:
          // with br_netfilter the DNAT happens at bridge level, so the frame must be allowed
          // back out of the port it came in on (docs/notes/kernel-facts.md#hairpin).
          b.setBridgePort(host.index, { hairpin: true });
          // Marked as ours in the same sendmsg (the kernel ignores IFLA_IFALIAS at create).
          b.setAlias(host.index, vethAlias(ep));
          // The host may still cache this address with the MAC of its previous holder (an
          // entry stays REACHABLE for up to ~45 s): forget it, so the next packet (a published
          // port's DNAT, a reply) resolves the new MAC instead of being black-holed. The
          // gratuitous ARP below can race the bridge port's carrier and be dropped.
          for (const cidr of [ep.ipv4, ep.ipv6]) {
            if (cidr) b.deleteNeighbour({ index: brIndex, ip: cidr.split('/')[0]!, mac: ep.mac });
          }
        });
        configureSandboxEnd(nsFd, net, ep, sb, opts);
      } catch (err) {
        this.o.rtnl.deleteLink(ep.hostLink!);
        this.o.antiSpoof?.revokeEndpointSources(antiSpoofSpec(ep));
        throw err;
      }
    } finally {
      close(nsFd);
    }
  }

  setGateway(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void {
    if (net.internal) return;
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      const link = rt.getLink(ep.ifname);
      if (link) this.routes(rt, link.index, ep, gateway);
    } finally {
      rt.close();
    }
  }

  private routes(rt: Rtnl, oif: number, ep: EndpointRecord, add: boolean): void {
    for (const r of defaultRoutes(oif, ep)) {
      if (add) rt.addRoute(r);
      else rt.deleteRoute(r);
    }
  }

  async leave(_net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    // Free the interface name inside the sandbox at once (a reconnect may want it back) and
    // take its addresses away (the sandbox must not show the old address once disconnect
    // returns), in one sendmsg; then let the kernel's slow veth teardown run on the threadpool.
    try {
      const index = withNetns(sb.nsPath, () => ifNameToIndex(ep.ifname));
      if (index) {
        const rt = this.o.openRtnl(sb.nsPath);
        try {
          rt.batch((b) => {
            b.setUp(index, false);
            for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.deleteAddress(index, cidr);
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
    if (host) this.o.graveyard.bury(host);
    // security: the port's anti-spoofing elements go with it.
    try {
      this.o.antiSpoof?.revokeEndpointSources(antiSpoofSpec(ep));
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: anti-spoofing elements: ${String(err)}`);
    }
  }

  endpointPresent(net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    const link = this.o.rtnl.getLink(ep.hostLink!);
    if (!link) return false;
    const br = this.o.rtnl.getLink(bridgeOf(net).bridge);
    if (!br || link.master !== br.index) return false;
    return !sb || this.sandboxEndPresent(ep, sb);
  }

  /**
   * The sandbox end is up with its addresses. A crash between creating the veth and
   * configuring its sandbox end (join) leaves a pair that is there but down and bare.
   */
  private sandboxEndPresent(ep: EndpointRecord, sb: SandboxNs): boolean {
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      const peer = rt.getLink(ep.ifname);
      if (!peer || !peer.up) return false;
      const have = new Set(rt.listAddresses(peer.index).map((a) => a.cidr));
      return (!ep.ipv4 || have.has(ep.ipv4)) && (!ep.ipv6 || have.has(ep.ipv6));
    } finally {
      rt.close();
    }
  }

  /** Only marked links (and links already out of service in the graveyard's group). */
  ownsLink(link: HostLink): boolean {
    return !!link.alias && (link.alias.startsWith(BRIDGE_ALIAS) || link.alias.startsWith(VETH_ALIAS)) || link.group === GRAVEYARD_GROUP;
  }
}
