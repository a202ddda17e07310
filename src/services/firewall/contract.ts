/**
 * The one firewall contract: what the daemon, the bridge driver and the ports service ask
 * of a firewall backend. Two backends implement it: `Firewall` (nftables, firewall.ts) and
 * `NoFirewall` (`--firewall=false`, no-firewall.ts); the daemon picks one at start.
 * Consumers take the slice they use (`Pick<FirewallBackend, …>`: NetworkFirewall,
 * AntiSpoofFirewall, PortsFirewall below), so a fake in a test implements a few methods.
 *
 * The shapes are plain data (ruleset/*.ts): a network is its bridge, subnets and policy
 * flags; an endpoint is its bridge port, MAC and bare addresses; a port is a DNAT binding.
 */
import type { AntiSpoofEndpoint } from './ruleset/antispoof.js';
import type { FirewallNetwork } from './ruleset/network.js';
import type { PortElement, PublishedElement } from './ruleset/ports.js';

export type { AntiSpoofEndpoint } from './ruleset/antispoof.js';
export type { FirewallNetwork } from './ruleset/network.js';
export type { PortElement, PublishedElement } from './ruleset/ports.js';

export interface FirewallBackend {
  /** true for a backend that enforces anything (false: NoFirewall). */
  readonly enabled: boolean;

  /** Creates whatever the backend needs before any network (idempotent; keeps the admin's rules). */
  ensureBase(): void;

  // --- networks ---
  /** Creates or updates one network's rules (idempotent). */
  ensureNetwork(net: FirewallNetwork): void;
  /** Removes one network's rules; unknown, or already gone, is success. */
  deleteNetwork(bridge: string): void;
  /** Makes the rules match exactly `networks`, in one step (after a flush from outside, or at start). */
  reload(networks: FirewallNetwork[]): void;

  // --- anti-spoofing: which sources a bridge port may send ---
  /** Lets the endpoint's port send only its own MAC and addresses; called before the port exists. */
  allowEndpointSources(e: AntiSpoofEndpoint): void;
  /** Takes the endpoint's allowance away (its port then carries nothing); already gone is success. */
  revokeEndpointSources(e: AntiSpoofEndpoint): void;
  /** Makes the allowances exactly `endpoints`, in one step. */
  reloadEndpointSources(endpoints: AntiSpoofEndpoint[]): void;

  // --- published ports ---
  /** Publishes host ports (DNAT and published elements); `onStale` hears of a crash's leftover it replaced. */
  addPorts(ports: PortElement[], onStale?: (what: string) => void): void;
  /** Unpublishes; already gone is success. */
  deletePorts(ports: PortElement[], published: PublishedElement[]): void;
  /** Removes published-port elements that `wanted` (every running sandbox's bindings) does not explain; returns what it removed. */
  removeStalePorts(wanted: PortElement[]): { ports: PortElement[]; published: PublishedElement[] };

  // --- forwarding ---
  /** The daemon turned forwarding of `family` on itself: stop forwarding what no Switchyard bridge sends or receives. */
  guardForwarding(family: 4 | 6): void;

  /** False when something of the backend's is missing and a reload is due (the watchdog asks every 2 s). */
  complete(): boolean;
}

/** What a network driver needs (drivers/bridge.ts). */
export type NetworkFirewall = Pick<FirewallBackend, 'ensureNetwork' | 'deleteNetwork'>;
/** What a driver that makes bridge ports needs. */
export type AntiSpoofFirewall = Pick<FirewallBackend, 'allowEndpointSources' | 'revokeEndpointSources'>;
/** What the ports service needs (services/ports). */
export type PortsFirewall = Pick<FirewallBackend, 'addPorts' | 'deletePorts'>;
