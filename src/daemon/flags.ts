/**
 * `switchyard daemon` flags, dockerd-style (../shared/CLI-CONTRACT.md "Daemon").
 */
import { parseArgs } from 'node:util';
import { invalid } from '../errors.js';
import { parseAddressPool, type AddressPool } from '../model/ipam.js';
import { parseCidr, parseIp } from '../model/ip.js';

export interface DaemonFlags {
  dataRoot: string;
  execRoot: string;
  socket: string;
  bip?: string;
  pools: AddressPool[];
  mtu: number;
  ip: string;
  firewall: boolean;
  ipForward: boolean;
  dns: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

function bool(v: string | boolean | undefined, dflt: boolean, field: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (['1', 't', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw invalid('INVALID_FLAG', `invalid boolean value ${JSON.stringify(v)} for ${field}`, field);
}

export function socketPathOf(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw invalid('INVALID_FLAG', `unsupported host ${JSON.stringify(host)}: only unix:///path.sock is served (no TCP listener)`, '--host');
}

export function parseDaemonFlags(argv: string[]): DaemonFlags {
  // --firewall / --ip-forward take =true|false, so they are strings, not booleans.
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'data-root': { type: 'string' },
      'exec-root': { type: 'string' },
      host: { type: 'string', short: 'H' },
      bip: { type: 'string' },
      'default-address-pool': { type: 'string', multiple: true },
      mtu: { type: 'string' },
      ip: { type: 'string' },
      firewall: { type: 'string' },
      'ip-forward': { type: 'string' },
      dns: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
    },
  });
  const execRoot = values['exec-root'] ?? '/run/switchyard';
  const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid('INVALID_FLAG', `invalid --mtu ${values.mtu}: want 68-65535`, '--mtu');
  if (values.bip) parseCidr(values.bip, '--bip', 'bip');
  const ip = values.ip ?? '0.0.0.0';
  parseIp(ip, '--ip');
  for (const d of values.dns ?? []) parseIp(d, '--dns');
  const level = values['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw invalid('INVALID_FLAG', `invalid --log-level ${level}`, '--log-level');
  return {
    dataRoot: values['data-root'] ?? '/var/lib/switchyard',
    execRoot,
    socket: socketPathOf(values.host ?? "unix:///run/switchyard/switchyard.sock"),
    ...(values.bip ? { bip: values.bip } : {}),
    pools: (values['default-address-pool'] ?? []).map((p) => parseAddressPool(p)),
    mtu,
    ip,
    firewall: bool(values.firewall, true, '--firewall'),
    ipForward: bool(values['ip-forward'], true, '--ip-forward'),
    dns: values.dns ?? [],
    logLevel: level as DaemonFlags['logLevel'],
  };
}
