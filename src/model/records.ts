/**
 * The records the engine keeps in the store. They are plain data (no classes, no methods):
 * the store holds them as JSON through the codecs in model/record-codec.ts, and the API
 * turns them into Docker's shapes in one place (api/docker-views.ts).
 *
 * Every top-level record carries a schema version (`v`). A record without one was written
 * by a release before versions existed (the "legacy" shape); the codec upgrades it on load.
 *
 * What is specific to a driver lives in the driver's part of the record: a network's
 * `state` is a union tagged by driver, planned by the driver (drivers/contract.ts
 * planNetwork); an endpoint's host-side link, when its driver makes one, is `hostLink`
 * (named by the driver's planEndpoint). docs/ARCHITECTURE.md "Records" says why.
 */
import type { BridgeOptions, IpvlanOptions, MacvlanOptions, OverlayOptions, RoutedOptions } from './driver-options.js';
import type { ExposedPort, PortBinding } from './port-spec.js';

/** The schema version this release writes. */
export const RECORD_VERSION = 1;

/** One address pool of a network (one per family at most for the bridge driver). */
export interface PoolRecord {
  subnet: string; // canonical CIDR
  ipRange?: string;
  gateway?: string; // bare address
  auxAddresses?: Record<string, string>;
  /** True when the user gave the subnet (static --ip/--ip6 are only allowed then). */
  userSubnet: boolean;
}

/** The bridge driver's part of a network: its Linux bridge and its typed options. */
export interface BridgeNetworkState {
  driver: 'bridge';
  /** The Linux bridge device. */
  bridge: string;
  /** Parsed once at create (model/driver-options.ts); IP addresses are text in the store. */
  options: BridgeOptions;
}

/** host and null keep no state of their own. */
export interface PassiveNetworkState {
  driver: 'host' | 'null';
}

/**
 * The macvlan driver's part: its parsed options (parent, mode, host interface). The host
 * links it may make (an 802.1q or dummy parent, the host-side interface) follow from these
 * and the network's id (drivers/parent-link.ts).
 */
export interface MacvlanNetworkState {
  driver: 'macvlan';
  options: MacvlanOptions;
}

/**
 * The overlay driver's part: the network's VXLAN network identifier (asked for or chosen at
 * create, unique across the cluster) and its parsed options. Its kernel state lives in a
 * namespace of its own on each host (drivers/overlay.ts).
 */
export interface OverlayNetworkState {
  driver: 'overlay';
  vni: number;
  options: OverlayOptions;
}

/** The ipvlan driver's part: its parsed options (parent, mode, flag, host interface), as macvlan's. */
export interface IpvlanNetworkState {
  driver: 'ipvlan';
  options: IpvlanOptions;
}

/**
 * The routed driver's part: its parsed options (block size). Its blocks per host are the
 * cluster layer's (claims in the cluster store); it makes one veth per endpoint.
 */
export interface RoutedNetworkState {
  driver: 'routed';
  options: RoutedOptions;
}

/** What a network's driver planned and keeps: one arm per driver. */
export type NetworkDriverState = BridgeNetworkState | MacvlanNetworkState | IpvlanNetworkState | OverlayNetworkState | RoutedNetworkState | PassiveNetworkState;

export interface NetworkRecord {
  v: typeof RECORD_VERSION;
  id: string; // 64 hex
  name: string;
  driver: string; // the registry's name for the driver: bridge | host | null | …
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
  /** The options as the user gave them (Docker echoes them in `Options`); the driver reads `state`. */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** bridge, host and none: created by the daemon, never removable. */
  predefined: boolean;
  /** The driver's own part, tagged with the driver's name (always equal to `driver`). */
  state: NetworkDriverState;
}

export interface EndpointRecord {
  v: typeof RECORD_VERSION;
  id: string; // 64 hex
  networkId: string;
  sandboxId: string;
  /** Interface name inside the sandbox: eth0, eth1, … in connect order. */
  ifname: string;
  /** The link the driver makes in the daemon's namespace for this endpoint, if any (bridge: the host-side veth). */
  hostLink?: string;
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

/** A front end's echo of the endpoint settings it was sent (Docker's EndpointSettings fields). */
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
export type { PortBinding as PortRequest, ExposedPort } from './port-spec.js';
type PortRequest = PortBinding;

/** A port actually bound on the host. */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: 'tcp' | 'udp' | 'sctp';
  containerIp: string;
}

export interface SandboxRecord {
  v: typeof RECORD_VERSION;
  id: string;
  /**
   * `switchyard`: a sandbox Switchyard made (its namespace, process, /etc files).
   * `external`: a network namespace a caller owns (CNI, netavark, the Docker remote driver),
   * attached through the attachment operations: no process, no /etc files; kept while its
   * namespace exists. Its id is derived from the caller's (`externalId`).
   */
  owner: 'switchyard' | 'external';
  /** The caller's id of an external sandbox (CNI's container id, netavark's container id). */
  externalId?: string;
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
