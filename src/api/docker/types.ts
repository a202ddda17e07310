/**
 * Docker's wire types for the routes Switchyard serves (Docker Engine API 1.44-1.51, and
 * Switchyard's own sandbox routes shaped like them). They belong to the Docker front end:
 * the routes parse them into the engine's domain types (engine/contract.ts) before calling
 * the engine, and the CLI and the typed client build them. The engine never sees them.
 */
export type { NetworkCreateRequest } from '../../model/network-spec.js';

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
  /** Raw -p specs, parsed by the route (api/docker/sandbox-request.ts) so the error names the spec. */
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
