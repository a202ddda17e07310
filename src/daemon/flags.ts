/**
 * `switchyard daemon` flags, dockerd-style (docs/CLI.md, `daemon`).
 */
import { parseBgpFlags, type BgpSettings } from '../services/bgp/flags.js';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { invalid } from '../errors.js';
import { DEFAULT_HOST, socketPathOf } from '../api/host.js';
import { parseGoBool } from '../model/go-syntax.js';
import { parseAddressPool, type AddressPool } from '../model/ipam.js';
import { parseCidr, parseIp } from '../model/ip.js';
import { hostname } from 'node:os';
import { parseClusterFlags, type ClusterFlags } from './cluster-flags.js';

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
  /** --log-opt max-size: cap of each sandbox's output.log in bytes (0 = none). */
  logMaxSize: number;
  // --- security (docs/SECURITY.md) ---
  /** `--group NAME|GID`: the unix socket becomes root:NAME 0660; absent = root:root. */
  group?: string;
  /** `-H tcp://ADDR:PORT`: served only with mutual TLS (tls is then always set). */
  tcp?: { host: string; port: number };
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** --cluster-store and friends (docs/CLUSTER.md); absent = single host. */
  cluster?: ClusterFlags;
  /** --bgp-asn/--bgp-peer (routed networks through BIRD, docs/drivers/routed.md); needs --cluster-store. */
  bgp?: BgpSettings;
}

/** dockerd's `--flag=true|false`, read as Go's strconv.ParseBool. */
function bool(v: string | boolean | undefined, dflt: boolean, field: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  const b = parseGoBool(v);
  if (b === undefined) throw invalid('INVALID_FLAG', `invalid boolean value ${JSON.stringify(v)} for ${field}`, field);
  return b;
}

/** `tcp://127.0.0.1:2376`, `tcp://[::1]:2376`: an explicit address and port, nothing else. */
export function tcpAddressOf(host: string): { host: string; port: number } {
  const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})$/.exec(host);
  const addr = m?.[1]?.replace(/^\[|\]$/g, '') ?? '';
  const port = Number(m?.[2]);
  if (!m || !isIP(addr) || port < 1 || port > 65535) {
    throw invalid('INVALID_FLAG', `invalid --host ${JSON.stringify(host)}: want tcp://ADDRESS:PORT with an IP address and a port 1-65535`, '--host');
  }
  return { host: addr, port };
}

/**
 * The API gives root on the host to whoever reaches it, so a TCP listener exists only
 * with mutual TLS, like dockerd's `--tlsverify` (and unlike dockerd, plain TCP or
 * server-only TLS are refused outright instead of warned about).
 */
function tcpListener(hosts: string[], values: { tlsverify?: boolean; tlscacert?: string; tlscert?: string; tlskey?: string }): Pick<DaemonFlags, 'tcp' | 'tls'> {
  const tcp = hosts.filter((h) => h.startsWith('tcp://'));
  if (tcp.length === 0) return {};
  if (tcp.length > 1) throw invalid('INVALID_FLAG', 'only one tcp:// --host may be given', '--host');
  const address = tcpAddressOf(tcp[0]!);
  if (!values.tlsverify) {
    throw invalid('TLS_REQUIRED', `refusing to listen on ${tcp[0]} without --tlsverify: the API grants root on this host, so a TCP listener requires TLS client certificates (--tlsverify --tlscacert F --tlscert F --tlskey F)`, '--tlsverify');
  }
  for (const f of ['tlscacert', 'tlscert', 'tlskey'] as const) {
    if (!values[f]) throw invalid('TLS_REQUIRED', `--tlsverify needs --${f} FILE`, `--${f}`);
  }
  return { tcp: address, tls: { caFile: values.tlscacert!, certFile: values.tlscert!, keyFile: values.tlskey! } };
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
      host: { type: 'string', short: 'H', multiple: true },
      group: { type: 'string', short: 'G' },
      tlsverify: { type: 'boolean' },
      tlscacert: { type: 'string' },
      tlscert: { type: 'string' },
      tlskey: { type: 'string' },
      bip: { type: 'string' },
      'default-address-pool': { type: 'string', multiple: true },
      mtu: { type: 'string' },
      ip: { type: 'string' },
      firewall: { type: 'string' },
      'ip-forward': { type: 'string' },
      dns: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'log-opt': { type: 'string', multiple: true },
      'cluster-store': { type: 'string' },
      'cluster-store-opt': { type: 'string', multiple: true },
      'cluster-advertise': { type: 'string' },
      'data-path-addr': { type: 'string', multiple: true },
      'overlay-key-rotation': { type: 'string' },
      'data-path-port': { type: 'string' },
      'node-name': { type: 'string' },
      'bgp-asn': { type: 'string' },
      'bgp-peer': { type: 'string', multiple: true },
    },
  });
  const execRoot = values['exec-root'] ?? '/run/switchyard';
  const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid('INVALID_FLAG', `invalid --mtu ${values.mtu}: want 68-65535`, '--mtu');
  if (values.bip) parseCidr(values.bip, '--bip', 'bip');
  const ip = values.ip ?? '0.0.0.0';
  parseIp(ip, '--ip');
  for (const d of values.dns ?? []) parseIp(d, '--dns');
  const hosts = values.host ?? [];
  const unixHosts = hosts.filter((h) => !h.startsWith('tcp://'));
  if (unixHosts.length > 1) throw invalid('INVALID_FLAG', 'only one unix socket --host may be given', '--host');
  const tcpPart = tcpListener(hosts, values);
  if (values.group !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$|^\d+$/.test(values.group)) {
    throw invalid('INVALID_FLAG', `invalid --group ${JSON.stringify(values.group)}: want a group name or number`, '--group');
  }
  const cluster = parseClusterFlags(values, hostname());
  const bgp = parseBgpFlags(values['bgp-asn'], values['bgp-peer'] ?? []);
  if (bgp && !cluster) throw invalid('INVALID_FLAG', '--bgp-asn needs --cluster-store (routed networks are cluster networks)', '--bgp-asn');
  const level = values['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw invalid('INVALID_FLAG', `invalid --log-level ${level}`, '--log-level');
  return {
    dataRoot: values['data-root'] ?? '/var/lib/switchyard',
    execRoot,
    socket: socketPathOf(unixHosts[0] ?? DEFAULT_HOST),
    ...tcpPart,
    ...(values.group !== undefined ? { group: values.group } : {}),
    ...(values.bip ? { bip: values.bip } : {}),
    pools: (values['default-address-pool'] ?? []).map((p) => parseAddressPool(p)),
    mtu,
    ip,
    firewall: bool(values.firewall, true, '--firewall'),
    ipForward: bool(values['ip-forward'], true, '--ip-forward'),
    dns: values.dns ?? [],
    logLevel: level as DaemonFlags['logLevel'],
    logMaxSize: logMaxSize(values['log-opt'] ?? []),
    ...(cluster ? { cluster } : {}),
    ...(bgp ? { bgp } : {}),
  };
}

/** Sandbox logs are capped at 64 MiB by default (docs/SECURITY.md "Disk"; Docker's json-file has no default cap). */
export const DEFAULT_LOG_MAX_SIZE = 64 * 1024 * 1024;

/**
 * `--log-opt max-size=SIZE` as dockerd's json-file takes it: a number with an optional
 * k/m/g unit (binary, as Docker's RAMInBytes), "-1" for no cap. Only max-size is known.
 */
function logMaxSize(opts: string[]): number {
  let size = DEFAULT_LOG_MAX_SIZE;
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1).trim().toLowerCase();
    if (key !== 'max-size') throw invalid('INVALID_FLAG', `unknown --log-opt ${JSON.stringify(opt)}: only max-size=SIZE is supported`, '--log-opt');
    if (value === '-1') {
      size = 0;
      continue;
    }
    const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/.exec(value);
    const n = m ? Math.floor(Number(m[1]) * 1024 ** ' kmg'.indexOf(m[2] || ' ')) : NaN;
    if (!m || !Number.isSafeInteger(n) || n < 4096) throw invalid('INVALID_FLAG', `invalid --log-opt max-size=${value}: want a size of at least 4k, like 10m or 1g, or -1`, '--log-opt');
    size = n;
  }
  return size;
}
