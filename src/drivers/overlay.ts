/**
 * The overlay driver (Docker's `-d overlay`, moby libnetwork/drivers/overlay): a network
 * that spans the hosts of a cluster as a VXLAN segment. On each host that runs one of its
 * endpoints, the network has a namespace of its own (pinned as `<dir>/1-<netid10>`), holding
 * its VXLAN device; every endpoint is a port on that device (overlay-ports.ts): a macvlan in
 * the sandbox (direct, for a sealed sandbox) or a veth joined to a macvlan with the
 * sandbox's MAC (guarded). The VXLAN device is created from the daemon's namespace, so its
 * UDP socket lives on the underlay (data-path address and port), and then lives inside the
 * network's namespace, which has no other way in or out: no addresses, no routes, nothing to
 * the host.
 *
 * No flood and learn: learning is off, there is no all-zeros (flood) FDB entry, and the
 * VXLAN device answers ARP and neighbour solicitations itself (proxy) from the permanent
 * neighbour entries the cluster layer's peers become (syncPeers/peerJoin/peerLeave): a frame
 * for an unknown MAC is dropped, never broadcast over the underlay. docs/drivers/overlay.md.
 *
 * Egress and `-p` are not the overlay's: the engine gives the sandbox an endpoint on the
 * local gateway bridge (engine/gateway-bridge.ts), and an overlay endpoint never carries the
 * default route.
 *
 * `-o encrypted` (overlay-encryption.ts): probed at create (OVERLAY_ENCRYPTION_UNSUPPORTED,
 * nothing made) and at every ensureNetwork; the key ring comes from the cluster layer
 * (newSecret/syncSecret); the peer *hosts* of the network go to the encryption after every
 * peer change, which keeps this host's ESP SAs and policies for exactly them.
 *
 * Anti-spoofing (docs/SECURITY.md, docs/drivers/overlay.md "Anti-spoofing"): each port is
 * checked before it can send, by the rules of the bridge driver's check, in a
 * `table netdev switchyard`: a direct port's on its own egress in the sandbox's namespace, a
 * guarded port's on its veth end's ingress in the network's (services/firewall/overlay-ports.ts);
 * reloadFirewall restores them. The VXLAN device is not checked (remote frames were checked
 * on the host they came from).
 */
import * as path from 'node:path';
import type { EndpointRecord, NetworkRecord, OverlayNetworkState } from '../model/records.js';
import type { AntiSpoofEndpoint } from '../services/firewall/contract.js';
import type { GuardedPort, OverlayPorts } from './overlay-ports.js';
import { NetlinkError, type LinkInfo, type Rtnl } from '../kernel/netlink/index.js';

import { close, ifNameToIndex, open, O_CLOEXEC, O_RDONLY } from '../kernel/libc.js';
import { deleteNetns, ensureNetns, ensureNetnsDir, isNetnsMount, pinnedNetnsId, withNetns, withNetnsFd } from '../kernel/netns.js';
import { writeSysctl } from '../kernel/sysctl.js';
import type { DriverCapabilities, HostLink, JoinOptions, NetworkDriver, NetworkPlanInput, PeerEndpoint, SandboxNs, SecretRotationInput } from './contract.js';
import { configureSandboxEnd, sandboxEndPresent, type NeighbourRetry } from './sandbox-end.js';
import {
  chooseVni, isOverlayAlias, overlayAlias, overlayLinkNames, overlayMtu, overlayNsName, overlayOf, overlayProxyName, overlayVethName, peerDiff, peerEntries,
  vniClaim, type PeerEntries,
} from './overlay-plan.js';
import { conflict, internal, notImplemented, SwitchyardError, unavailable } from '../errors.js';
import { keyRingReport, rotateKeyRing, type OverlayEncryption } from './overlay-encryption.js';
import { GRAVEYARD_GROUP } from './graveyard.js';

/** errno of a request on a device index that does not exist (any more). */
const ENODEV_ERRNO = 19;

/** How long a left endpoint's pair waits for others to be deleted with it (graveyard.ts). */
const BURY_DELAY_MS = 100;

/**
 * The overlay sandbox end asks for an unknown neighbour every 40 ms, 75 times (3 s, the
 * kernel's own patience: 3 × 1000 ms). An ARP request or neighbour solicitation sent there
 * never leaves the host: the VXLAN device answers it from its permanent entries or drops it
 * (no flood). With the kernel's 1 s retry, a sandbox that asked for a peer a moment before
 * this host learned it from the cluster (peerJoin) waited up to a second more for the
 * answer: the ~1.1 s p99 of `run -d` on one host → first ping from another
 * (docs/BENCHMARKS.md, "Overlay across the cluster lab"; test/e2e/overlay-arp-retry.test.ts).
 */
export const OVERLAY_NEIGHBOUR_RETRY: NeighbourRetry = { retransMs: 40, solicit: 75 };

const noEncryption = (name: string) =>
  unavailable('OVERLAY_ENCRYPTION_UNSUPPORTED', `network ${name}: -o encrypted is not available on this daemon (no encryption support was configured)`);

/** Where this host's VXLAN traffic leaves and arrives (the daemon's --data-path-addr/--data-path-port). */
export interface OverlayDataPath {
  dataPathAddress: string;
  dataPathPort: number;
}

export interface OverlayDriverOptions {
  /** rtnetlink in the daemon's namespace (the underlay's). */
  rtnl: Rtnl;
  /** Opens rtnetlink inside a namespace (a sandbox's, or an overlay network's). */
  openRtnl: (nsPath: string) => Rtnl;
  /** Where the networks' namespaces are pinned (`<exec root>/overlay`); absent = ensureNetwork fails. */
  nsDir?: string;
  /** The data path (absent on a daemon without a cluster: ensureNetwork fails with a clear error). */
  cluster?: OverlayDataPath;
  /** `-o encrypted` (absent: encrypted networks are refused with OVERLAY_ENCRYPTION_UNSUPPORTED). */
  encryption?: OverlayEncryption;
  /**
   * The ports' nftables (overlay-ports.ts): a guarded port's forwarding always, the source
   * checks when the daemon has a firewall.
   */
  ports: OverlayPorts;
  log: (msg: string) => void;
}

/** What the anti-spoofing sets need of an endpoint's port: its name, MAC and bare addresses. */
function portSpec(port: string, ep: EndpointRecord): AntiSpoofEndpoint {
  return {
    port,
    mac: ep.mac,
    ...(ep.ipv4 ? { ipv4: bare(ep.ipv4) } : {}),
    ...(ep.ipv6 ? { ipv6: bare(ep.ipv6) } : {}),
  };
}

/** A guarded port: its veth end in the network's namespace is checked, its proxy macvlan carries it. */
export function guardedPort(ep: EndpointRecord): GuardedPort {
  return { spec: portSpec(overlayVethName(ep.id), ep), proxy: overlayProxyName(ep.id) };
}

/**
 * A guarded port's veth end and proxy, each deleted if present (in the network's namespace).
 * Each is tried; the first failure is thrown after both.
 */
function deleteGuardedDevices(rt: Rtnl, g: GuardedPort): void {
  let first: unknown;
  for (const name of [g.spec.port, g.proxy]) {
    try {
      if (rt.getLink(name)) rt.deleteLink(name);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/** A direct port: the sandbox's own interface is checked, on its egress. */
export function directPortSpec(ep: EndpointRecord): AntiSpoofEndpoint {
  return portSpec(ep.ifname, ep);
}

/** The overlay networks' namespaces are pinned in this directory of the exec root (`system reset` names them). */
export const OVERLAY_NS_SUBDIR = 'overlay';

const noCluster = (what: string) =>
  unavailable('OVERLAY_NO_CLUSTER', `${what} needs this daemon to be part of a cluster (a cluster store, and a data-path address for the VXLAN traffic); it has none`);

const bare = (cidr: string): string => cidr.split('/')[0]!;

const isV6 = (addr: string): boolean => addr.includes(':');

export class OverlayDriver implements NetworkDriver {
  readonly name = 'overlay';
  readonly capabilities: DriverCapabilities = {
    scope: 'global',
    needsIpam: true,
    creatable: true,
    singleton: false,
    attach: 'endpoint',
    handsOverLinks: false,
  };

  /** Network id → its VXLAN device's index here (vxlanIndex). */
  private readonly vxIndex = new Map<string, number>();
  /**
   * Network id → its ports' MTU here, as ensureNetwork set it on the VXLAN device (from the
   * underlay): a join does not look the underlay up.
   */
  private readonly mtuOf = new Map<string, number>();
  /** Endpoint id → the sandbox namespace of its direct port (the watchdog checks its table). */
  private readonly direct = new Map<string, string>();
  /**
   * Ports joined held (JoinOptions.held), by endpoint id: the link `release` brings up. Direct:
   * the port in the sandbox, with a socket kept open there (`rt`); guarded: its proxy.
   */
  private readonly heldPorts = new Map<string, { index: number; rt?: Rtnl }>();
  /** Namespace pins of the networks ensureNetwork made or verified here, until deleteNetwork. */
  private readonly ensured = new Set<string>();
  /**
   * Network namespace pin → rtnetlink kept inside it, with the namespace's inode (netRt).
   * Opening a socket there costs two setns and a 64 KB buffer, on every join and on every
   * peer event of every host taking part (the largest item of a participating daemon's CPU
   * profile, docs/CLUSTER.md). Closed by removeNs, and when a namespace is made anew at the pin.
   */
  private readonly netRts = new Map<string, { rt: Rtnl; ino: bigint }>();

  constructor(private readonly o: OverlayDriverOptions) {}

  /**
   * The VNI (asked, or the lowest free from 4096). Refused on a daemon without a cluster
   * (nothing is made), and `-o encrypted` and an interface prefix for now.
   */
  planNetwork(i: NetworkPlanInput): OverlayNetworkState {
    const options = i.options;
    if (options.driver !== 'overlay') throw internal('DRIVER_OPTIONS_MISMATCH', `overlay driver given ${options.driver} options`);
    if (!this.o.cluster) throw noCluster(`overlay network ${i.name}`);
    if (options.encrypted) {
      // Probed on the creating host before anything is written (nothing made on refusal).
      if (!this.o.encryption) throw noEncryption(i.name);
      this.o.encryption.probe();
    }
    if (options.containerIfacePrefix) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'option com.docker.network.container_iface_prefix is not implemented yet by the overlay driver (sandbox interfaces are named eth0, eth1, ...)', 'Options.com.docker.network.container_iface_prefix');
    }
    if (options.hostIpv4 || options.hostIpv6) {
      throw notImplemented('OPTION_NOT_IMPLEMENTED', 'options com.docker.network.host_ipv4/host_ipv6 are not implemented by the overlay driver (it has no egress of its own yet)', `Options.com.docker.network.host_ipv${options.hostIpv4 ? 4 : 6}`);
    }
    return { driver: 'overlay', vni: chooseVni(options.vxlanIds, i.others), options };
  }

  uniqueClaims(net: NetworkRecord): string[] {
    return [vniClaim(overlayOf(net).vni)];
  }

  /** An encrypted network's key ring (docs/drivers/overlay-encryption.md), written in its create txn. */
  newSecret(net: NetworkRecord): string | undefined {
    const { vni, options } = overlayOf(net);
    if (!options.encrypted) return undefined;
    if (!this.o.encryption) throw noEncryption(net.name);
    return this.o.encryption.newRing({ id: net.id, vni }, new Date());
  }

  /** The ring now in the store; true when this host applied it (it takes part in the network). */
  syncSecret(net: NetworkRecord, secret: string): boolean {
    if (!overlayOf(net).options.encrypted || !this.o.encryption) return false;
    return this.o.encryption.setRing(net.id, secret);
  }

  secretReport(_net: NetworkRecord, secret: string, nodeId: string): string {
    return keyRingReport(secret, nodeId);
  }

  rotateSecret(net: NetworkRecord, secret: string, input: SecretRotationInput): string | undefined {
    return overlayOf(net).options.encrypted ? rotateKeyRing(secret, input) : undefined;
  }

  /** Hands the encryption the data-path addresses of the hosts the network's VXLAN device now sends to. */
  private syncPeerHosts(net: NetworkRecord, hosts: readonly string[]): void {
    if (overlayOf(net).options.encrypted) this.o.encryption?.syncPeers(net.id, hosts);
  }

  /** Nothing in the daemon's namespace: the bridge and the VXLAN device live in the network's own. */
  networkLinks(_net: NetworkRecord): string[] {
    return [];
  }

  planEndpoint(_net: NetworkRecord, _ep: { id: string; ifname: string }): { hostLink?: string } {
    return {};
  }

  /** The pin of the network's namespace on this host. */
  nsPath(net: NetworkRecord): string {
    if (!this.o.nsDir) throw internal('OVERLAY_NO_NS_DIR', 'the overlay driver was given no directory for its namespaces (the exec root)');
    return path.join(this.o.nsDir, overlayNsName(net.id));
  }

  private dataPath(net: NetworkRecord): OverlayDataPath {
    if (!this.o.cluster) throw noCluster(`overlay network ${net.name}`);
    return this.o.cluster;
  }

  /** The link holding the data-path address (the underlay), its MTU and family. */
  private underlay(dp: OverlayDataPath): { link: LinkInfo; family: 4 | 6 } {
    const held = this.o.rtnl.listAddresses().find((a) => bare(a.cidr) === dp.dataPathAddress);
    const link = held ? this.o.rtnl.getLink(held.index) : null;
    if (!link) {
      throw conflict('DATA_PATH_ADDRESS_MISSING', `the data-path address ${dp.dataPathAddress} is not on any interface of this host`);
    }
    return { link, family: isV6(dp.dataPathAddress) ? 6 : 4 };
  }

  /** The overlay MTU on this host (underlay MTU less the encapsulation, or driver.mtu within that limit). */
  mtu(net: NetworkRecord): number {
    const { options } = overlayOf(net);
    const { link, family } = this.underlay(this.dataPath(net));
    return overlayMtu({ underlayMtu: link.mtu, underlayFamily: family, asked: options.mtu, encryptionOverhead: options.encrypted ? this.o.encryption?.overhead(link.mtu, family) ?? 0 : 0, underlayName: link.name });
  }

  /**
   * Makes or verifies the network's namespace, bridge and VXLAN device (idempotent). A
   * namespace this call made is removed again if a later step fails.
   */
  ensureNetwork(net: NetworkRecord): void {
    this.vxIndex.delete(net.id);
    this.mtuOf.delete(net.id);
    const state = overlayOf(net);
    if (state.options.encrypted) {
      // A host that cannot encrypt refuses to take part rather than send in clear.
      if (!this.o.encryption) throw noEncryption(net.name);
      this.o.encryption.probe();
    }
    const dp = this.dataPath(net);
    const mtu = this.mtu(net);
    const nsPath = this.nsPath(net);
    ensureNetnsDir(this.o.nsDir!);
    const fresh = !isNetnsMount(nsPath);
    // A context kept for a namespace that was at this path before is no use any more.
    if (fresh) {
      this.o.ports.release(nsPath);
      this.dropNetRt(nsPath);
    }
    ensureNetns(nsPath);
    try {
      // The SAs, the block policy and the marks before the VXLAN device can send anything.
      if (state.options.encrypted) this.o.encryption!.ensureNetwork(net.id, dp);
      this.ensureInside(net, nsPath, dp, mtu);
      this.ensured.add(nsPath);
    } catch (err) {
      if (fresh) this.removeNs(net, nsPath);
      if (fresh && state.options.encrypted) this.o.encryption!.deleteNetwork(net.id);
      throw err;
    }
  }

  private ensureInside(net: NetworkRecord, nsPath: string, dp: OverlayDataPath, mtu: number): void {
    const { vni } = overlayOf(net);
    const names = overlayLinkNames(net);
    // No address on anything in the namespace, not even an IPv6 link-local one
    // (addr_gen_mode 1 = none, for every device made after this), so nothing can talk to it.
    // IPv6 itself stays on: the VXLAN device's IPv6 neighbour entries (its ND proxy) need it.
    withNetns(nsPath, () => writeSysctl(['net', 'ipv6', 'conf', 'default', 'addr_gen_mode'], '1'));
    // The guarded ports' forwarding and checks (security: the checks' table before any port).
    this.o.ports.ensureNetwork(nsPath);
    const rt = this.o.openRtnl(nsPath);
    try {
      // A bridge made by an older Switchyard (veth ports on a bridge with the VXLAN device):
      // its ports are made again as direct or guarded ones (reconcile re-joins them).
      const old = rt.getLink(names.bridge);
      if (old && old.alias === overlayAlias('bridge', net.id)) rt.deleteLink(old.index);
      let vx = rt.getLink(names.vxlan);
      const d = vx?.data?.kind === 'vxlan' ? vx.data : undefined;
      if (vx && !(d && d.vni === vni && d.local === dp.dataPathAddress && d.port === dp.dataPathPort && d.learning === false)) {
        // Made for another data path (the daemon's flags changed): make it again.
        this.o.log(`overlay ${net.name}: VXLAN device ${names.vxlan} does not match VNI ${vni} ${dp.dataPathAddress}:${dp.dataPathPort}: recreating it`);
        rt.deleteLink(vx.index);
        vx = null;
      }
      if (!vx) {
        // Created by the daemon's socket, inside the network's namespace: the kernel opens the
        // UDP socket in the requester's namespace (the underlay), the device lives in the other.
        const nsFd = open(nsPath, O_RDONLY | O_CLOEXEC);
        try {
          this.o.rtnl.createTypedLink({
            kind: 'vxlan', name: names.vxlan, vni, local: dp.dataPathAddress, port: dp.dataPathPort, learning: false, proxy: true,
            mtu, alias: overlayAlias('vxlan', net.id), nsFd,
          });
        } finally {
          close(nsFd);
        }
        vx = rt.getLink(names.vxlan);
        if (!vx) throw conflict('ENDPOINT_LINK_MISSING', `VXLAN device ${names.vxlan} did not appear in the namespace of network ${net.name}`);
      }
      if (vx.master !== undefined || !vx.up || vx.mtu !== mtu) rt.setLink(vx.index, { ...(vx.master !== undefined ? { master: null } : {}), up: true, mtu });
      this.vxIndex.set(net.id, vx.index);
      // Ports buried by leave() whose deletion a stop or crash cut short.
      if (rt.listLinks().some((l) => l.group === GRAVEYARD_GROUP)) this.buryLater(nsPath);
      this.mtuOf.set(net.id, mtu);
    } finally {
      rt.close();
    }
  }

  /** Deletes the VXLAN device first (it frees the VNI on the underlay's socket at once), then the namespace. */
  private removeNs(net: NetworkRecord, nsPath: string): void {
    this.vxIndex.delete(net.id);
    this.mtuOf.delete(net.id);
    const rt = this.netRt(nsPath);
    try {
      rt?.deleteLink(overlayLinkNames(net).vxlan);
    } finally {
      // It, and its nftables context, would keep the namespace alive.
      this.dropNetRt(nsPath);
    }
    this.o.ports.release(nsPath);
    deleteNetns(nsPath);
  }

  async deleteNetwork(net: NetworkRecord): Promise<void> {
    if (this.o.nsDir) this.ensured.delete(this.nsPath(net));
    this.vxIndex.delete(net.id);
    this.mtuOf.delete(net.id);
    // Its buried ports go with the namespace.
    if (this.o.nsDir) {
      const nsPath = this.nsPath(net);
      clearTimeout(this.burials.get(nsPath));
      this.burials.delete(nsPath);
    }
    // The VXLAN device first, so the network's last packets are not sent in clear; then its SAs.
    if (this.o.nsDir) this.removeNs(net, this.nsPath(net));
    if (overlayOf(net).options.encrypted) this.o.encryption?.deleteNetwork(net.id);
  }

  /**
   * A direct port for a sealed sandbox, a guarded one otherwise (overlay-ports.ts; the
   * choice and why: docs/drivers/overlay.md "Ports").
   */
  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void {
    const nsPath = this.nsPath(net);
    const rt = this.netRt(nsPath);
    if (!rt) throw conflict('OVERLAY_NETWORK_MISSING', `network ${net.name} has no namespace on this host (ensureNetwork first)`);
    let nsFd = -1;
    try {
      nsFd = open(sb.nsPath, O_RDONLY | O_CLOEXEC);
      const mtu = this.mtuOf.get(net.id) ?? this.mtu(net);
      this.dropHeld(ep.id);
      if (opts.sealed) this.joinDirect(rt, net, ep, sb, nsFd, mtu, !!opts.held);
      else {
        // What an earlier join left (a crash after a create, a port of the other kind: the
        // sandbox's capabilities changed, an older layout) is cleared first.
        this.clearPort(rt, net, ep, sb, nsFd);
        this.joinGuarded(rt, net, ep, sb, nsFd, nsPath, mtu, !!opts.held);
      }
    } finally {
      if (nsFd >= 0) close(nsFd);
    }
  }

  /** Whatever an earlier join of this endpoint left, in the sandbox and in the network's namespace. */
  private clearPort(rt: Rtnl, net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, nsFd: number): void {
    if (withNetnsFd(nsFd, () => ifNameToIndex(ep.ifname))) {
      this.o.ports.closeDirect(sb.nsPath, directPortSpec(ep));
      this.deleteInSandbox(sb, ep.ifname);
    }
    const g = guardedPort(ep);
    // Both looked up: a proxy can outlive its veth end (a crash between their deletions).
    if (rt.getLink(g.spec.port) || rt.getLink(g.proxy)) {
      this.o.ports.closeGuarded(this.nsPath(net), g);
      deleteGuardedDevices(rt, g);
    }
  }

  /** A macvlan on the VXLAN device, made in the sandbox's namespace; its check on its egress before it is up. */
  private joinDirect(rt: Rtnl, net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, nsFd: number, mtu: number, held: boolean): void {
    const make = (vx: number) => rt.createTypedLink({ kind: 'macvlan', parent: vx, mode: 'bridge', name: ep.ifname, mac: ep.mac, mtu, nsFd });
    // What an earlier join left is cleared first, with one look-up on the happy path: a
    // guarded port's proxy (it can outlive its veth: a crash between their deletions) holds
    // the endpoint's MAC on the VXLAN device, and bringing the new port up would fail
    // (EADDRINUSE); anything in the sandbox by the interface's name (a direct port a crash
    // left, a guarded port's veth end) makes the create fail (LINK_EXISTS), and then the
    // port is cleared and made once more.
    if (rt.getLink(guardedPort(ep).proxy)) this.clearPort(rt, net, ep, sb, nsFd);
    try {
      this.withVxlan(net, rt, 'join', make);
    } catch (err) {
      if (!(err instanceof SwitchyardError && err.code === 'LINK_EXISTS')) throw err;
      this.clearPort(rt, net, ep, sb, nsFd);
      this.withVxlan(net, rt, 'join', make);
    }
    const spec = directPortSpec(ep);
    try {
      // security: checked before it can send (it is down until configureSandboxEnd, or until release when held).
      this.o.ports.openDirect(sb.nsPath, spec);
      this.direct.set(ep.id, sb.nsPath);
      // No default route through the overlay: its egress is the gateway bridge's (engine/gateway-bridge.ts).
      const end = configureSandboxEnd(nsFd, net, ep, sb, { gateway: false, held }, OVERLAY_NEIGHBOUR_RETRY);
      if (end) this.heldPorts.set(ep.id, end);
    } catch (err) {
      this.direct.delete(ep.id);
      this.undo(`join ${ep.id.slice(0, 12)}`, () => this.deleteInSandbox(sb, ep.ifname));
      this.undo(`join ${ep.id.slice(0, 12)}`, () => this.o.ports.closeDirect(sb.nsPath, spec));
      throw err;
    }
  }

  /**
   * A veth into the sandbox and a macvlan with the sandbox's MAC on the VXLAN device, joined by
   * forwarding chains (the check on the veth end's) before either is up.
   */
  private joinGuarded(rt: Rtnl, net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, nsFd: number, nsPath: string, mtu: number, held: boolean): void {
    const g = guardedPort(ep);
    const end = rt.createVeth({ name: g.spec.port, mtu, peer: { name: ep.ifname, nsFd, mac: ep.mac, mtu } });
    try {
      rt.setAlias(end.index, overlayAlias('veth', ep.id));
      const proxy = this.withVxlan(net, rt, 'join', (vx) =>
        rt.createTypedLink({ kind: 'macvlan', parent: vx, mode: 'bridge', name: g.proxy, mac: ep.mac, mtu, alias: overlayAlias('proxy', ep.id) }),
      );
      this.o.ports.openGuarded(nsPath, g);
      // Held: the proxy stays down, so nothing passes between the veth and the VXLAN device.
      rt.batch((b) => {
        b.setUp(end.index);
        if (!held) b.setUp(proxy.index);
      });
      configureSandboxEnd(nsFd, net, ep, sb, { gateway: false }, OVERLAY_NEIGHBOUR_RETRY);
      if (held) this.heldPorts.set(ep.id, { index: proxy.index });
    } catch (err) {
      this.undo(`join ${ep.id.slice(0, 12)}`, () => this.o.ports.closeGuarded(nsPath, g));
      this.undo(`join ${ep.id.slice(0, 12)}`, () => deleteGuardedDevices(rt, g));
      throw err;
    }
  }

  /** `fn` with the VXLAN device's index; once more with a fresh look-up if that device was made again (ENODEV). */
  private withVxlan<T>(net: NetworkRecord, rt: Rtnl, what: string, fn: (vx: number) => T): T {
    try {
      return fn(this.vxlanIndex(net, rt, what));
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errno === ENODEV_ERRNO)) throw err;
      this.vxIndex.delete(net.id);
      return fn(this.vxlanIndex(net, rt, what));
    }
  }

  /**
   * rtnetlink in the network's namespace pinned at `nsPath`, kept (do not close it), or
   * undefined when nothing is pinned there. One stat of the pin per call: a namespace made
   * anew at the pin (another inode) gets a new socket, and the old one is closed.
   */
  private netRt(nsPath: string): Rtnl | undefined {
    const id = pinnedNetnsId(nsPath);
    const kept = this.netRts.get(nsPath);
    if (kept && kept.ino === id) return kept.rt;
    this.dropNetRt(nsPath);
    if (id === undefined) return undefined;
    const rt = this.o.openRtnl(nsPath);
    this.netRts.set(nsPath, { rt, ino: id });
    return rt;
  }

  /** The daemon stops: the sockets kept in the networks' namespaces are closed (they would keep them alive). */
  async close(): Promise<void> {
    for (const nsPath of [...this.netRts.keys()]) this.dropNetRt(nsPath);
  }

  /** Closes the socket kept in the namespace at `nsPath` (it would keep that namespace alive). */
  private dropNetRt(nsPath: string): void {
    const kept = this.netRts.get(nsPath);
    if (!kept) return;
    this.netRts.delete(nsPath);
    kept.rt.close();
  }

  private hasLink(nsPath: string, name: string): boolean {
    return !!this.netRt(nsPath)?.getLink(name);
  }

  private undo(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.o.log(`${what}: undo: ${String(err)}`);
    }
  }

  /**
   * The sandbox's namespace went with its interfaces (no leave ran): a direct port's check
   * went with it; a guarded port's proxy macvlan and chains are left in the network's namespace.
   */
  releaseSandbox(sb: SandboxNs, endpoints: readonly { net: NetworkRecord; ep: EndpointRecord }[]): void {
    for (const { ep } of endpoints) this.direct.delete(ep.id);
    this.o.ports.release(sb.nsPath);
    if (!this.o.nsDir) return;
    for (const { net, ep } of endpoints) {
      const nsPath = this.nsPath(net);
      if (!isNetnsMount(nsPath)) continue; // gone with the network's namespace
      const g = guardedPort(ep);
      this.undo(`release ${g.proxy}`, () => this.o.ports.closeGuarded(nsPath, g));
      this.undo(`release ${g.proxy}`, () => {
        const rt = this.o.openRtnl(nsPath);
        try {
          deleteGuardedDevices(rt, g);
        } finally {
          rt.close();
        }
      });
    }
  }

  /**
   * security: false when a namespace of a network set up here (ensureNetwork, not yet
   * deleteNetwork) has lost its table, or a direct port's sandbox has lost its check (the
   * daemon's watchdog, every 2 s, then runs the engine's firewall reload, which calls
   * reloadFirewall below).
   */
  firewallComplete(): boolean {
    for (const nsPath of this.ensured) if (isNetnsMount(nsPath) && !this.o.ports.networkPresent(nsPath)) return false;
    const sandboxes = new Set<string>();
    for (const [epId, sbNs] of this.direct) {
      if (isNetnsMount(sbNs)) sandboxes.add(sbNs);
      else this.direct.delete(epId);
    }
    for (const sbNs of sandboxes) if (!this.o.ports.directPresent(sbNs)) return false;
    return true;
  }

  /**
   * security: every network with a namespace on this host gets its table back, holding
   * exactly its running guarded ports; every sandbox with direct ports gets its check back
   * (start-up, `firewall reload`, the watchdog). Which kind a port is, the kernel says: a
   * guarded port has its veth end in the network's namespace.
   */
  reloadFirewall(networks: readonly NetworkRecord[], runningEndpoints: readonly EndpointRecord[], sandboxNs?: (sandboxId: string) => string | undefined): void {
    if (!this.o.nsDir) return;
    // One namespace that fails does not leave the others unrestored; the first failure is
    // thrown at the end (the caller reports it).
    let first: unknown;
    const directBySandbox = new Map<string, AntiSpoofEndpoint[]>();
    for (const net of networks) {
      const nsPath = this.nsPath(net);
      if (!isNetnsMount(nsPath)) continue;
      try {
        const rt = this.o.openRtnl(nsPath);
        let names: Set<string>;
        try {
          names = new Set(rt.listLinks().map((l) => l.name));
        } finally {
          rt.close();
        }
        const mine = runningEndpoints.filter((e) => e.networkId === net.id);
        this.o.ports.reloadNetwork(nsPath, mine.filter((e) => names.has(overlayVethName(e.id))).map(guardedPort));
        for (const ep of mine) {
          if (names.has(overlayVethName(ep.id))) continue;
          const sbNs = sandboxNs?.(ep.sandboxId);
          if (!sbNs || !isNetnsMount(sbNs)) continue;
          directBySandbox.set(sbNs, [...(directBySandbox.get(sbNs) ?? []), directPortSpec(ep)]);
          this.direct.set(ep.id, sbNs);
        }
      } catch (err) {
        this.o.log(`overlay ${net.name}: firewall reload: ${String(err)}`);
        first ??= err;
      }
    }
    for (const [sbNs, specs] of directBySandbox) {
      try {
        this.o.ports.reloadSandbox(sbNs, specs);
      } catch (err) {
        this.o.log(`overlay: direct ports' check in ${sbNs}: ${String(err)}`);
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  private deleteInSandbox(sb: SandboxNs, ifname: string): void {
    const rt = this.o.openRtnl(sb.nsPath);
    try {
      rt.deleteLink(ifname);
    } finally {
      rt.close();
    }
  }

  /** A held port passes traffic: its one link comes up (a direct port's announces the address then: arp_notify). */
  release(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): void {
    const h = this.heldPorts.get(ep.id);
    if (!h) throw conflict('ENDPOINT_NOT_HELD', `endpoint ${ep.id.slice(0, 12)} on ${net.name} was not joined held`);
    this.heldPorts.delete(ep.id);
    if (h.rt) {
      try {
        h.rt.setLink(h.index, { up: true });
      } finally {
        h.rt.close();
      }
      return;
    }
    const rt = this.netRt(this.nsPath(net));
    if (!rt) throw conflict('OVERLAY_NETWORK_MISSING', `network ${net.name} has no namespace on this host`);
    rt.setLink(h.index, { up: true });
  }

  private dropHeld(id: string): void {
    const h = this.heldPorts.get(id);
    if (!h) return;
    this.heldPorts.delete(id);
    h.rt?.close();
  }

  /**
   * Takes the endpoint out of service at once and leaves the slow part for later, as the
   * bridge driver does (graveyard.ts): deleting a device costs an RCU grace period (~18 ms of
   * a detach's ~22 here, docs/BENCHMARKS.md "Cluster"). The sandbox's interface goes down
   * without its addresses and under another name (a reconnect may want the name back) in one
   * request, into Switchyard's device group; a guarded port's devices in the network's
   * namespace go down into that group too; each group is deleted a moment later, one grace
   * period per batch, on the threadpool. deleteNetwork takes the whole namespace instead.
   */
  async leave(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    this.dropHeld(ep.id);
    if (!this.o.nsDir) return;
    const nsPath = this.nsPath(net);
    if (!isNetnsMount(nsPath)) return;
    const g = guardedPort(ep);
    // Which kind: a guarded port has its veth end in the network's namespace.
    const direct = this.direct.get(ep.id) ?? (this.hasLink(nsPath, g.spec.port) ? undefined : sb.nsPath || undefined);
    this.direct.delete(ep.id);
    if (direct) return this.leaveDirect(ep, direct);
    try {
      const index = sb.nsPath ? withNetns(sb.nsPath, () => ifNameToIndex(ep.ifname)) : 0;
      if (index) {
        const srt = this.o.openRtnl(sb.nsPath);
        try {
          srt.batch((b) => {
            b.setUp(index, false);
            for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.deleteAddress(index, cidr);
            b.rename(index, `syd${ep.id.slice(0, 10)}`);
          });
        } finally {
          srt.close();
        }
      }
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
    }
    try {
      const rt = this.netRt(nsPath);
      let buried = false;
      for (const name of [g.spec.port, g.proxy]) {
        const link = rt?.getLink(name);
        if (!link) continue;
        rt!.setLink(link.index, { up: false, group: GRAVEYARD_GROUP });
        buried = true;
      }
      if (buried) this.buryLater(nsPath);
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: ${String(err)}`);
    }
    // After the devices are down: nothing is forwarded any more.
    this.undo(`leave ${ep.id.slice(0, 12)}: its chains`, () => this.o.ports.closeGuarded(nsPath, g));
  }

  /**
   * A direct port goes out of service at once: its addresses and its elements go (its chain,
   * left without elements, drops whatever it still sends). Then the macvlan is deleted, off
   * the event loop (the kernel waits for an RCU grace period: 6-19 ms of a detach here,
   * measured 2026-12-03), and only then its chain. It is not buried for later like a guarded
   * port's devices: buried in the sandbox's namespace, a crash in between would leave it
   * there for good, and its name must be free when the call returns (a connect right after
   * may want it).
   */
  private async leaveDirect(ep: EndpointRecord, sbNs: string): Promise<void> {
    let srt: Rtnl | undefined;
    try {
      const index = withNetns(sbNs, () => ifNameToIndex(ep.ifname));
      if (index) {
        srt = this.o.openRtnl(sbNs);
        const rt = srt;
        rt.batch((b) => {
          for (const cidr of [ep.ipv4, ep.ipv6]) if (cidr) b.deleteAddress(index, cidr);
        });
        this.undo(`leave ${ep.id.slice(0, 12)}: its elements`, () => this.o.ports.revokeDirect(sbNs, directPortSpec(ep)));
        await rt.deleteLinkAsync(index);
      }
    } catch (err) {
      this.o.log(`leave ${ep.id.slice(0, 12)}: sandbox side: ${String(err)}`);
    } finally {
      srt?.close();
    }
    // Gone: nothing more can be sent through it.
    this.undo(`leave ${ep.id.slice(0, 12)}: its check`, () => this.o.ports.closeDirect(sbNs, directPortSpec(ep)));
  }

  /** Per network namespace: the pending deletion of its buried guarded ports. */
  private readonly burials = new Map<string, NodeJS.Timeout>();

  private buryLater(nsPath: string): void {
    if (this.burials.has(nsPath)) return;
    this.burials.set(
      nsPath,
      setTimeout(() => {
        this.burials.delete(nsPath);
        void this.deleteBuried(nsPath);
      }, BURY_DELAY_MS),
    );
  }

  /** Deletes the device group of buried ports inside a namespace (if it still exists). */
  private async deleteBuried(nsPath: string): Promise<void> {
    if (!isNetnsMount(nsPath)) return;
    let rt: Rtnl | undefined;
    try {
      rt = this.o.openRtnl(nsPath);
      await rt.deleteGroupAsync(GRAVEYARD_GROUP);
    } catch (err) {
      this.o.log(`delete buried overlay ports in ${path.basename(nsPath)}: ${String(err)}`);
    } finally {
      rt?.close();
    }
  }

  /**
   * A guarded port: its veth end and proxy are up in the network's namespace; a direct port:
   * its check is there. With `sb`, the sandbox's interface is up with its addresses, and of
   * its kind.
   */
  endpointPresent(net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    if (!this.o.nsDir) return false;
    const rt = this.netRt(this.nsPath(net));
    if (!rt) return false;
    const g = guardedPort(ep);
    const end = rt.getLink(g.spec.port);
    const proxy = rt.getLink(g.proxy);
    const guarded = !!end;
    if (end && (!end.up || !proxy || !proxy.up)) return false;
    if (!sb) return guarded;
    if (guarded) return sandboxEndPresent(this.o.openRtnl, sb, ep.ifname, 'veth', [ep.ipv4, ep.ipv6]);
    if (!sandboxEndPresent(this.o.openRtnl, sb, ep.ifname, 'macvlan', [ep.ipv4, ep.ipv6])) return false;
    if (!this.o.ports.directPresent(sb.nsPath)) return false;
    this.direct.set(ep.id, sb.nsPath);
    return true;
  }

  /** A direct port: its check is inside the sandbox's namespace. */
  portSealed(ep: EndpointRecord): boolean {
    return this.direct.has(ep.id);
  }

  /** The marks of the VXLAN device, the guarded ports' veth ends and proxies (all inside the networks' namespaces). */
  ownsLink(link: HostLink): boolean {
    return isOverlayAlias(link.alias);
  }

  // ---- peers: static FDB and neighbour entries on the VXLAN device ----

  /** Runs `fn` with rtnetlink in the network's namespace and its VXLAN device's index. */
  private onVxlan<T>(net: NetworkRecord, what: string, fn: (rt: Rtnl, vx: number) => T): T {
    const rt = this.netRt(this.nsPath(net));
    if (!rt) throw conflict('OVERLAY_NETWORK_MISSING', `${what}: network ${net.name} has no namespace on this host (ensureNetwork first)`);
    return fn(rt, this.vxlanIndex(net, rt, what));
  }

  /**
   * The network's VXLAN device's index, looked up once per device: ensureNetwork (the only
   * place that makes or remakes it) and deleteNetwork forget it, and so does a request that
   * found no such device (peerJoin's fast path, which then asks again).
   */
  private vxlanIndex(net: NetworkRecord, rt: Rtnl, what: string): number {
    const known = this.vxIndex.get(net.id);
    if (known !== undefined) return known;
    const vx = rt.getLink(overlayLinkNames(net).vxlan);
    if (!vx) throw conflict('OVERLAY_NETWORK_MISSING', `${what}: network ${net.name} has no VXLAN device on this host (ensureNetwork first)`);
    this.vxIndex.set(net.id, vx.index);
    return vx.index;
  }

  /** What the VXLAN device holds now: its permanent unicast FDB entries and permanent neighbours (all ours: the namespace is). */
  private programmed(rt: Rtnl, vx: number): PeerEntries {
    return {
      fdb: rt.listFdb(vx).filter((e) => e.permanent && e.mac && e.ip && e.mac !== '00:00:00:00:00:00').map((e) => ({ mac: e.mac!, dst: e.ip! })),
      neigh: rt.listNeighbours(vx).filter((e) => e.permanent && e.mac && e.ip).map((e) => ({ ip: e.ip!, mac: e.mac! })),
    };
  }

  private apply(rt: Rtnl, vx: number, change: { add: PeerEntries; remove: PeerEntries }): void {
    // Neighbours go before the FDB on removal and after it on addition, so an answered ARP
    // never points at a MAC with nowhere to go.
    for (const n of change.remove.neigh) rt.deleteNeighbour({ index: vx, ip: n.ip, mac: n.mac });
    for (const f of change.remove.fdb) rt.deleteFdb({ index: vx, mac: f.mac, dst: f.dst });
    for (const f of change.add.fdb) {
      rt.deleteFdb({ index: vx, mac: f.mac }); // the MAC moved: one remote per MAC
      rt.ensureFdb({ index: vx, mac: f.mac, dst: f.dst });
    }
    for (const n of change.add.neigh) rt.ensureNeighbour({ index: vx, ip: n.ip, mac: n.mac });
  }

  /** Programs exactly `peers` (of this network): adds what is missing, removes every other entry. */
  syncPeers(net: NetworkRecord, peers: readonly PeerEndpoint[]): void {
    const mine = peers.filter((p) => p.networkId === net.id);
    this.syncPeerHosts(net, mine.map((p) => p.nodeAddress));
    this.onVxlan(net, 'syncPeers', (rt, vx) => this.apply(rt, vx, peerDiff(this.programmed(rt, vx), peerEntries(mine))));
  }

  /**
   * `fn` on the network's VXLAN device through its cached index; if the device was made again
   * behind that index (ENODEV), the index is looked up once more and `fn` runs again.
   */
  private onVxlanFresh(net: NetworkRecord, op: string, fn: (rt: Rtnl, vx: number) => void): void {
    this.onVxlan(net, op, (rt, vx) => {
      try {
        fn(rt, vx);
      } catch (err) {
        if (!(err instanceof NetlinkError && err.errno === ENODEV_ERRNO)) throw err;
        this.vxIndex.delete(net.id);
        fn(rt, this.vxlanIndex(net, rt, op));
      }
    });
  }

  peerJoin(net: NetworkRecord, peer: PeerEndpoint): void {
    if (peer.networkId !== net.id) throw internal('PEER_OF_OTHER_NETWORK', `peer ${peer.endpointId.slice(0, 12)} is on network ${peer.networkId.slice(0, 12)}, not ${net.name}`);
    if (!overlayOf(net).options.encrypted) {
      // Without encryption nothing depends on the other entries: this peer's FDB and
      // neighbour entries are set in one request (replace = add or move), no dump first.
      const want = peerEntries([peer]);
      const set = (rt: Rtnl, vx: number) =>
        rt.batch((b) => {
          for (const f of want.fdb) b.replaceFdb({ index: vx, mac: f.mac, dst: f.dst });
          for (const n of want.neigh) b.replaceNeighbour({ index: vx, ip: n.ip, mac: n.mac });
        });
      this.onVxlanFresh(net, 'peerJoin', set);
      return;
    }
    this.onVxlan(net, 'peerJoin', (rt, vx) => {
      const have = this.programmed(rt, vx);
      const want = peerEntries([peer]);
      // Its host's SAs before its FDB entry: the first packet toward it is already encrypted.
      this.syncPeerHosts(net, [...have.fdb.map((f) => f.dst), peer.nodeAddress]);
      // Only this peer's entries change: others stay as they are.
      const diff = peerDiff(
        { fdb: have.fdb.filter((f) => f.mac === want.fdb[0]!.mac), neigh: have.neigh.filter((n) => want.neigh.some((w) => w.ip === n.ip)) },
        want,
      );
      this.apply(rt, vx, diff);
    });
  }

  /** Removes the peer's entries (those still pointing at it: a MAC or IP taken over since is left alone). */
  peerLeave(net: NetworkRecord, peer: PeerEndpoint): void {
    if (!this.o.nsDir) return;
    if (pinnedNetnsId(this.nsPath(net)) === undefined) return; // nothing programmed: already gone
    if (!overlayOf(net).options.encrypted) {
      // Without encryption: no dump of the device's entries (O(peers) per event, on every
      // host taking part), one request. The FDB entry goes only if it still points at the
      // peer's host (the kernel matches `dst`); the neighbour entry by its address: the
      // cluster layer hands over a departure before any later arrival of the same address
      // (events in revision order, leaves before joins in a revision; an address is claimed
      // again only after the txn that released it), and a resync programs the whole set.
      const gone = peerEntries([peer]);
      const del = (rt: Rtnl, vx: number) =>
        rt.batch((b) => {
          for (const n of gone.neigh) b.deleteNeighbour({ index: vx, ip: n.ip, mac: n.mac });
          for (const f of gone.fdb) b.deleteFdb({ index: vx, mac: f.mac, dst: f.dst });
        });
      this.onVxlanFresh(net, 'peerLeave', del);
      return;
    }
    this.onVxlan(net, 'peerLeave', (rt, vx) => {
      const have = this.programmed(rt, vx);
      const gone = peerEntries([peer]);
      this.apply(rt, vx, {
        add: { fdb: [], neigh: [] },
        remove: {
          fdb: have.fdb.filter((f) => gone.fdb.some((g) => g.mac === f.mac && g.dst === f.dst)),
          neigh: have.neigh.filter((n) => gone.neigh.some((g) => g.ip === n.ip && g.mac === n.mac)),
        },
      });
      this.syncPeerHosts(net, this.programmed(rt, vx).fdb.map((f) => f.dst));
    });
  }
}
