/**
 * The operations the engine offers to the API. The records live in model/records.ts
 * (re-exported here for the API's convenience).
 */

export type {
  EndpointRecord, ExposedPort, NetworkRecord, PoolRecord, PortRequest, PublishedPort, SandboxRecord, SandboxState, SandboxStatus,
} from '../model/records.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';

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
  waitSandbox(ref: string): Promise<{ exitCode: number }>;
  /** Path of the sandbox's combined stdout/stderr log file. */
  sandboxLogPath(ref: string): Promise<string>;

  firewallReload(): Promise<void>;
  info(): Promise<EngineInfo>;
}
