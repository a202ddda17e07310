/**
 * The contract between the engine and a network driver. The engine owns records,
 * IPAM and the store; a driver only turns records into kernel state and back.
 * A driver never knows about the firewall's internals: it is handed a port
 * (`FirewallPort`) to declare what its networks need.
 */
import type { EndpointRecord, NetworkRecord } from '../model/records.js';

export interface FirewallNetworkSpec {
  bridge: string;
  subnets: string[];
  icc: boolean;
  masquerade: boolean;
  internal: boolean;
}

export interface FirewallPort {
  ensureNetwork(net: FirewallNetworkSpec): void;
  deleteNetwork(bridge: string): void;
}

export interface SandboxNs {
  id: string;
  nsPath: string;
}

export interface JoinOptions {
  /** This endpoint carries the sandbox's default route for its families. */
  gateway: boolean;
}

export interface NetworkDriver {
  readonly name: string;
  /** Whether sandboxes on it get interfaces (bridge: yes; host, null: no). */
  readonly attachesEndpoints: boolean;
  /** Creates or verifies the network's kernel state (idempotent). */
  ensureNetwork(net: NetworkRecord): void;
  /** Removes the network's kernel state (already gone = success). */
  deleteNetwork(net: NetworkRecord): Promise<void>;
  /** Creates the endpoint's interface inside the sandbox, with addresses and routes. */
  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void;
  /** Moves the default route to/from this endpoint. */
  setGateway(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void;
  /** Removes the endpoint's interface; the slow kernel part may finish after the promise. */
  leave(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void>;
  /** True when the endpoint's kernel state exists (for reconcile); with `sb`, its sandbox end is checked too. */
  endpointPresent(net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean;
  /** Host-side link names this driver owns (for reconcile's garbage collection). */
  ownsLink?(name: string): boolean;
}
