/**
 * Engine records → Docker's JSON shapes, in one place. Pure: no I/O, the clock is passed in.
 *
 * Key order matters: `docker network inspect` re-indents the server's raw bytes
 * (docker/cli cli/command/inspect/inspector.go), so users see our order. It follows
 * moby v28.5.2 api/types/network/network.go (docs/notes/kernel-facts.md#docker-json-field-order) and, for
 * sandboxes, api/types/container (inspect) as far as it applies to a host command.
 * Go encodes maps with sorted keys; `sortedRecord` does the same for ours.
 */
import type {
  EndpointRecord,
  NetworkDetails,
  NetworkRecord,
  PublishedPort,
  SandboxDetails,
  SandboxRecord,
} from '../engine/types.js';
import { OVERLAY_OPT } from '../model/driver-options.js';
import { hostPortText, portKey } from '../model/port-spec.js';
import { humanDuration } from './human-duration.js';

/** Docker's zero time, shown for timestamps that never happened. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

// ---------------------------------------------------------------------------------------
// Networks

export interface DockerIpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface DockerNetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: DockerIpamConfig[] | null };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, DockerNetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** inspect -v of a global network: the hosts with endpoints on it. */
  Peers?: { Name: string; IP: string }[];
  /** Switchyard's own field, routed networks and ipvlan networks across hosts: each host's blocks (block → node name; docs/drivers/routed.md). */
  Blocks?: Record<string, string>;
}

/**
 * One network as `GET /networks/{id}` returns it. For `GET /networks` (API ≥ 1.28) Docker
 * 28.x keeps the `Containers` key but leaves it empty: pass `withContainers: false`.
 */
export function networkView(details: NetworkDetails, options: { withContainers: boolean; verbose?: boolean }): DockerNetwork {
  const n = details.network;
  const view: DockerNetwork = {
    Name: n.name,
    Id: n.id,
    Created: n.created || ZERO_TIME,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv4: n.enableIPv4,
    EnableIPv6: n.enableIPv6,
    IPAM: {
      Driver: n.ipamDriver,
      // Docker echoes IPAM.Options as sent: null when the request had none (and for the
      // predefined networks, which the daemon makes with none); {} when {} was sent.
      Options: n.predefined || n.ipamOptionsNull ? null : sortedRecord(n.ipamOptions),
      // No pool at all (host, none, null driver): Go's nil slice, null.
      Config: n.pools.length > 0 ? n.pools.map(ipamConfigView) : null,
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: options.withContainers ? networkContainersView(details) : {},
    // The overlay's VNI shows under Options as Docker shows it, asked for or chosen.
    Options: sortedRecord(n.state.driver === 'overlay' ? { ...n.options, [OVERLAY_OPT.vxlanIdList]: String(n.state.vni) } : n.options),
    Labels: sortedRecord(n.labels),
  };
  // `verbose=true` on a global network: Docker's Peers (the hosts with endpoints on it).
  if (options.verbose && details.peers) view.Peers = details.peers.map((p) => ({ Name: p.name, IP: p.ip }));
  if (details.blocks) view.Blocks = sortedRecord(details.blocks);
  return view;
}

function ipamConfigView(pool: NetworkRecord['pools'][number]): DockerIpamConfig {
  // Each key is left out when empty (Go `omitempty`).
  const view: DockerIpamConfig = { Subnet: pool.subnet };
  if (pool.ipRange) view.IPRange = pool.ipRange;
  if (pool.gateway) view.Gateway = pool.gateway;
  if (pool.auxAddresses && Object.keys(pool.auxAddresses).length > 0) {
    view.AuxiliaryAddresses = sortedRecord(pool.auxAddresses);
  }
  return view;
}

function networkContainersView(details: NetworkDetails): Record<string, DockerNetworkContainer> {
  const containers: Record<string, DockerNetworkContainer> = {};
  for (const { endpoint, sandboxName } of details.endpoints) {
    containers[endpoint.sandboxId || `ep-${endpoint.id}`] = {
      Name: sandboxName,
      EndpointID: endpoint.id,
      MacAddress: endpoint.mac,
      IPv4Address: endpoint.ipv4 ?? '',
      IPv6Address: endpoint.ipv6 ?? '',
    };
  }
  return sortedRecord(containers);
}

// ---------------------------------------------------------------------------------------
// Sandboxes: `docker inspect`

export interface DockerPortBinding {
  HostIp: string;
  HostPort: string;
}

export interface DockerEndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  GwPriority: number;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export interface SandboxInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    Status: string;
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
  Name: string;
  Config: {
    Hostname: string;
    Env: string[];
    Cmd: string[];
    ExposedPorts: Record<string, Record<string, never>>;
  };
  HostConfig: {
    NetworkMode: string;
    PortBindings: Record<string, DockerPortBinding[]>;
    PublishAllPorts: boolean;
    Dns: string[];
    DnsSearch: string[];
    DnsOptions: string[];
    Links: string[] | null;
    AutoRemove: boolean;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Privileged: boolean;
    PidMode: string;
  };
  NetworkSettings: {
    SandboxKey: string;
    Ports: Record<string, DockerPortBinding[] | null>;
    Networks: Record<string, DockerEndpointSettings>;
  };
}

export function sandboxInspectView(details: SandboxDetails): SandboxInspect {
  const s = details.sandbox;
  const running = s.state.status === 'running';
  return {
    Id: s.id,
    Created: s.created || ZERO_TIME,
    Path: s.command[0] ?? '',
    Args: s.command.slice(1),
    State: {
      Status: s.state.status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? s.state.pid : 0,
      ExitCode: s.state.exitCode,
      Error: s.state.error,
      StartedAt: s.state.startedAt || ZERO_TIME,
      FinishedAt: s.state.finishedAt || ZERO_TIME,
    },
    Name: `/${s.name}`,
    Config: {
      Hostname: s.hostname,
      Env: [...s.env],
      Cmd: [...s.command],
      ExposedPorts: Object.fromEntries(containerPortKeys(s).map((key) => [key, {}])),
    },
    HostConfig: {
      NetworkMode: s.networkMode,
      PortBindings: portBindingsRequested(s),
      PublishAllPorts: s.publishAll,
      Dns: [...s.dns.servers],
      DnsSearch: [...s.dns.search],
      DnsOptions: [...s.dns.options],
      Links: s.links.length > 0 ? s.links.map((l) => `/${l.name}:/${s.name}/${l.alias}`) : null,
      AutoRemove: s.autoRemove,
      CapAdd: s.capAdd?.length ? [...s.capAdd] : null,
      CapDrop: s.capDrop?.length ? [...s.capDrop] : null,
      Privileged: !!s.privileged,
      PidMode: s.pidMode ?? '',
    },
    NetworkSettings: {
      SandboxKey: s.nsPath ?? '',
      // Docker shows the bound ports only while the container runs.
      Ports: running ? portsBound(s) : {},
      Networks: sortedRecord(
        Object.fromEntries(details.endpoints.map(({ endpoint, network }) => [network.name, endpointView(endpoint)])),
      ),
    },
  };
}

function endpointView(e: EndpointRecord): DockerEndpointSettings {
  const v4 = splitCidr(e.ipv4);
  const v6 = splitCidr(e.ipv6);
  const ipamConfig: { IPv4Address?: string; IPv6Address?: string } = {};
  if (e.staticIPv4) ipamConfig.IPv4Address = e.staticIPv4;
  if (e.staticIPv6) ipamConfig.IPv6Address = e.staticIPv6;
  // Docker echoes these as the client sent them (null stays null, [] and {} stay): records
  // that kept the request say so; older ones fall back to "null when empty".
  const r = e.requested;
  return {
    IPAMConfig: r ? echoIpamConfig(r.ipamConfig) : Object.keys(ipamConfig).length > 0 ? ipamConfig : null,
    Links: r ? (r.links === null ? null : [...r.links]) : e.links.length > 0 ? [...e.links] : null,
    Aliases: r ? (r.aliases === null ? null : [...r.aliases]) : e.aliases.length > 0 ? [...e.aliases] : null,
    MacAddress: e.mac,
    DriverOpts: r?.driverOpts ? sortedRecord(r.driverOpts) : null,
    GwPriority: r?.gwPriority ?? 0,
    NetworkID: e.networkId,
    EndpointID: e.id,
    Gateway: e.gateway ?? '',
    IPAddress: v4.address,
    IPPrefixLen: v4.prefixLen,
    IPv6Gateway: e.ipv6Gateway ?? '',
    GlobalIPv6Address: v6.address,
    GlobalIPv6PrefixLen: v6.prefixLen,
    DNSNames: e.dnsNames.length > 0 ? [...e.dnsNames] : null,
  };
}

/** EndpointIPAMConfig with Go's `omitempty` on each field. */
function echoIpamConfig(c: NonNullable<EndpointRecord['requested']>['ipamConfig']): DockerEndpointSettings['IPAMConfig'] {
  if (c === null) return null;
  const out: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } = {};
  if (c.IPv4Address) out.IPv4Address = c.IPv4Address;
  if (c.IPv6Address) out.IPv6Address = c.IPv6Address;
  if (c.LinkLocalIPs && c.LinkLocalIPs.length > 0) out.LinkLocalIPs = [...c.LinkLocalIPs];
  return out;
}

function splitCidr(cidr: string | undefined): { address: string; prefixLen: number } {
  if (!cidr) return { address: '', prefixLen: 0 };
  const slash = cidr.indexOf('/');
  if (slash < 0) return { address: cidr, prefixLen: 0 };
  return { address: cidr.slice(0, slash), prefixLen: Number(cidr.slice(slash + 1)) };
}

/** Every container port that is exposed or published, as "80/tcp" keys, sorted like Go. */
function containerPortKeys(s: SandboxRecord): string[] {
  const keys = new Set<string>();
  for (const e of s.expose) keys.add(portKey(e));
  for (const p of s.publish) keys.add(portKey(p));
  for (const b of s.ports) keys.add(portKey(b));
  return [...keys].sort();
}

/** HostConfig.PortBindings: what the user asked for ("" = any address / an ephemeral port). */
function portBindingsRequested(s: SandboxRecord): Record<string, DockerPortBinding[]> {
  const out: Record<string, DockerPortBinding[]> = {};
  for (const p of s.publish) {
    (out[portKey(p)] ??= []).push({ HostIp: p.hostIp, HostPort: hostPortText(p) });
  }
  return sortedRecord(out);
}

/** NetworkSettings.Ports: each exposed port with its host bindings, or null when unpublished. */
function portsBound(s: SandboxRecord): Record<string, DockerPortBinding[] | null> {
  const out: Record<string, DockerPortBinding[] | null> = {};
  for (const key of containerPortKeys(s)) out[key] = null;
  for (const b of s.ports) {
    const key = portKey(b);
    const list = out[key] ?? [];
    list.push({ HostIp: b.hostIp, HostPort: String(b.hostPort) });
    out[key] = list;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Sandboxes: `docker ps` summaries

export interface SandboxSummaryPort {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface SandboxSummary {
  Id: string;
  Names: string[];
  Command: string;
  Created: number;
  Ports: SandboxSummaryPort[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, DockerEndpointSettings> };
}

/** One row of `GET /sandboxes/json`, shaped like Docker's container Summary. */
export function sandboxSummaryView(details: SandboxDetails, now: Date): SandboxSummary {
  const s = details.sandbox;
  return {
    Id: s.id,
    Names: [`/${s.name}`],
    Command: s.command.join(' '),
    Created: Math.floor(Date.parse(s.created) / 1000) || 0,
    Ports: summaryPorts(s),
    Labels: {},
    State: s.state.status,
    Status: sandboxStatusText(s, now),
    HostConfig: { NetworkMode: s.networkMode },
    NetworkSettings: {
      Networks: sortedRecord(
        Object.fromEntries(details.endpoints.map(({ endpoint, network }) => [network.name, endpointView(endpoint)])),
      ),
    },
  };
}

/** "Up 5 seconds", "Exited (0) 2 minutes ago" or "Created", as Docker words them. */
export function sandboxStatusText(s: SandboxRecord, now: Date): string {
  const since = (time: string): number => Math.max(0, now.getTime() - (Date.parse(time) || now.getTime()));
  switch (s.state.status) {
    case 'running':
      return `Up ${humanDuration(since(s.state.startedAt))}`;
    case 'exited':
      return `Exited (${s.state.exitCode}) ${humanDuration(since(s.state.finishedAt))} ago`;
    default:
      return 'Created';
  }
}

function summaryPorts(s: SandboxRecord): SandboxSummaryPort[] {
  const running = s.state.status === 'running';
  const bound: PublishedPort[] = running ? s.ports : [];
  const ports: SandboxSummaryPort[] = bound.map((b) => ({
    IP: b.hostIp,
    PrivatePort: b.containerPort,
    PublicPort: b.hostPort,
    Type: b.proto,
  }));
  const published = new Set(bound.map((b) => portKey(b)));
  for (const key of containerPortKeys(s)) {
    if (published.has(key)) continue;
    const [port, proto] = key.split('/');
    ports.push({ PrivatePort: Number(port), Type: proto! });
  }
  return ports;
}

// ---------------------------------------------------------------------------------------

/** A copy of `record` with its keys in Go's map order (sorted bytewise). */
export function sortedRecord<T>(record: Record<string, T> | undefined | null): Record<string, T> {
  const out: Record<string, T> = {};
  if (!record) return out;
  for (const key of Object.keys(record).sort(compareBytewise)) out[key] = record[key]!;
  return out;
}

function compareBytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
