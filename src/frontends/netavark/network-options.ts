/**
 * netavark's stdin, NetworkOptions (netavark v1.4 src/network/types.rs), parsed and checked
 * into plain types. Podman 4.x sends `networks` as a map keyed by network name; newer Podman
 * sends an array of `{name, …}`: both are accepted, as netavark does. Pure: no effects.
 */
import { invalid } from '../../errors.js';

/** One of Podman's networks, as `network_info` describes it. */
export interface PodmanNetwork {
  name: string;
  id: string;
  driver: string;
  /** The bridge's name (`podman0`, `podman1`, …). */
  networkInterface?: string;
  subnets: { subnet: string; gateway?: string }[];
  ipv6Enabled: boolean;
  internal: boolean;
  dnsEnabled: boolean;
  options: Record<string, string>;
  ipamDriver?: string;
}

/** What the container asks of one network. */
export interface PerNetwork {
  network: string;
  ifname: string;
  staticIps: string[];
  aliases: string[];
  staticMac?: string;
}

export interface PortMapping {
  hostIp: string;
  containerPort: number;
  hostPort: number;
  protocol: string;
  range: number;
}

export interface NetworkOptions {
  containerId: string;
  containerName: string;
  /** In interface-name order (eth0 first), so the first one is the gateway endpoint. */
  networks: PerNetwork[];
  info: Map<string, PodmanNetwork>;
  portMappings: PortMapping[];
  dnsServers: string[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const bad = (field: string, why: string) => invalid('NETAVARK_BAD_OPTIONS', `${field}: ${why}`, field);

function str(o: Obj, key: string, field: string, required = true): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw bad(field, 'missing field');
    return undefined;
  }
  if (typeof v !== 'string') throw bad(field, 'must be a string');
  return v;
}

function bool(o: Obj, key: string, field: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(field, 'must be a boolean');
  return v;
}

function strings(o: Obj, key: string, field: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(field, 'must be an array of strings');
  return v as string[];
}

function stringMap(o: Obj, key: string, field: string): Record<string, string> {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) throw bad(field, 'must be a map of strings');
  return v as Record<string, string>;
}

function u16(o: Obj, key: string, field: string, min: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) throw bad(field, `must be an integer from ${min} to 65535`);
  return v;
}

function parseNetwork(v: unknown, field: string): PodmanNetwork {
  if (!isObj(v)) throw bad(field, 'must be an object');
  const subnets = v['subnets'] ?? [];
  if (!Array.isArray(subnets)) throw bad(`${field}.subnets`, 'must be an array');
  const ipam = stringMap(v, 'ipam_options', `${field}.ipam_options`);
  const iface = str(v, 'network_interface', `${field}.network_interface`, false);
  return {
    name: str(v, 'name', `${field}.name`)!,
    id: str(v, 'id', `${field}.id`)!,
    driver: str(v, 'driver', `${field}.driver`)!,
    ...(iface ? { networkInterface: iface } : {}),
    subnets: subnets.map((s: unknown, i: number) => {
      const f = `${field}.subnets[${i}]`;
      if (!isObj(s)) throw bad(f, 'must be an object');
      const gateway = str(s, 'gateway', `${f}.gateway`, false);
      return { subnet: str(s, 'subnet', `${f}.subnet`)!, ...(gateway ? { gateway } : {}) };
    }),
    ipv6Enabled: bool(v, 'ipv6_enabled', `${field}.ipv6_enabled`),
    internal: bool(v, 'internal', `${field}.internal`),
    dnsEnabled: bool(v, 'dns_enabled', `${field}.dns_enabled`),
    options: stringMap(v, 'options', `${field}.options`),
    ...(ipam['driver'] ? { ipamDriver: ipam['driver'] } : {}),
  };
}

function parsePerNetwork(name: string, v: unknown, field: string): PerNetwork {
  if (!isObj(v)) throw bad(field, 'must be an object');
  const mac = str(v, 'static_mac', `${field}.static_mac`, false);
  return {
    network: name,
    ifname: str(v, 'interface_name', `${field}.interface_name`)!,
    staticIps: strings(v, 'static_ips', `${field}.static_ips`),
    aliases: strings(v, 'aliases', `${field}.aliases`),
    ...(mac ? { staticMac: mac } : {}),
  };
}

function parsePort(v: unknown, field: string): PortMapping {
  if (!isObj(v)) throw bad(field, 'must be an object');
  return {
    hostIp: str(v, 'host_ip', `${field}.host_ip`, false) ?? '',
    containerPort: u16(v, 'container_port', `${field}.container_port`, 1),
    hostPort: u16(v, 'host_port', `${field}.host_port`, 0),
    protocol: str(v, 'protocol', `${field}.protocol`)!,
    range: v['range'] === undefined ? 1 : u16(v, 'range', `${field}.range`, 1),
  };
}

/** Parses netavark's stdin; throws NETAVARK_BAD_OPTIONS naming the field. */
export function parseNetworkOptions(text: string): NetworkOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid('NETAVARK_BAD_OPTIONS', `failed to load network options: ${(err as Error).message}`, 'stdin');
  }
  return networkOptionsOf(raw);
}

/** The same, from JSON already decoded. */
export function networkOptionsOf(raw: unknown): NetworkOptions {
  if (!isObj(raw)) throw bad('stdin', 'network options must be a JSON object');
  const nets = raw['networks'];
  const per: PerNetwork[] = [];
  if (Array.isArray(nets)) {
    nets.forEach((n: unknown, i: number) => {
      if (!isObj(n)) throw bad(`networks[${i}]`, 'must be an object');
      per.push(parsePerNetwork(str(n, 'name', `networks[${i}].name`)!, n, `networks[${i}]`));
    });
  } else if (isObj(nets)) {
    for (const [name, v] of Object.entries(nets)) per.push(parsePerNetwork(name, v, `networks.${name}`));
  } else {
    throw bad('networks', 'missing field (a map or an array of networks)');
  }
  const infoRaw = raw['network_info'];
  if (!isObj(infoRaw)) throw bad('network_info', 'missing field (a map of networks)');
  const info = new Map<string, PodmanNetwork>();
  for (const [name, v] of Object.entries(infoRaw)) info.set(name, parseNetwork(v, `network_info.${name}`));
  for (const p of per) {
    if (!info.has(p.network)) throw bad(`network_info.${p.network}`, `no network_info for network ${p.network}`);
  }
  const ports = raw['port_mappings'];
  if (ports !== undefined && ports !== null && !Array.isArray(ports)) throw bad('port_mappings', 'must be an array');
  per.sort((a, b) => a.ifname.localeCompare(b.ifname, 'en', { numeric: true }));
  return {
    containerId: str(raw, 'container_id', 'container_id')!,
    containerName: str(raw, 'container_name', 'container_name')!,
    networks: per,
    info,
    portMappings: ((ports ?? []) as unknown[]).map((p, i) => parsePort(p, `port_mappings[${i}]`)),
    dnsServers: strings(raw, 'dns_servers', 'dns_servers'),
  };
}
