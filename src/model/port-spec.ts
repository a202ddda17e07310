/**
 * `-p`, `--expose` and `-P`, parsed the way docker's go-connections/nat ParsePortSpec
 * does: `[hostIP:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]`, with IPv6 host
 * addresses in brackets.
 */
import { invalid } from '../errors.js';
import { formatIp, tryParseIp } from './ip.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';
export const PROTOCOLS: readonly PortProtocol[] = ['tcp', 'udp', 'sctp'];

export interface ExposedPort {
  readonly port: number;
  readonly proto: PortProtocol;
}

export interface PortBinding {
  readonly containerPort: number;
  readonly proto: PortProtocol;
  /** Canonical host address, or '' for the network's default (0.0.0.0 and ::). */
  readonly hostIp: string;
  /** The host port; 0 = ephemeral. */
  readonly hostPort: number;
  /**
   * Set only for a host range with a single container port (`8000-8010:80`): pick one
   * free port from hostPort..hostPortEnd.
   */
  readonly hostPortEnd?: number;
}

interface PortRange {
  start: number;
  end: number;
}

const bad = (spec: string, why: string, field: string) =>
  invalid('INVALID_PORT_SPEC', `invalid port specification ${JSON.stringify(spec)}: ${why}`, field);

function parseRange(text: string): PortRange | undefined {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (m === null) return undefined;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) return undefined;
  return { start, end };
}

/** go-connections SplitProtoPort: "80/udp" → udp, "80"; "80/" → tcp. */
function splitProto(text: string): { proto: string; port: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { proto: 'tcp', port: text };
  const proto = text.slice(slash + 1);
  return { proto: proto === '' ? 'tcp' : proto.toLowerCase(), port: text.slice(0, slash) };
}

function parseProto(spec: string, proto: string, field: string): PortProtocol {
  if (!(PROTOCOLS as readonly string[]).includes(proto)) throw bad(spec, `invalid proto: ${proto}`, field);
  return proto as PortProtocol;
}

/**
 * go-connections splitParts: the last part is the container port, the one before it the
 * host port, and everything before that (rejoined with ':') the host IP — which is how an
 * unbracketed IPv6 address such as `::1:8080:80` still works.
 */
function splitParts(raw: string): { ip: string; hostPort: string; containerPort: string } {
  const parts = raw.split(':');
  const n = parts.length;
  const containerPort = parts[n - 1]!;
  if (n === 1) return { ip: '', hostPort: '', containerPort };
  if (n === 2) return { ip: '', hostPort: parts[0]!, containerPort };
  return { ip: parts.slice(0, n - 2).join(':'), hostPort: parts[n - 2]!, containerPort };
}

function parseHostIp(spec: string, text: string, field: string): string {
  if (text === '') return '';
  let ipText = text;
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw bad(spec, `invalid IP address ${text}`, field);
    ipText = text.slice(1, -1);
  }
  const addr = tryParseIp(ipText);
  if (addr === undefined) throw bad(spec, `invalid IP address: ${ipText}`, field);
  return formatIp(addr);
}

/** Parses one `-p` value into one binding per container port. */
export function parsePortSpec(spec: string, field = 'PortBindings'): PortBinding[] {
  const { ip, hostPort, containerPort: rawContainer } = splitParts(spec.trim());
  const { proto, port: containerText } = splitProto(rawContainer);
  const hostIp = parseHostIp(spec, ip, field);
  if (containerText === '') throw bad(spec, 'no container port specified', field);
  const container = parseRange(containerText);
  if (container === undefined || container.start === 0) throw bad(spec, `invalid containerPort: ${containerText}`, field);
  let host: PortRange = { start: 0, end: 0 };
  if (hostPort !== '') {
    const parsed = parseRange(hostPort);
    if (parsed === undefined) throw bad(spec, `invalid hostPort: ${hostPort}`, field);
    host = parsed;
  }
  const containerCount = container.end - container.start;
  const hostCount = host.end - host.start;
  // Ranges map one to one; a host range with a single container port is a pool to pick from.
  if (hostPort !== '' && containerCount !== hostCount && containerCount !== 0) {
    throw bad(spec, `invalid ranges specified for container and host Ports: ${containerText} and ${hostPort}`, field);
  }
  if (host.start === 0 && host.end !== 0) throw bad(spec, `invalid hostPort: ${hostPort}`, field);
  const protocol = parseProto(spec, proto, field);
  return expandBindings(container, host, containerCount, protocol, hostIp);
}

function expandBindings(container: PortRange, host: PortRange, containerCount: number, proto: PortProtocol, hostIp: string): PortBinding[] {
  const bindings: PortBinding[] = [];
  for (let i = 0; i <= containerCount; i++) {
    const containerPort = container.start + i;
    if (host.start === 0) bindings.push({ containerPort, proto, hostIp, hostPort: 0 });
    else if (containerCount === 0 && host.end !== host.start) {
      bindings.push({ containerPort, proto, hostIp, hostPort: host.start, hostPortEnd: host.end });
    } else bindings.push({ containerPort, proto, hostIp, hostPort: host.start + i });
  }
  return bindings;
}

/** Parses one `--expose` value: `80`, `80/udp`, `8000-8010/tcp`. */
export function parseExposeSpec(spec: string, field = 'ExposedPorts'): ExposedPort[] {
  const { proto, port } = splitProto(spec.trim());
  const range = parseRange(port);
  if (range === undefined || range.start === 0) {
    throw invalid('INVALID_PORT_SPEC', `invalid range format for --expose: ${spec}`, field);
  }
  const protocol = parseProto(spec, proto, field);
  const out: ExposedPort[] = [];
  for (let p = range.start; p <= range.end; p++) out.push({ port: p, proto: protocol });
  return out;
}

/** The `80/tcp` key Docker uses in ExposedPorts, PortBindings and `docker port`. */
export const portKey = (p: { port?: number; containerPort?: number; proto: PortProtocol }): string =>
  `${p.port ?? p.containerPort}/${p.proto}`;

/**
 * `-P`: every exposed port that `-p` did not already publish gets an ephemeral host port
 * on the default host address. Exposed ports include the container ports of `-p`
 * (Docker adds them to ExposedPorts), so callers pass both lists.
 */
export function publishAllBindings(exposed: readonly ExposedPort[], published: readonly PortBinding[]): PortBinding[] {
  const done = new Set(published.map((b) => portKey(b)));
  const out: PortBinding[] = [];
  for (const e of exposed) {
    const key = portKey(e);
    if (done.has(key)) continue;
    done.add(key);
    out.push({ containerPort: e.port, proto: e.proto, hostIp: '', hostPort: 0 });
  }
  return out;
}

/** The HostPort text Docker stores: "" ephemeral, "8080", or "8000-8010" for a pick-one range. */
export function hostPortText(b: PortBinding): string {
  if (b.hostPort === 0) return '';
  return b.hostPortEnd === undefined ? String(b.hostPort) : `${b.hostPort}-${b.hostPortEnd}`;
}
