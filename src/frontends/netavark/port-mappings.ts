/**
 * netavark's port_mappings into Switchyard's port bindings (published by the daemon's own
 * ports service): a mapping with `range` N covers host_port..host_port+N-1 onto
 * container_port..container_port+N-1, `protocol` may be a comma list ("tcp,udp"), and
 * host_ip "" means every host address (Switchyard's '' = 0.0.0.0 and ::). Pure.
 */
import { invalid } from '../../errors.js';
import { formatIp, tryParseIp } from '../../model/ip.js';
import type { PortBinding, PortProtocol } from '../../model/port-spec.js';
import type { PortMapping } from './network-options.js';

const PROTOCOLS: readonly PortProtocol[] = ['tcp', 'udp', 'sctp'];

export function portBindingsOf(mappings: readonly PortMapping[]): PortBinding[] {
  const out: PortBinding[] = [];
  mappings.forEach((m, i) => {
    const field = `port_mappings[${i}]`;
    let hostIp = '';
    if (m.hostIp !== '') {
      const ip = tryParseIp(m.hostIp);
      if (!ip) throw invalid('NETAVARK_BAD_OPTIONS', `${field}.host_ip: ${JSON.stringify(m.hostIp)} is not an IP address`, `${field}.host_ip`);
      hostIp = formatIp(ip);
    }
    if (m.hostPort === 0) throw invalid('NETAVARK_BAD_OPTIONS', `${field}.host_port: must be set (Podman picks host ports)`, `${field}.host_port`);
    if (m.hostPort + m.range - 1 > 65535 || m.containerPort + m.range - 1 > 65535) {
      throw invalid('NETAVARK_BAD_OPTIONS', `${field}.range: the range passes port 65535`, `${field}.range`);
    }
    for (const p of m.protocol.split(',')) {
      const proto = p.trim().toLowerCase() as PortProtocol;
      if (!PROTOCOLS.includes(proto)) throw invalid('NETAVARK_BAD_OPTIONS', `${field}.protocol: unknown protocol ${JSON.stringify(p)}`, `${field}.protocol`);
      for (let k = 0; k < m.range; k++) out.push({ containerPort: m.containerPort + k, proto, hostIp, hostPort: m.hostPort + k });
    }
  });
  return out;
}
