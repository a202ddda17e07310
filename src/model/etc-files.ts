/**
 * The files a sandbox sees under /etc: hosts, hostname and resolv.conf, rendered from
 * plain inputs. Layouts follow moby v28.5.2 libnetwork/etchosts and
 * libnetwork/internal/resolvconf (docs/notes/kernel-facts.md, #docker-resolvconf-and-upstreams and #docker-hosts-file).
 */
import { invalid } from '../errors.js';
import { type IpAddress, formatIp, isLoopback, tryParseIp } from './ip.js';

// ---------------------------------------------------------------------------------------
// /etc/hosts

export interface HostsRecord {
  readonly ip: string;
  readonly names: readonly string[];
}

/** etchosts defaultContentIPv4 / defaultContentIPv6. */
const DEFAULT_V4: readonly HostsRecord[] = [{ ip: '127.0.0.1', names: ['localhost'] }];
const DEFAULT_V6: readonly HostsRecord[] = [
  { ip: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
  { ip: 'fe00::', names: ['ip6-localnet'] },
  { ip: 'ff00::', names: ['ip6-mcastprefix'] },
  { ip: 'ff02::1', names: ['ip6-allnodes'] },
  { ip: 'ff02::2', names: ['ip6-allrouters'] },
];

export interface HostsInput {
  /** Adds the IPv6 loopback and multicast names (the sandbox has IPv6 enabled). */
  readonly ipv6: boolean;
  /** `--add-host` records (already expanded, see parseAddHost), then `--link` records. */
  readonly extraHosts?: readonly HostsRecord[];
  /** The sandbox's own interface addresses, one line each. */
  readonly selfIps: readonly string[];
  readonly hostname: string;
  readonly domainname?: string;
}

/** The sandbox's names for its own addresses: FQDN then short name when a domain is set. */
export function selfNames(hostname: string, domainname?: string): string[] {
  return domainname ? [`${hostname}.${domainname}`, hostname] : [hostname];
}

export function renderHosts(input: HostsInput): string {
  const records = [
    ...DEFAULT_V4,
    ...(input.ipv6 ? DEFAULT_V6 : []),
    ...(input.extraHosts ?? []),
    ...input.selfIps.map((ip) => ({ ip, names: selfNames(input.hostname, input.domainname) })),
  ];
  return records.map((r) => `${r.ip}\t${r.names.join(' ')}\n`).join('');
}

export interface LinkTarget {
  /** The alias given in `--link name:alias` (the name when no alias was given). */
  readonly alias: string;
  /** The linked sandbox's name and hostname. */
  readonly name: string;
  readonly hostname: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/**
 * `--link` records on the default bridge (daemon/container_operations.go): the alias, the
 * linked container's hostname, and its name when that differs from the alias.
 */
export function linkRecords(links: readonly LinkTarget[]): HostsRecord[] {
  const out: HostsRecord[] = [];
  for (const link of links) {
    const names = [link.alias, link.hostname, ...(link.alias !== link.name ? [link.name] : [])];
    if (link.ipv4) out.push({ ip: link.ipv4, names });
    if (link.ipv6) out.push({ ip: link.ipv6, names });
  }
  return out;
}

/** Parses `--link name[:alias]`. */
export function parseLink(spec: string, field = 'Links'): { name: string; alias: string } {
  const [name = '', alias, ...rest] = spec.split(':');
  if (name === '' || alias === '' || rest.length > 0) {
    throw invalid('INVALID_LINK', `invalid link ${JSON.stringify(spec)}: want NAME or NAME:ALIAS`, field);
  }
  return { name: name.replace(/^\//, ''), alias: alias ?? name.replace(/^\//, '') };
}

/**
 * Parses `--add-host name:ip` or `name=ip` (Docker 26+), where ip may be `[v6]` or the
 * special `host-gateway`, which becomes one record per host gateway address.
 */
export function parseAddHost(spec: string, hostGatewayIps: readonly string[] = [], field = 'ExtraHosts'): HostsRecord[] {
  const sep = spec.includes('=') ? spec.indexOf('=') : spec.indexOf(':');
  const name = sep < 0 ? '' : spec.slice(0, sep);
  let ipText = sep < 0 ? '' : spec.slice(sep + 1);
  if (name === '' || /\s/.test(name)) throw invalid('INVALID_EXTRA_HOST', `invalid IP address in add-host: ${JSON.stringify(spec)}: want NAME:IP`, field);
  if (ipText === 'host-gateway') {
    if (hostGatewayIps.length === 0) throw invalid('INVALID_EXTRA_HOST', `unable to derive the IP value for host-gateway in ${JSON.stringify(spec)}`, field);
    return hostGatewayIps.map((ip) => ({ ip, names: [name] }));
  }
  if (ipText.startsWith('[') && ipText.endsWith(']')) ipText = ipText.slice(1, -1);
  const addr = tryParseIp(ipText);
  if (addr === undefined) throw invalid('INVALID_EXTRA_HOST', `invalid IP address in add-host: ${JSON.stringify(ipText)}`, field);
  return [{ ip: formatIp(addr), names: [name] }];
}

export function renderHostname(hostname: string): string {
  return `${hostname}\n`;
}

// ---------------------------------------------------------------------------------------
// /etc/resolv.conf

export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
}

/**
 * Parses resolv.conf text as glibc reads it (resolv.conf(5)): '#' and ';' start comments,
 * the last `search`/`domain` line wins, `options` lines accumulate.
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, ...args] = line.split(/\s+/);
    if (keyword === 'nameserver' && args[0] !== undefined) nameservers.push(args[0]);
    else if (keyword === 'search') search = args;
    else if (keyword === 'domain' && args[0] !== undefined) search = [args[0]];
    else if (keyword === 'options') options.push(...args);
  }
  return { nameservers, search, options };
}

export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';
/** libnetwork/internal/resolvconf defaultIPv4NSs / defaultIPv6NSs. */
export const DEFAULT_NAMESERVERS_V4: readonly string[] = ['8.8.8.8', '8.8.4.4'];
export const DEFAULT_NAMESERVERS_V6: readonly string[] = ['2001:4860:4860::8888', '2001:4860:4860::8844'];
/** The embedded resolver forwards to at most 3 upstreams (libnetwork resolver maxExtDNS). */
export const MAX_UPSTREAMS = 3;

export interface ResolvConfInput {
  /** 'internal' = embedded DNS at 127.0.0.11 (user-defined networks); 'legacy' = default bridge. */
  readonly mode: 'internal' | 'legacy';
  /** The host's resolv.conf, parsed. */
  readonly host: ResolvConf;
  readonly hostPath?: string;
  /** Per-sandbox (or daemon-wide) overrides: --dns, --dns-search, --dns-option. */
  readonly dns?: readonly string[];
  readonly dnsSearch?: readonly string[];
  readonly dnsOptions?: readonly string[];
  /** The sandbox has IPv6: keeps IPv6 nameservers in legacy mode. */
  readonly ipv6?: boolean;
  /**
   * Every endpoint is on an --internal network: no upstream reached from the host's
   * namespace (internal mode), only explicit --dns servers, dialled from the sandbox's.
   */
  readonly internalOnly?: boolean;
}

export interface Upstream {
  readonly address: string;
  /** Dialled from the host's namespace (host servers) or the sandbox's (--dns). */
  readonly fromHost: boolean;
}

export interface ResolvConfResult {
  readonly text: string;
  /** Where the embedded DNS forwards (internal mode only; empty in legacy mode). */
  readonly upstreams: readonly Upstream[];
}

const HEADER = `# Generated by Switchyard.
# Rewritten whenever the sandbox's networks or DNS settings change.
`;

function validNameserver(text: string, field: string): IpAddress {
  const addr = tryParseIp(text);
  if (addr === undefined) throw invalid('INVALID_DNS', `invalid nameserver ${JSON.stringify(text)}: not an IP address`, field);
  return addr;
}

/**
 * The create-time check of --dns, --dns-search and --dns-option, so that a bad value is
 * refused before anything is recorded (not at start), and no value can add a line of
 * its own to resolv.conf (resolv.conf(5) is line-based: a newline in a search domain
 * would be a new directive). Non-string entries are left to the request's type checks.
 */
export function validateDnsSettings(s: { servers?: unknown; search?: unknown; options?: unknown }): void {
  const each = (v: unknown, f: (x: string, i: number) => void) => {
    if (Array.isArray(v)) v.forEach((x, i) => typeof x === 'string' && f(x, i));
  };
  each(s.servers, (d, i) => validNameserver(d, `Dns[${i}]`));
  const word = /^[^\s#;\0]{1,253}$/;
  each(s.search, (d, i) => {
    if (!word.test(d)) throw invalid('INVALID_DNS_SEARCH', `invalid DNS search domain ${JSON.stringify(d)}: want a domain name without spaces`, `DnsSearch[${i}]`);
  });
  each(s.options, (o, i) => {
    if (!word.test(o)) throw invalid('INVALID_DNS_OPTION', `invalid DNS option ${JSON.stringify(o)}: want one resolv.conf option without spaces`, `DnsOptions[${i}]`);
  });
}

const hasNdots = (options: readonly string[]): boolean => options.some((o) => /^ndots:[0-9]+$/.test(o));

export function renderResolvConf(input: ResolvConfInput): ResolvConfResult {
  const overrides: string[] = [];
  const explicitDns = (input.dns ?? []).map((d) => validNameserver(d, 'Dns'));
  if (explicitDns.length > 0) overrides.push('nameservers');
  let search = input.host.search;
  if (input.dnsSearch !== undefined && input.dnsSearch.length > 0) {
    overrides.push('search');
    // `--dns-search .` means "no search domains" (Docker).
    search = input.dnsSearch.length === 1 && input.dnsSearch[0] === '.' ? [] : input.dnsSearch;
  }
  let options = input.host.options;
  if (input.dnsOptions !== undefined && input.dnsOptions.length > 0) {
    overrides.push('options');
    options = input.dnsOptions;
  }
  const comments: string[] = [];
  let nameservers: string[];
  let upstreams: Upstream[] = [];
  if (input.mode === 'internal') {
    nameservers = [EMBEDDED_DNS_ADDRESS];
    upstreams = explicitDns.length > 0
      ? explicitDns.map((a) => ({ address: formatIp(a), fromHost: false }))
      : input.internalOnly === true
        ? []
        : input.host.nameservers.filter((t) => tryParseIp(t) !== undefined).map((t) => ({ address: formatIp(tryParseIp(t)!), fromHost: true }));
    upstreams = upstreams.slice(0, MAX_UPSTREAMS);
    const ndotsFrom = hasNdots(options) ? (overrides.includes('options') ? 'override' : 'host') : 'internal';
    // The embedded DNS answers single-label names itself, so ndots:0 avoids the search
    // list round trips unless the user asked for a value (§3.3).
    if (!hasNdots(options)) options = [...options, 'ndots:0'];
    comments.push(
      `# Based on host file: '${input.hostPath ?? '/etc/resolv.conf'}' (internal resolver)`,
      `# ExtServers: [${upstreams.map((u) => (u.fromHost ? `host(${u.address})` : u.address)).join(' ')}]`,
      `# Overrides: [${overrides.join(' ')}]`,
      `# Option ndots from: ${ndotsFrom}`,
    );
  } else {
    comments.push(`# Based on host file: '${input.hostPath ?? '/etc/resolv.conf'}' (legacy)`);
    if (explicitDns.length > 0) {
      nameservers = explicitDns.map(formatIp);
    } else {
      // The host's loopback resolvers cannot be reached from the sandbox's namespace.
      nameservers = input.host.nameservers
        .map((t) => tryParseIp(t))
        .filter((a): a is IpAddress => a !== undefined && !isLoopback(a) && (a.family === 4 || input.ipv6 === true))
        .map(formatIp);
      if (nameservers.length === 0) {
        nameservers = [...DEFAULT_NAMESERVERS_V4, ...(input.ipv6 ? DEFAULT_NAMESERVERS_V6 : [])];
        comments.push('# Used default nameservers.');
      }
    }
    comments.push(`# Overrides: [${overrides.join(' ')}]`);
  }
  const body = [
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...(options.length > 0 ? [`options ${options.join(' ')}`] : []),
  ];
  const text = `${HEADER}\n${body.join('\n')}\n\n${comments.join('\n')}\n`;
  return { text, upstreams };
}
