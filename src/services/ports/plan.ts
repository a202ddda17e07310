/**
 * Which host bindings a sandbox's port requests turn into. Pure: no I/O.
 *
 * Docker's rules (moby libnetwork/drivers/bridge/port_mapping_linux.go,
 * configurePortBindingIPv4/IPv6; docs/notes/kernel-facts.md#docker-port-publishing):
 * - no host address = the network's default (host_binding_ipv4, else the daemon's --ip);
 * - 0.0.0.0 = every IPv4 address AND every IPv6 address, with the SAME host port;
 * - :: = every IPv6 address only; a specific address = that address only;
 * - [::1] is refused: the kernel never routes ::1 off lo, and there is no proxy;
 * - a family the container has no address in gets no binding (Docker, with the userland
 *   proxy off, skips it and logs; there is no proxy here to map IPv6 to IPv4).
 * - `-P`: every exposed port not already published gets an ephemeral host port.
 */
import { invalid } from '../../errors.js';
import { formatIp, isLoopback, isUnspecified, tryParseIp } from '../../model/ip.js';
import { publishAllBindings, type ExposedPort, type PortBinding, type PortProtocol } from '../../model/port-spec.js';

/** How the host port of one binding is chosen. */
export type HostPortChoice =
  | { kind: 'fixed'; port: number }
  /** `8000-8010:80`: the first free port of the range. */
  | { kind: 'range'; start: number; end: number }
  | { kind: 'ephemeral' };

/** One address family of a binding: which host address answers, and where it leads. */
export interface AddressBinding {
  family: 4 | 6;
  /** Canonical: '0.0.0.0' or '::' for every address of the family, else one address. */
  hostIp: string;
  containerIp: string;
}

/** One container port to publish, on one or two families sharing one host port. */
export interface PlannedPort {
  proto: PortProtocol;
  containerPort: number;
  choice: HostPortChoice;
  addresses: AddressBinding[];
}

export interface PlanInput {
  requests: readonly PortBinding[];
  publishAll: boolean;
  expose: readonly ExposedPort[];
  target: { containerIPv4?: string; containerIPv6?: string; defaultHostIp: string };
}

export interface Plan {
  ports: PlannedPort[];
  /** Bindings that got no address family, as log lines (Docker logs these too). */
  skipped: string[];
}

export function planPorts(input: PlanInput): Plan {
  const all = [...input.requests, ...(input.publishAll ? publishAllBindings(input.expose, input.requests) : [])];
  const ports: PlannedPort[] = [];
  const skipped: string[] = [];
  all.forEach((req, i) => {
    const hostIp = req.hostIp || input.target.defaultHostIp || '0.0.0.0';
    const addresses = addressesFor(hostIp, input.target, `PortBindings[${i}].HostIp`);
    if (!addresses.length) {
      skipped.push(`port ${req.containerPort}/${req.proto} on ${hostIp}: the sandbox has no address of that family, not published`);
      return;
    }
    ports.push({ proto: req.proto, containerPort: req.containerPort, choice: choiceOf(req), addresses });
  });
  return { ports, skipped };
}

function choiceOf(req: PortBinding): HostPortChoice {
  if (req.hostPort === 0) return { kind: 'ephemeral' };
  if (req.hostPortEnd !== undefined && req.hostPortEnd !== req.hostPort) return { kind: 'range', start: req.hostPort, end: req.hostPortEnd };
  return { kind: 'fixed', port: req.hostPort };
}

function addressesFor(hostIpText: string, target: PlanInput['target'], field: string): AddressBinding[] {
  const ip = tryParseIp(hostIpText);
  if (ip === undefined) throw invalid('INVALID_HOST_IP', `host address "${hostIpText}" for a published port is not an IP address`, field);
  const hostIp = formatIp(ip);
  if (ip.family === 6 && isLoopback(ip)) {
    // The kernel never routes a ::1 source off lo (IPv6 has no route_localnet), so a DNAT
    // from [::1] into a bridge cannot work; Docker needs its userland proxy for this.
    throw invalid('PORT_IPV6_LOOPBACK', `cannot publish on [${hostIp}]: IPv6 loopback cannot be forwarded to a sandbox without a proxy process; use 127.0.0.1`, field);
  }
  const out: AddressBinding[] = [];
  if (ip.family === 4) {
    if (target.containerIPv4) out.push({ family: 4, hostIp, containerIp: target.containerIPv4 });
    // 0.0.0.0 means "every address": IPv6 too, on the same port (Docker 27+).
    if (isUnspecified(ip) && target.containerIPv6) out.push({ family: 6, hostIp: '::', containerIp: target.containerIPv6 });
  } else if (target.containerIPv6) {
    out.push({ family: 6, hostIp, containerIp: target.containerIPv6 });
  }
  return out;
}

/** `0.0.0.0:8080` / `[::1]:8080`, as Go's net.JoinHostPort writes it in Docker's messages. */
export function joinHostPort(hostIp: string, port: number | string): string {
  return hostIp.includes(':') ? `[${hostIp}]:${port}` : `${hostIp}:${port}`;
}

export const isWildcard = (hostIp: string): boolean => hostIp === '0.0.0.0' || hostIp === '::';
