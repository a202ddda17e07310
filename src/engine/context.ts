/**
 * Everything an engine operation needs, built once by the daemon. Operations are
 * plain functions over this context, grouped by resource (networks, endpoints,
 * sandboxes), so each file stays small and the daemon is the only place that
 * knows concrete classes.
 */
import type { AddressPool } from '../model/ipam.js';
import type { DriverRegistry, NetworkDriver } from '../drivers/contract.js';
import type { EngineState } from './state.js';
import type { KeyedMutex } from './locks.js';
import { unavailable } from '../errors.js';
import type { ExposedPort, NetworkRecord, PortRequest, PublishedPort } from './types.js';

export interface EngineConfig {
  dataRoot: string;
  execRoot: string;
  /** --bip: CIDR with the gateway address, e.g. 172.17.0.1/16 */
  bip?: string;
  defaultPools: AddressPool[];
  mtu: number;
  /** --ip: default host address for published ports. */
  defaultBindIp: string;
  firewall: boolean;
  ipForward: boolean;
  /** --dns: upstream resolvers for every sandbox. */
  dns: string[];
  /** Stable per-host id (ULA derivation, info). */
  hostId: string;
  hostName: string;
}

/** What touches the host, behind small ports so operations stay readable. */
export interface HostPorts {
  /** On-link routes and nameservers of the daemon's namespace, as CIDRs (IPAM avoids them). */
  reservedPrefixes(): string[];
  /** Creates the sandbox namespace (pinned at nsPath) with loopback up. */
  ensureSandboxNetns(nsPath: string): void;
  deleteSandboxNetns(nsPath: string): void;
  sandboxNetnsPresent(nsPath: string): boolean;
  /** The host's /etc/resolv.conf and /etc/hosts text. */
  hostResolvConf(): string;
  hostEtcHosts(): string;
  /** Turns on forwarding in the daemon's namespace for a family, once. */
  ensureForwarding(family: 4 | 6): void;
}

export interface DnsPort {
  /** Serves the sandbox (opens its sockets if needed). */
  attach(sandboxId: string, nsPath: string): void;
  /** Holds its sockets open but refuses every query (no user-defined network). */
  park(sandboxId: string, nsPath: string): void;
  /** Closes its sockets. */
  detach(sandboxId: string): void;
}

/** Where a sandbox's ports are published: its gateway endpoint (Docker's rule). */
export interface PublishTarget {
  bridge: string;
  containerIPv4?: string;
  containerIPv6?: string;
  /** The network's host_binding_ipv4 option, else the daemon's --ip (default 0.0.0.0). */
  defaultHostIp: string;
}

export interface PublishRequest {
  sandboxId: string;
  requests: PortRequest[];
  publishAll: boolean;
  expose: ExposedPort[];
  target: PublishTarget;
}

/** The port-publishing service (services/ports), as the engine sees it. */
export interface PortsPort {
  /**
   * Reserves the host ports and installs the DNAT elements for a running sandbox; returns
   * the bindings made (ephemeral ports resolved). On any conflict it undoes what it did
   * and throws (conflict, naming the host address and port).
   */
  publish(req: PublishRequest): PublishedPort[];
  /** Releases the host ports and removes the elements (already gone = success). */
  unpublish(sandboxId: string, bindings: PublishedPort[]): void;
  /** Re-reserves and re-installs exactly these bindings (after a daemon restart or a firewall reload). */
  restore(req: PublishRequest, bindings: PublishedPort[]): void;
}

export interface EngineContext {
  config: EngineConfig;
  state: EngineState;
  locks: KeyedMutex;
  drivers: DriverRegistry;
  host: HostPorts;
  dns: DnsPort;
  ports?: PortsPort;
  /** Per-sandbox upstream resolvers, decided when its resolv.conf is written. */
  upstreams: Map<string, { servers: string[]; fromSandboxNs: boolean; userNdots?: boolean }>;
  random: (n: number) => Uint8Array;
  now: () => Date;
  log: (msg: string) => void;
}

export function driverOf(ctx: EngineContext, net: NetworkRecord): NetworkDriver {
  const d = ctx.drivers.get(net.driver);
  if (!d) throw unavailable('DRIVER_UNAVAILABLE', `network ${net.name} uses the ${net.driver} driver, which this daemon does not run`);
  return d;
}

/** RFC 3339 with nanoseconds, as Docker writes `Created`. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
