/**
 * The overlay driver's two kinds of port (docs/drivers/overlay.md "Ports"), and what it needs
 * of nftables for them. Types only: the implementation is services/firewall/overlay-ports.ts.
 *
 * - A **direct** port (a sealed sandbox: model/namespace-seal.ts): a macvlan on the network's
 *   VXLAN device, made in place in the sandbox's namespace; its source check is an egress
 *   chain on it, in that namespace (`table netdev switchyard`), loaded before it is up.
 * - A **guarded** port (any other sandbox): a veth whose network end (`syo…`) is joined to a
 *   macvlan with the sandbox's MAC on the VXLAN device (`syp…`) by two netdev ingress chains
 *   in the network's namespace (`fwd`), the source check on the veth end's. The forwarding
 *   is the data path itself: it is there with or without a firewall.
 */
import type { AntiSpoofEndpoint } from '../services/firewall/contract.js';

/** A guarded port: the check's endpoint (port = the veth end) and its proxy macvlan's name. */
export interface GuardedPort {
  spec: AntiSpoofEndpoint;
  proxy: string;
}

export interface OverlayPorts {
  /** The network namespace's table (made with the namespace; re-runnable). */
  ensureNetwork(nsPath: string): void;
  /** A guarded port's forwarding (and its check, with a firewall), both devices made and down. */
  openGuarded(nsPath: string, port: GuardedPort): void;
  /** Its chains and elements gone; already gone is success. */
  closeGuarded(nsPath: string, port: GuardedPort): void;
  /** A direct port's egress check in the sandbox's namespace (nothing without a firewall). */
  openDirect(sandboxNsPath: string, spec: AntiSpoofEndpoint): void;
  /** Its chain and elements gone; already gone is success. */
  closeDirect(sandboxNsPath: string, spec: AntiSpoofEndpoint): void;
  /** Its elements gone, its chain kept: it then drops all the port sends (a leave, before the port is down). */
  revokeDirect(sandboxNsPath: string, spec: AntiSpoofEndpoint): void;
  /** The sandbox's check table is there (true without a firewall). */
  directPresent(sandboxNsPath: string): boolean;
  /** The network namespace's table is there. */
  networkPresent(nsPath: string): boolean;
  /** The network namespace's table as it must be, holding exactly these guarded ports. */
  reloadNetwork(nsPath: string, ports: readonly GuardedPort[]): void;
  /** A sandbox namespace's table as it must be, holding exactly these direct ports. */
  reloadSandbox(sandboxNsPath: string, specs: readonly AntiSpoofEndpoint[]): void;
  /** Forgets what is kept for a namespace about to be deleted. */
  release(nsPath: string): void;
}
