/**
 * The records the engine keeps in the store, and the operations it offers to the API.
 * Records are plain JSON (no classes, no methods): the store holds them as they are,
 * and the API turns them into Docker's shapes in one place (api/docker-views.ts).
 */

/** One address pool of a network (one per family at most for the bridge driver). */
export interface PoolRecord {
  subnet: string; // canonical CIDR
  ipRange?: string;
  gateway?: string; // bare address
  auxAddresses?: Record<string, string>;
  /** True when the user gave the subnet (static --ip/--ip6 are only allowed then). */
  userSubnet: boolean;
}

export interface NetworkRecord {
  id: string; // 64 hex
  name: string;
  driver: string; // bridge | host | null | macvlan | ipvlan | overlay
  created: string; // RFC 3339 with nanoseconds
  scope: 'local' | 'swarm' | 'global';
  enableIPv4: boolean;
  enableIPv6: boolean;
  ipamDriver: string;
  ipamOptions: Record<string, string>;
  /** The create request had no IPAM.Options object: shown as null, as Docker echoes it. */
  ipamOptionsNull?: boolean;
  pools: PoolRecord[];
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  options: Record<string, string>;
  labels: Record<string, string>;
  /** bridge, host and none: created by the daemon, never removable. */
  predefined: boolean;
  /** The Linux bridge device (bridge driver only). */
  bridgeName?: string;
}

export interface EndpointRecord {
  id: string; // 64 hex
  networkId: string;
  sandboxId: string;
  /** Interface name inside the sandbox: eth0, eth1, … in connect order. */
  ifname: string;
  /** Host-side veth name (bridge driver). */
  hostIfname?: string;
  mac: string;
  ipv4?: string; // CIDR form, e.g. 172.18.0.2/16
  ipv6?: string;
  gateway?: string;
  ipv6Gateway?: string;
  /** What the user asked for (kept so a restart asks for the same). */
  staticIPv4?: string;
  staticIPv6?: string;
  aliases: string[];
  links: string[];
  /** Names the embedded DNS answers for this endpoint. */
  dnsNames: string[];
  /** Connect order among the sandbox's endpoints. */
  order: number;
  /**
   * The endpoint settings as the client sent them, where Docker echoes them back in
   * inspect (null stays null, [] stays []); absent on records made before this was kept.
   */
  requested?: RequestedEndpointSettings;
}

export interface RequestedEndpointSettings {
  ipamConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  aliases: string[] | null;
  links: string[] | null;
  driverOpts: Record<string, string> | null;
  gwPriority: number;
}

export type SandboxStatus = 'created' | 'running' | 'exited';

export interface SandboxState {
  status: SandboxStatus;
  pid: number;
  /** /proc/PID/stat start time, so a recycled PID is never taken for ours. */
  pidStart?: string;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  error: string;
}

/** A published-port request as the user wrote it, parsed (model/port-spec.ts). */
export type { PortBinding as PortRequest, ExposedPort } from '../model/port-spec.js';
import type { PortBinding as PortRequest, ExposedPort } from '../model/port-spec.js';

/** A port actually bound on the host. */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: 'tcp' | 'udp' | 'sctp';
  containerIp: string;
}

export interface SandboxRecord {
  id: string;
  name: string;
  hostname: string;
  created: string;
  command: string[];
  env: string[];
  /** bridge | host | none | container:<sandbox id> | <network name> */
  networkMode: string;
  /** Path of the sandbox's network namespace (NetworkSettings.SandboxKey); absent for host mode. */
  nsPath?: string;
  state: SandboxState;
  dns: { servers: string[]; search: string[]; options: string[] };
  links: { name: string; alias: string }[];
  publish: PortRequest[];
  publishAll: boolean;
  expose: ExposedPort[];
  ports: PublishedPort[];
  autoRemove: boolean;
  macAddress?: string;
  /** Directory with hosts, hostname, resolv.conf, the log and the exit-code file. */
  dir: string;
  /** --cap-add / --cap-drop, normalized (CAP_NAME or ALL); absent in older records = none. */
  capAdd?: string[];
  capDrop?: string[];
  /** --privileged: every capability, /sys and /proc/sys writable. */
  privileged?: boolean;
  /** --pid: "" (a PID namespace of its own) or "host". */
  pidMode?: '' | 'host';
}

/** Docker's EndpointSettings, as sent to POST /networks/{id}/connect. */
export interface EndpointSettingsRequest {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Aliases?: string[] | null;
  Links?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
  GwPriority?: number;
}

/** Body of POST /sandboxes/create (Switchyard's own route; see docs/api/openapi.yaml). */
export interface SandboxCreateRequest {
  Name?: string;
  Hostname?: string;
  Cmd: string[];
  Env?: string[];
  /** bridge (default) | host | none | container:NAME | a network name */
  NetworkMode?: string;
  /** Endpoint settings per network; the NetworkMode network is the first (eth0). */
  EndpointsConfig?: Record<string, EndpointSettingsRequest>;
  MacAddress?: string;
  /** Raw -p specs, parsed by the engine so the error names the spec. */
  PortSpecs?: string[];
  PublishAll?: boolean;
  Expose?: string[];
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  /** NAME[:ALIAS] */
  Links?: string[];
  AutoRemove?: boolean;
  /** Docker's HostConfig fields for the sandbox's privileges (docs/SECURITY.md). */
  HostConfig?: SandboxHostConfigRequest | null;
}

/** The part of Docker's HostConfig a sandbox create takes (the rest is top level here). */
export interface SandboxHostConfigRequest {
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  /** "" or "host" */
  PidMode?: string;
}

export interface NetworkDetails {
  network: NetworkRecord;
  /** Endpoints of running sandboxes, with the sandbox's name. */
  endpoints: { endpoint: EndpointRecord; sandboxName: string }[];
}

export interface SandboxDetails {
  sandbox: SandboxRecord;
  endpoints: { endpoint: EndpointRecord; network: NetworkRecord }[];
}

export interface EngineInfo {
  id: string;
  name: string;
  networks: number;
  sandboxes: number;
  running: number;
  dataRoot: string;
  execRoot: string;
  firewall: boolean;
  kernelVersion: string;
  warnings: string[];
}

/** What the API layer calls. Every method throws SwitchyardError on failure, having undone its partial work. */
export interface Engine {
  createNetwork(req: unknown): Promise<{ id: string; warning: string }>;
  listNetworks(filters?: string): Promise<NetworkDetails[]>;
  inspectNetwork(ref: string): Promise<NetworkDetails>;
  removeNetwork(ref: string): Promise<void>;
  pruneNetworks(filters?: string): Promise<string[]>;
  connect(networkRef: string, sandboxRef: string, settings: EndpointSettingsRequest): Promise<void>;
  disconnect(networkRef: string, sandboxRef: string, force: boolean): Promise<void>;

  createSandbox(req: SandboxCreateRequest): Promise<{ id: string; warnings: string[] }>;
  startSandbox(ref: string): Promise<void>;
  stopSandbox(ref: string, timeoutSeconds?: number): Promise<void>;
  removeSandbox(ref: string, force: boolean): Promise<void>;
  renameSandbox(ref: string, newName: string): Promise<void>;
  listSandboxes(all: boolean): Promise<SandboxDetails[]>;
  inspectSandbox(ref: string): Promise<SandboxDetails>;
  /** Resolves when the sandbox is not running, with its exit code. */
  /** `signal`: the caller left; the waiter is removed and the promise rejects. */
  waitSandbox(ref: string, signal?: AbortSignal): Promise<{ exitCode: number }>;
  /** Path of the sandbox's combined stdout/stderr log file. */
  sandboxLogPath(ref: string): Promise<string>;

  firewallReload(): Promise<void>;
  info(): Promise<EngineInfo>;
}
