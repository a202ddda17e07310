/**
 * Every command of docs/CLI.md: its flags, its positional arguments, its one-line
 * description, and how parsed flags become a Command. docs/CLI.md is the long form.
 */
import type { EndpointSettingsRequest, SandboxCreateRequest } from '../api/docker/types.js';
import { invalid } from '../errors.js';
import type { Command, ParseContext } from './command-line.js';
import type { FlagSpecs, ParsedFlags } from './flags.js';
import { keyValues } from './key-values.js';
import { buildNetworkCreateRequest } from './network-create-request.js';

export interface CommandSpec {
  summary: string;
  /** Arguments after the flags, for usage lines. */
  usage: string;
  flags: FlagSpecs;
  args: { min: number; max?: number };
  /** For run/exec: a command follows `before` positionals (or `--`). */
  command?: { before: number };
  build(flags: ParsedFlags, context: ParseContext): Command;
}

export const commandKey = (group: string, sub: string): string => `${group} ${NETWORK_ALIASES[sub] ?? sub}`;

/** docker's aliases for network subcommands. */
const NETWORK_ALIASES: Record<string, string> = { list: 'ls', remove: 'rm' };

const str = (f: ParsedFlags, name: string): string | undefined => f.values[name] as string | undefined;
const bool = (f: ParsedFlags, name: string): boolean => f.values[name] === true;
const list = (f: ParsedFlags, name: string): string[] => (f.values[name] as string[] | undefined) ?? [];

const format: FlagSpecs = {
  format: { type: 'string', short: 'f', value: 'FORMAT', help: "Output format: 'json', 'table', or a Go template like '{{.Name}}'" },
};

export const COMMANDS: Record<string, CommandSpec> = {
  'network create': {
    summary: 'Create a network',
    usage: '[OPTIONS] NETWORK',
    args: { min: 1, max: 1 },
    flags: {
      driver: { type: 'string', short: 'd', value: 'DRIVER', help: 'Driver to manage the network (default "bridge")' },
      subnet: { type: 'string', multiple: true, value: 'CIDR', help: 'Subnet in CIDR format' },
      'ip-range': { type: 'string', multiple: true, value: 'CIDR', help: 'Allocate addresses from a sub-range' },
      gateway: { type: 'string', multiple: true, value: 'IP', help: 'Gateway for the subnet' },
      'aux-address': { type: 'string', multiple: true, value: 'NAME=IP', help: 'Auxiliary address the IPAM must not hand out' },
      ipv4: { type: 'boolean', help: 'Enable IPv4 (default true; --ipv4=false for an IPv6-only network)' },
      ipv6: { type: 'boolean', help: 'Enable IPv6' },
      internal: { type: 'boolean', help: 'Restrict external access to the network' },
      attachable: { type: 'boolean', help: 'Enable manual sandbox attachment' },
      ingress: { type: 'boolean', help: 'Create a swarm routing-mesh network (refused: no swarm)' },
      scope: { type: 'string', value: 'SCOPE', help: "Network's scope" },
      opt: { type: 'string', short: 'o', multiple: true, value: 'KEY=VALUE', help: 'Driver option' },
      label: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'Metadata label' },
      'ipam-driver': { type: 'string', value: 'DRIVER', help: 'IP address management driver (default "default")' },
      'ipam-opt': { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'IPAM driver option' },
    },
    build: (f) => ({
      name: 'network create',
      request: buildNetworkCreateRequest({
        name: f.positionals[0]!,
        driver: str(f, 'driver'),
        subnets: list(f, 'subnet'),
        ipRanges: list(f, 'ip-range'),
        gateways: list(f, 'gateway'),
        auxAddresses: list(f, 'aux-address'),
        ipv4: f.explicit.has('ipv4') ? bool(f, 'ipv4') : undefined,
        ipv6: f.explicit.has('ipv6') ? bool(f, 'ipv6') : undefined,
        internal: bool(f, 'internal'),
        attachable: bool(f, 'attachable'),
        ingress: bool(f, 'ingress'),
        scope: str(f, 'scope'),
        options: list(f, 'opt'),
        labels: list(f, 'label'),
        ipamDriver: str(f, 'ipam-driver'),
        ipamOptions: list(f, 'ipam-opt'),
      }),
    }),
  },

  'network ls': {
    summary: 'List networks',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: {
      quiet: { type: 'boolean', short: 'q', help: 'Only display network IDs' },
      filter: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'Filter (driver, id, label, name, scope, type, dangling)' },
      'no-trunc': { type: 'boolean', help: 'Do not truncate the output' },
      ...format,
    },
    build: (f) => ({
      name: 'network ls',
      quiet: bool(f, 'quiet'),
      filters: list(f, 'filter'),
      noTrunc: bool(f, 'no-trunc'),
      ...opt('format', str(f, 'format')),
    }),
  },

  'network inspect': {
    summary: 'Display detailed information on one or more networks',
    usage: '[OPTIONS] NETWORK [NETWORK...]',
    args: { min: 1 },
    flags: { ...format, verbose: { type: 'boolean', short: 'v', help: 'Verbose output (global networks: Peers)' } },
    build: (f) => ({ name: 'network inspect', refs: f.positionals, ...opt('format', str(f, 'format')), ...(bool(f, 'verbose') ? { verbose: true } : {}) }),
  },

  'network rm': {
    summary: 'Remove one or more networks',
    usage: '[OPTIONS] NETWORK [NETWORK...]',
    args: { min: 1 },
    flags: { force: { type: 'boolean', short: 'f', help: 'Do not fail when a network does not exist' } },
    build: (f) => ({ name: 'network rm', refs: f.positionals, force: bool(f, 'force') }),
  },

  'network prune': {
    summary: 'Remove all unused networks',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: {
      force: { type: 'boolean', short: 'f', help: 'Do not prompt for confirmation' },
      filter: { type: 'string', multiple: true, value: 'KEY=VALUE', help: "Filter (until=<timestamp>, label=<key>[=<value>], label!=…)" },
    },
    build: (f) => ({ name: 'network prune', force: bool(f, 'force'), filters: list(f, 'filter') }),
  },

  'network connect': {
    summary: 'Connect a sandbox to a network',
    usage: '[OPTIONS] NETWORK SANDBOX',
    args: { min: 2, max: 2 },
    flags: {
      ip: { type: 'string', value: 'IP', help: 'IPv4 address' },
      ip6: { type: 'string', value: 'IP', help: 'IPv6 address' },
      alias: { type: 'string', multiple: true, value: 'NAME', help: 'Network-scoped alias' },
      link: { type: 'string', multiple: true, value: 'NAME[:ALIAS]', help: 'Link to another sandbox' },
      'driver-opt': { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'Driver option for the endpoint' },
      'gw-priority': { type: 'string', value: 'N', help: 'Priority of this network for the default gateway' },
    },
    build: (f) => ({
      name: 'network connect',
      network: f.positionals[0]!,
      sandbox: f.positionals[1]!,
      endpoint: connectEndpointSettings(f),
    }),
  },

  'network disconnect': {
    summary: 'Disconnect a sandbox from a network',
    usage: '[OPTIONS] NETWORK SANDBOX',
    args: { min: 2, max: 2 },
    flags: { force: { type: 'boolean', short: 'f', help: 'Force the sandbox to disconnect from a network' } },
    build: (f) => ({ name: 'network disconnect', network: f.positionals[0]!, sandbox: f.positionals[1]!, force: bool(f, 'force') }),
  },

  run: {
    summary: 'Run a command in a new sandbox',
    usage: '[OPTIONS] [--] COMMAND [ARG...]',
    args: { min: 0, max: 0 },
    command: { before: 0 },
    flags: {
      detach: { type: 'boolean', short: 'd', help: 'Run in the background and print the sandbox ID' },
      rm: { type: 'boolean', help: 'Remove the sandbox when it exits' },
      name: { type: 'string', value: 'NAME', help: 'Assign a name to the sandbox' },
      hostname: { type: 'string', short: 'h', value: 'NAME', help: 'Sandbox host name' },
      network: { type: 'string', multiple: true, value: 'NET', aliases: ['net'], help: 'Connect to a network: NAME, bridge, host, none or container:NAME' },
      ip: { type: 'string', value: 'IP', help: 'IPv4 address (user-defined networks)' },
      ip6: { type: 'string', value: 'IP', help: 'IPv6 address (user-defined networks)' },
      'network-alias': { type: 'string', multiple: true, value: 'NAME', aliases: ['net-alias'], help: 'Network-scoped alias' },
      'mac-address': { type: 'string', value: 'MAC', help: 'MAC address of the first interface' },
      publish: { type: 'string', short: 'p', multiple: true, value: 'SPEC', help: 'Publish a port: [IP:][HOST_PORT:]PORT[/PROTO]' },
      'publish-all': { type: 'boolean', short: 'P', help: 'Publish all exposed ports to random host ports' },
      expose: { type: 'string', multiple: true, value: 'PORT', help: 'Expose a port or a range of ports' },
      dns: { type: 'string', multiple: true, value: 'IP', help: 'Custom DNS server' },
      'dns-search': { type: 'string', multiple: true, value: 'DOMAIN', help: 'Custom DNS search domain' },
      'dns-option': { type: 'string', multiple: true, value: 'OPT', aliases: ['dns-opt'], help: 'resolv.conf option' },
      link: { type: 'string', multiple: true, value: 'NAME[:ALIAS]', help: 'Link to another sandbox' },
      env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', help: 'Set an environment variable' },
      'cap-add': { type: 'string', multiple: true, value: 'CAP', help: 'Add a Linux capability (NAME, CAP_NAME or ALL)' },
      'cap-drop': { type: 'string', multiple: true, value: 'CAP', help: 'Drop a Linux capability (NAME, CAP_NAME or ALL)' },
      privileged: { type: 'boolean', help: 'Give every capability and a writable /sys and /proc/sys (the sandbox can take over the host)' },
      pid: { type: 'string', value: 'MODE', help: 'PID namespace to use: "host" shares the host\'s (default: its own)' },
    },
    build: (f, context) => buildRun(f, context),
  },

  ps: {
    summary: 'List sandboxes',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: {
      all: { type: 'boolean', short: 'a', help: 'Show all sandboxes (default shows just running)' },
      quiet: { type: 'boolean', short: 'q', help: 'Only display sandbox IDs' },
      'no-trunc': { type: 'boolean', help: 'Do not truncate the output' },
      format: format['format']!,
    },
    build: (f) => ({ name: 'ps', all: bool(f, 'all'), quiet: bool(f, 'quiet'), noTrunc: bool(f, 'no-trunc'), ...opt('format', str(f, 'format')) }),
  },

  inspect: {
    summary: 'Display detailed information on sandboxes (or networks)',
    usage: '[OPTIONS] NAME|ID [NAME|ID...]',
    args: { min: 1 },
    flags: { ...format, type: { type: 'string', value: 'TYPE', help: 'Only look up this type: sandbox or network' } },
    build: (f) => {
      const type = str(f, 'type');
      if (type !== undefined && type !== 'sandbox' && type !== 'container' && type !== 'network') {
        throw invalid('USAGE', `"${type}" is not a valid value for --type: use sandbox or network`, 'type');
      }
      return {
        name: 'inspect',
        refs: f.positionals,
        ...opt('format', str(f, 'format')),
        ...opt('type', type === undefined ? undefined : type === 'network' ? 'network' : 'sandbox'),
      } as Command;
    },
  },

  exec: {
    summary: 'Run a command in a running sandbox',
    usage: '[OPTIONS] SANDBOX [--] COMMAND [ARG...]',
    args: { min: 1, max: 1 },
    command: { before: 1 },
    flags: {
      interactive: { type: 'boolean', short: 'i', help: 'Keep STDIN open (stdin is always passed through)' },
      tty: { type: 'boolean', short: 't', help: 'Use the terminal (stdio is always inherited)' },
      env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', help: 'Set an environment variable' },
    },
    build: (f, context) => ({
      name: 'exec',
      sandbox: f.positionals[0]!,
      cmd: f.rest,
      interactive: bool(f, 'interactive'),
      tty: bool(f, 'tty'),
      env: envList(list(f, 'env'), context),
    }),
  },

  logs: {
    summary: "Fetch a sandbox's output",
    usage: '[OPTIONS] SANDBOX',
    args: { min: 1, max: 1 },
    flags: { follow: { type: 'boolean', short: 'f', help: 'Follow log output until the sandbox stops' } },
    build: (f) => ({ name: 'logs', sandbox: f.positionals[0]!, follow: bool(f, 'follow') }),
  },

  stop: {
    summary: 'Stop one or more running sandboxes',
    usage: '[OPTIONS] SANDBOX [SANDBOX...]',
    args: { min: 1 },
    flags: { time: { type: 'string', short: 't', value: 'SECONDS', help: 'Seconds to wait before killing the sandbox' } },
    build: (f) => ({ name: 'stop', refs: f.positionals, ...opt('timeout', seconds(str(f, 'time'))) }),
  },

  start: {
    summary: 'Start one or more stopped sandboxes',
    usage: 'SANDBOX [SANDBOX...]',
    args: { min: 1 },
    flags: {},
    build: (f) => ({ name: 'start', refs: f.positionals }),
  },

  rm: {
    summary: 'Remove one or more sandboxes',
    usage: '[OPTIONS] SANDBOX [SANDBOX...]',
    args: { min: 1 },
    flags: { force: { type: 'boolean', short: 'f', help: 'Stop and remove a running sandbox' } },
    build: (f) => ({ name: 'rm', refs: f.positionals, force: bool(f, 'force') }),
  },

  port: {
    summary: 'List port mappings of a sandbox',
    usage: 'SANDBOX [PRIVATE_PORT[/PROTO]]',
    args: { min: 1, max: 2 },
    flags: {},
    build: (f) => ({ name: 'port', sandbox: f.positionals[0]!, ...opt('privatePort', f.positionals[1]) }),
  },

  rename: {
    summary: 'Rename a sandbox',
    usage: 'SANDBOX NEW_NAME',
    args: { min: 2, max: 2 },
    flags: {},
    build: (f) => ({ name: 'rename', sandbox: f.positionals[0]!, newName: f.positionals[1]! }),
  },

  'system reset': {
    summary: 'Remove everything Switchyard made on this host (sandboxes, links, nftables tables, mounts, roots)',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: {
      force: { type: 'boolean', short: 'f', help: 'Do not prompt for confirmation' },
      'data-root': { type: 'string', value: 'DIR', help: 'Data root of the daemon to reset (default "/var/lib/switchyard")' },
      'exec-root': { type: 'string', value: 'DIR', help: 'Exec root of the daemon to reset (default "/run/switchyard")' },
    },
    build: (f) => ({
      name: 'system reset',
      force: bool(f, 'force'),
      dataRoot: str(f, 'data-root') ?? '/var/lib/switchyard',
      execRoot: str(f, 'exec-root') ?? '/run/switchyard',
    }),
  },

  'node ls': {
    summary: "List the cluster's hosts (daemon started with --cluster-store)",
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: { ...format },
    build: (f) => ({ name: 'node ls', ...opt('format', str(f, 'format')) }),
  },

  'node inspect': {
    summary: 'Display detailed information on one or more cluster hosts',
    usage: '[OPTIONS] NODE [NODE...]',
    args: { min: 1 },
    flags: { ...format },
    build: (f) => ({ name: 'node inspect', refs: f.positionals, ...opt('format', str(f, 'format')) }),
  },

  'node rm': {
    summary: 'Forget one or more cluster hosts that are down (releases their endpoints and addresses)',
    usage: '[OPTIONS] NODE [NODE...]',
    args: { min: 1 },
    flags: { force: { type: 'boolean', short: 'f', help: 'Remove the node even if it is ready' } },
    build: (f) => ({ name: 'node rm', refs: f.positionals, force: bool(f, 'force') }),
  },

  'firewall reload': {
    summary: "Re-apply Switchyard's nftables table",
    usage: '',
    args: { min: 0, max: 0 },
    flags: {},
    build: () => ({ name: 'firewall reload' }),
  },

  version: {
    summary: 'Show the Switchyard version information',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: format,
    build: (f) => ({ name: 'version', ...opt('format', str(f, 'format')) }),
  },

  info: {
    summary: 'Display system-wide information',
    usage: '[OPTIONS]',
    args: { min: 0, max: 0 },
    flags: format,
    build: (f) => ({ name: 'info', ...opt('format', str(f, 'format')) }),
  },
};

/** `{key: value}` when value is defined, `{}` otherwise (keeps optional fields absent). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function seconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?[0-9]+$/.test(text)) throw invalid('USAGE', `invalid argument "${text}" for "--time": not a whole number of seconds`, 'time');
  return Number(text);
}

/**
 * `-e K=V` as given; `-e K` takes K's value from the caller's environment and is dropped
 * when K is unset (docker's opts.ValidateEnv).
 */
function envList(entries: string[], context: ParseContext): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('=')) throw invalid('USAGE', `invalid environment variable: ${entry}`, 'env');
    if (entry.includes('=')) out.push(entry);
    else if (context.env[entry] !== undefined) out.push(`${entry}=${context.env[entry]}`);
  }
  return out;
}

function connectEndpointSettings(f: ParsedFlags): EndpointSettingsRequest {
  // What the docker CLI sends (cli/command/network/connect.go): IPAMConfig always an
  // object, Aliases [] when none, DriverOpts {}.
  const ipam: { IPv4Address?: string; IPv6Address?: string } = {};
  const ip = str(f, 'ip');
  const ip6 = str(f, 'ip6');
  if (ip) ipam.IPv4Address = ip;
  if (ip6) ipam.IPv6Address = ip6;
  const priority = str(f, 'gw-priority');
  if (priority !== undefined && !/^-?[0-9]+$/.test(priority)) {
    throw invalid('USAGE', `invalid argument "${priority}" for "--gw-priority": not an integer`, 'gw-priority');
  }
  return {
    IPAMConfig: ipam,
    Links: list(f, 'link').length > 0 ? list(f, 'link') : null,
    Aliases: list(f, 'alias'),
    DriverOpts: keyValues(list(f, 'driver-opt'), 'driver-opt'),
    ...(priority !== undefined ? { GwPriority: Number(priority) } : {}),
  };
}

function buildRun(f: ParsedFlags, context: ParseContext): Command {
  const detach = bool(f, 'detach');
  const rm = bool(f, 'rm');
  const networks = list(f, 'network');
  const primary = networks[0] ?? 'bridge';

  const endpoints: Record<string, EndpointSettingsRequest> = {};
  const first: EndpointSettingsRequest = {};
  const ip = str(f, 'ip');
  const ip6 = str(f, 'ip6');
  if (ip || ip6) first.IPAMConfig = { ...(ip ? { IPv4Address: ip } : {}), ...(ip6 ? { IPv6Address: ip6 } : {}) };
  if (list(f, 'network-alias').length > 0) first.Aliases = list(f, 'network-alias');
  const mac = str(f, 'mac-address');
  if (mac) first.MacAddress = mac;
  if (Object.keys(first).length > 0) endpoints[primary] = first;
  for (const extra of networks.slice(1)) endpoints[extra] ??= {};

  const request: SandboxCreateRequest = {
    Cmd: f.rest,
    ...opt('Name', str(f, 'name')),
    ...opt('Hostname', str(f, 'hostname')),
    ...nonEmpty('Env', envList(list(f, 'env'), context)),
    ...opt('NetworkMode', networks[0]),
    ...(Object.keys(endpoints).length > 0 ? { EndpointsConfig: endpoints } : {}),
    ...opt('MacAddress', mac),
    ...nonEmpty('PortSpecs', list(f, 'publish')),
    ...(bool(f, 'publish-all') ? { PublishAll: true } : {}),
    ...nonEmpty('Expose', list(f, 'expose')),
    ...nonEmpty('Dns', list(f, 'dns')),
    ...nonEmpty('DnsSearch', list(f, 'dns-search')),
    ...nonEmpty('DnsOptions', list(f, 'dns-option')),
    ...nonEmpty('Links', list(f, 'link')),
    // Attached runs remove the sandbox themselves, after reading its exit status: a
    // daemon-side removal could race the CLI's wait and logs requests.
    AutoRemove: rm && detach,
    ...hostConfigOf(f),
  };
  return { name: 'run', detach, request, removeAfter: rm && !detach };
}

/** --cap-add, --cap-drop, --privileged, --pid as Docker's HostConfig (the daemon checks the names). */
function hostConfigOf(f: ParsedFlags): Pick<SandboxCreateRequest, 'HostConfig'> {
  const hc: NonNullable<SandboxCreateRequest['HostConfig']> = {
    ...nonEmpty('CapAdd', list(f, 'cap-add')),
    ...nonEmpty('CapDrop', list(f, 'cap-drop')),
    ...(bool(f, 'privileged') ? { Privileged: true } : {}),
    ...opt('PidMode', str(f, 'pid')),
  };
  return Object.keys(hc).length > 0 ? { HostConfig: hc } : {};
}

function nonEmpty<K extends string>(key: K, values: string[]): { [P in K]?: string[] } {
  return (values.length > 0 ? { [key]: values } : {}) as { [P in K]?: string[] };
}
