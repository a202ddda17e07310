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
import type { NetworkRecord } from '../model/records.js';
import type { PortsPort } from '../services/ports/types.js';

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
  /** Cluster mode (--cluster-store, docs/CLUSTER.md); absent: a single host. */
  cluster?: ClusterConfig;
  /** Files no sandbox may read (the API's TLS key and certificates): covered by /dev/null. */
  hiddenFiles?: string[];
}

export interface ClusterConfig {
  /** --cluster-store as given (info's ClusterStore). */
  store: string;
  /** --cluster-advertise as given (info's ClusterAdvertise). */
  advertise: string;
  nodeName: string;
  dataPathAddress: string;
  dataPathPort: number;
}

/** What touches the host, behind small ports so operations stay readable. */
export interface HostPorts {
  /** On-link routes and nameservers of the daemon's namespace, as CIDRs (IPAM avoids them). */
  reservedPrefixes(): string[];
  /** Creates the sandbox namespace (pinned at nsPath) with loopback up. */
  ensureSandboxNetns(nsPath: string): void;
  /** Sets lo up in a namespace the caller owns (the embedded DNS binds 127.0.0.11 there). */
  ensureLoopbackUp(nsPath: string): void;
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

export type { PortsPort, PublishRequest, PublishTarget } from '../services/ports/types.js';

import type { SandboxProcessSpec } from '../model/sandbox-process-spec.js';
export type { SandboxProcessSpec };

export interface StartedProcess {
  /** The outer process (unshare; State.Pid): its one child is the wrapper, PID 1 of the sandbox. */
  pid: number;
  pidStart: string;
  /** Resolves with the exit code when the daemon is the parent; rejects never. */
  exited: Promise<number>;
}

/** Exit notifications for processes that are not the daemon's children (pidfds, one poll for all). */
export interface ProcessWatcher {
  has(key: string, pid: number): boolean;
  keys(): string[];
  /** False when the process is already gone. */
  watch(key: string, pid: number, pidStart: string | undefined): boolean;
  unwatch(key: string): void;
  /** Keys whose process exited since the last call. */
  exited(): string[];
  close(): void;
}

/** Sandbox processes, behind a port (the daemon wires kernel/sandbox-process.ts). */
export interface SandboxProcesses {
  start(spec: SandboxProcessSpec): Promise<StartedProcess>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(pid: number, pidStart: string | undefined, graceMs: number): Promise<void>;
  /** Kills the process's whole session at once. */
  kill(pid: number, pidStart: string | undefined): void;
  isAlive(pid: number, pidStart: string | undefined): boolean;
  /** The exit code the sandbox's wrapper recorded in its directory, if any. */
  readExitCode(dir: string): number | undefined;
  /** Sandbox sessions running under a directory (for reconcile's clean-up), by session leader. */
  sessionsUnder(root: string): { pid: number; dir: string }[];
  /** The session (leader pid) a process belongs to, if it is alive. */
  sessionOf(pid: number): number | undefined;
  /** Rotates a log over maxBytes to LOG.1; true when it rotated (the `--log-opt max-size` cap). */
  capLog(logPath: string, maxBytes: number): Promise<boolean>;
  watcher(): ProcessWatcher;
}

/** The sandbox files on the host (hosts, hostname, resolv.conf, the log), behind a port. */
export interface SandboxFilesPort {
  ensureDir(dir: string): void;
  /** Overwrites a file's content keeping its inode (the sandbox's bind mount points at it). */
  writeInPlace(file: string, text: string): void;
  /** The file's text, or undefined when it cannot be read. */
  read(file: string): string | undefined;
  removeDir(dir: string): void;
  /** Entries of a directory ([] when it is missing). */
  list(dir: string): string[];
}

export interface EngineContext {
  config: EngineConfig;
  state: EngineState;
  locks: KeyedMutex;
  drivers: DriverRegistry;
  host: HostPorts;
  dns: DnsPort;
  ports?: PortsPort;
  processes: SandboxProcesses;
  files: SandboxFilesPort;
  /** What each sandbox file was last written with (a connect usually changes only /etc/hosts). */
  filesWritten: Map<string, string>;
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
