/**
 * What the engine offers its front ends (the Docker API and Switchyard's CLI today; CNI,
 * netavark and the Docker plugin protocol next), in the engine's own terms: parsed
 * specs and settings, never a front end's wire JSON. A front end parses its protocol into
 * these types (the Docker one: api/docker/) and calls the engine. docs/ARCHITECTURE.md
 * "Adding a front end".
 */
import type { NetworkSpec } from '../model/network-spec.js';
import type { Attachments } from '../model/attachments.js';

export type { AttachmentRef, AttachRequest, AttachResult, Attachments, TeardownReport } from '../model/attachments.js';
import type { EndpointRecord, ExposedPort, NetworkRecord, PortRequest, RequestedEndpointSettings, SandboxRecord } from '../model/records.js';

export type { NetworkSpec } from '../model/network-spec.js';

/** What an endpoint asks for, parsed (every field optional: the engine picks the rest). */
export interface EndpointSettings {
  /** Network-scoped DNS aliases (validated by the engine, which names the field). */
  aliases?: readonly string[];
  /** Legacy links, NAME[:ALIAS]. */
  links?: readonly string[];
  /** A static address, as given (checked against the network's pools by the engine). */
  ipv4?: string;
  ipv6?: string;
  /** A MAC address, as given. */
  mac?: string;
  /** The interface name inside the sandbox; default: the lowest free ethN. */
  ifname?: string;
  /**
   * What the front end wants echoed back as the client sent it (Docker: null stays null,
   * [] stays []); kept in the endpoint record, never interpreted by the engine.
   */
  requested?: RequestedEndpointSettings;
}

/** A sandbox to create, parsed. References to networks and sandboxes are resolved by the engine. */
export interface SandboxSpec {
  name?: string;
  hostname?: string;
  command: string[];
  env: string[];
  /** bridge (default) | host | none | container:REF | a network reference */
  networkMode: string;
  /** Endpoint settings per network reference; the networkMode network is the first (eth0). */
  endpoints: Record<string, EndpointSettings>;
  mac?: string;
  publish: PortRequest[];
  publishAll: boolean;
  expose: ExposedPort[];
  dns: { servers: string[]; search: string[]; options: string[] };
  /** NAME[:ALIAS] */
  links: string[];
  autoRemove: boolean;
  /** --cap-add / --cap-drop as given (CAP_NAME, NAME or ALL; the engine normalizes and checks them). */
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  /** --privileged: every capability, /sys and /proc/sys writable. */
  privileged?: boolean;
  /** --pid: "" (a PID namespace of its own) or "host". */
  pidMode?: string;
}

export interface NetworkDetails {
  network: NetworkRecord;
  /** Endpoints of running sandboxes, with the sandbox's name. */
  endpoints: { endpoint: EndpointRecord; sandboxName: string }[];
  /** Global networks: the hosts with endpoints on it (inspect -v `Peers`), this one included. */
  peers?: { name: string; ip: string }[];
  /** Routed networks in a cluster: block → the name of the node holding it (engine/routed-blocks.ts). */
  blocks?: Record<string, string>;
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
  /** Names of the network drivers this daemon runs (Docker's Info.Plugins.Network). */
  networkDrivers: string[];
  /** Cluster mode: --cluster-store and --cluster-advertise as given, and this node (Docker's ClusterStore, ClusterAdvertise). */
  cluster?: { store: string; advertise: string; nodeId: string; nodeName: string };
}

/** What a front end calls. Every method throws SwitchyardError on failure, having undone its partial work. */
export interface Engine extends Attachments {
  createNetwork(spec: NetworkSpec): Promise<{ id: string; warning: string }>;
  listNetworks(filters?: string): Promise<NetworkDetails[]>;
  inspectNetwork(ref: string): Promise<NetworkDetails>;
  removeNetwork(ref: string): Promise<void>;
  pruneNetworks(filters?: string): Promise<string[]>;
  connect(networkRef: string, sandboxRef: string, settings: EndpointSettings): Promise<void>;
  disconnect(networkRef: string, sandboxRef: string, force: boolean): Promise<void>;

  createSandbox(spec: SandboxSpec): Promise<{ id: string; warnings: string[] }>;
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

export type { EndpointRecord, NetworkRecord, SandboxRecord };
