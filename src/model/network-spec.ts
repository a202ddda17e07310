/**
 * Validation of Docker's NetworkCreateRequest (api/types/network CreateRequest) into a
 * normalized NetworkSpec. Everything is checked before anything is set up; the rules and
 * messages follow moby v28.5.2 (api/types/network/ipam.go ValidateIPAM, libnetwork
 * controller NewNetwork, bridge processIPAM), with stricter names (see names.ts).
 */
import { SwitchyardError, forbidden, invalid } from '../errors.js';
import {
  type DriverName,
  type DriverOptions,
  GENERIC_OPT,
  isKnownDriver,
  optionBool,
  validateDriverOptions,
} from './driver-options.js';
import { parseGoBool } from './go-syntax.js';
import {
  type Cidr,
  type IpAddress,
  type IpFamily,
  cidrContains,
  cidrContainsCidr,
  cidrsOverlap,
  formatCidr,
  isCanonical,
  formatCidrAddress,
  tryParseCidr,
  tryParseIp,
} from './ip.js';
import { validateNetworkName } from './names.js';
import { BLOCK_SIZE_OPT, checkBlockFits, parseBlockSize } from './ip-blocks.js';

/** The JSON body of POST /networks/create, as the docker CLI sends it. */
export interface NetworkCreateRequest {
  Name?: unknown;
  Driver?: unknown;
  Scope?: unknown;
  EnableIPv4?: unknown;
  EnableIPv6?: unknown;
  IPAM?: {
    Driver?: unknown;
    Options?: unknown;
    Config?: unknown;
  } | null;
  Internal?: unknown;
  Attachable?: unknown;
  Ingress?: unknown;
  ConfigOnly?: unknown;
  ConfigFrom?: { Network?: unknown } | null;
  Options?: unknown;
  Labels?: unknown;
  CheckDuplicate?: unknown;
}

export type NetworkScope = 'local' | 'swarm' | 'global';

export interface IpamConfigSpec {
  readonly family: IpFamily;
  readonly subnet: Cidr;
  readonly ipRange: Cidr | undefined;
  readonly gateway: IpAddress | undefined;
  readonly auxAddresses: Readonly<Record<string, IpAddress>>;
}

export interface NetworkSpec {
  readonly name: string;
  readonly driver: DriverName;
  readonly scope: NetworkScope;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly ipam: {
    readonly driver: 'default';
    readonly options: Readonly<Record<string, string>>;
    /**
     * False when the request had no `IPAM.Options` object (absent or null, or no IPAM at
     * all): Docker then shows `"Options": null`, and `{}` only when `{}` was sent.
     */
    readonly optionsGiven: boolean;
    /** User-configured subnets only; empty = allocate from the default pools. */
    readonly config: readonly IpamConfigSpec[];
    readonly serial: boolean;
  };
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly ingress: boolean;
  readonly configOnly: boolean;
  readonly configFrom: string | undefined;
  /** Driver options as given, minus enable_ipv4/6 when the top-level fields decided. */
  readonly options: Readonly<Record<string, string>>;
  readonly driverOptions: DriverOptions;
  readonly labels: Readonly<Record<string, string>>;
  /** Things accepted but ignored, for the API's `Warning` field. */
  readonly warnings: readonly string[];
}

export const PREDEFINED_NETWORK_NAMES: readonly string[] = ['bridge', 'host', 'none', 'default'];

export interface ValidateNetworkCreateOptions {
  /** The daemon creating its own predefined networks. */
  readonly allowPredefined?: boolean;
}

export const IPAM_SERIAL_OPTION = 'com.docker.network.ipam.serial';

// ---------------------------------------------------------------------------------------
// Shape checks on untyped JSON

function optionalBool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid('INVALID_TYPE', `${field} must be a boolean`, field);
  return value;
}

function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid('INVALID_TYPE', `${field} must be a string`, field);
  return value;
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('INVALID_TYPE', `${field} must be an object of strings`, field);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalid('INVALID_TYPE', `${field}.${k} must be a string`, `${field}.${k}`);
    out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// IPAM

interface IpamIssue {
  message: string;
  field: string;
}

function validateIpamConfig(entry: unknown, index: number, enableIPv6: boolean, issues: IpamIssue[]): IpamConfigSpec | undefined {
  const base = `IPAM.Config[${index}]`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    issues.push({ message: `${base} must be an object`, field: base });
    return undefined;
  }
  const e = entry as Record<string, unknown>;
  const subnetText = optionalString(e['Subnet'], `${base}.Subnet`);
  const subnet = tryParseCidr(subnetText);
  if (subnet === undefined) {
    issues.push({ message: `invalid subnet ${subnetText}: invalid CIDR block notation`, field: `${base}.Subnet` });
    return undefined;
  }
  // ValidateIPAM skips IPv6 entries when IPv6 is off; the network then has no IPv6.
  if (subnet.family === 6 && !enableIPv6) return undefined;
  const before = issues.length;
  if (!isCanonical(subnet)) {
    issues.push({ message: `invalid subnet ${formatCidrAddress(subnet)}: it should be ${formatCidr(subnet)}`, field: `${base}.Subnet` });
  }
  const fam = `IPv${subnet.family}`;
  const ipRange = validateIpRange(optionalString(e['IPRange'], `${base}.IPRange`), subnet, `${base}.IPRange`, issues);
  const gatewayText = optionalString(e['Gateway'], `${base}.Gateway`);
  const gateway = validateAddressIn(gatewayText, subnet, fam, `invalid gateway ${gatewayText}`, `${base}.Gateway`, issues);
  const auxAddresses: Record<string, IpAddress> = {};
  for (const [name, text] of Object.entries(stringMap(e['AuxiliaryAddresses'] ?? e['AuxAddress'], `${base}.AuxiliaryAddresses`))) {
    const aux = validateAddressIn(text, subnet, fam, `invalid auxiliary address ${name}`, `${base}.AuxiliaryAddresses.${name}`, issues);
    if (aux !== undefined) auxAddresses[name] = aux;
  }
  if (issues.length > before) return undefined;
  return { family: subnet.family, subnet, ipRange, gateway, auxAddresses };
}

function validateIpRange(text: string, subnet: Cidr, field: string, issues: IpamIssue[]): Cidr | undefined {
  if (text === '') return undefined;
  const range = tryParseCidr(text);
  if (range === undefined) {
    issues.push({ message: `invalid ip-range ${text}: invalid CIDR block notation`, field });
    return undefined;
  }
  if (range.family !== subnet.family) {
    issues.push({ message: `invalid ip-range ${text}: parent subnet is an IPv${subnet.family} block`, field });
    return undefined;
  }
  const before = issues.length;
  if (range.prefix < subnet.prefix) {
    issues.push({ message: `invalid ip-range ${text}: CIDR block is bigger than its parent subnet ${formatCidr(subnet)}`, field });
  }
  if (!isCanonical(range)) {
    issues.push({ message: `invalid ip-range ${text}: it should be ${formatCidr(range)}`, field });
  }
  if (!cidrsOverlap(subnet, range)) {
    issues.push({ message: `invalid ip-range ${text}: parent subnet ${formatCidr(subnet)} doesn't contain ip-range`, field });
  }
  return issues.length > before || !cidrContainsCidr(subnet, range) ? undefined : range;
}

function validateAddressIn(text: string, subnet: Cidr, fam: string, what: string, field: string, issues: IpamIssue[]): IpAddress | undefined {
  if (text === '') return undefined;
  const addr = tryParseIp(text);
  if (addr === undefined) {
    issues.push({ message: `${what}: invalid address`, field });
  } else if (`IPv${addr.family}` !== fam) {
    issues.push({ message: `${what}: parent subnet is an ${fam} block`, field });
  } else if (!cidrContains(subnet, addr)) {
    issues.push({ message: `${what}: parent subnet ${formatCidr(subnet)} doesn't contain this address`, field });
  } else {
    return addr;
  }
  return undefined;
}

function checkNoOverlap(config: readonly IpamConfigSpec[], indexes: readonly number[]): void {
  for (let i = 0; i < config.length; i++) {
    for (let j = i + 1; j < config.length; j++) {
      if (cidrsOverlap(config[i]!.subnet, config[j]!.subnet)) {
        const field = `IPAM.Config[${indexes[j]}].Subnet`;
        throw invalid('SUBNET_OVERLAP', `invalid subnet ${formatCidr(config[j]!.subnet)}: overlaps with subnet ${formatCidr(config[i]!.subnet)} of IPAM.Config[${indexes[i]}]`, field);
      }
    }
  }
}

function validateIpam(req: NetworkCreateRequest, driver: DriverName, enableIPv4: boolean, enableIPv6: boolean) {
  const ipam = req.IPAM ?? {};
  // An array is an object to typeof: {"IPAM": [...]} was once taken for "no IPAM settings".
  if (typeof ipam !== 'object' || Array.isArray(ipam)) throw invalid('INVALID_TYPE', 'IPAM must be an object', 'IPAM');
  const ipamDriver = optionalString(ipam.Driver, 'IPAM.Driver');
  if (ipamDriver !== '' && ipamDriver !== 'default') {
    throw new SwitchyardError('not-found', 'IPAM_DRIVER_NOT_FOUND', `plugin "${ipamDriver}" not found`, { field: 'IPAM.Driver' });
  }
  const options = stringMap(ipam.Options, 'IPAM.Options');
  for (const key of Object.keys(options)) {
    if (key !== IPAM_SERIAL_OPTION) {
      throw invalid('UNKNOWN_OPTION', `unknown IPAM option ${JSON.stringify(key)} for the default IPAM driver`, `IPAM.Options.${key}`);
    }
  }
  const serialText = options[IPAM_SERIAL_OPTION];
  const serial = serialText === undefined ? false : parseBoolParam(serialText, `IPAM.Options.${IPAM_SERIAL_OPTION}`);
  const rawConfig = ipam.Config ?? [];
  if (!Array.isArray(rawConfig)) throw invalid('INVALID_TYPE', 'IPAM.Config must be an array', 'IPAM.Config');

  const issues: IpamIssue[] = [];
  const config: IpamConfigSpec[] = [];
  const indexes: number[] = [];
  const warnings: string[] = [];
  rawConfig.forEach((entry, i) => {
    const spec = validateIpamConfig(entry, i, enableIPv6, issues);
    if (spec === undefined) return;
    if (spec.family === 4 && !enableIPv4) {
      warnings.push(`IPv4 is disabled: ignoring IPAM.Config[${i}] (${formatCidr(spec.subnet)})`);
      return;
    }
    config.push(spec);
    indexes.push(i);
  });
  if (issues.length > 0) {
    // Docker reports every IPAM problem at once (errors.Join); the field is the first one.
    throw invalid('INVALID_IPAM', issues.map((x) => x.message).join('; '), issues[0]!.field);
  }
  checkNoOverlap(config, indexes);
  if (driver === 'bridge') {
    for (const family of [4, 6] as const) {
      const same = config.filter((c) => c.family === family);
      if (same.length > 1) {
        const at = indexes[config.indexOf(same[1]!)];
        throw new SwitchyardError('forbidden', 'MULTIPLE_SUBNETS', "bridge driver doesn't support multiple subnets", { field: `IPAM.Config[${at}].Subnet` });
      }
    }
  }
  const optionsGiven = ipam.Options !== undefined && ipam.Options !== null;
  return { ipam: { driver: 'default' as const, options, optionsGiven, config, serial }, warnings };
}

// ---------------------------------------------------------------------------------------
// The request

function resolveDriver(req: NetworkCreateRequest, configOnly: boolean): DriverName {
  // A config-only network is always driver null, scope local (libnetwork NewNetwork).
  if (configOnly) return 'null';
  const driver = optionalString(req.Driver, 'Driver') || 'bridge';
  if (!isKnownDriver(driver)) {
    throw new SwitchyardError('not-found', 'DRIVER_NOT_FOUND', `plugin "${driver}" not found`, { field: 'Driver' });
  }
  return driver;
}

function resolveScope(req: NetworkCreateRequest, driver: DriverName, configOnly: boolean): NetworkScope {
  if (configOnly) return 'local';
  const scope = optionalString(req.Scope, 'Scope');
  const natural: NetworkScope = driver === 'overlay' ? 'swarm' : 'local';
  if (scope === '') return natural;
  if (scope !== 'local' && scope !== 'swarm' && scope !== 'global') {
    throw invalid('INVALID_SCOPE', `invalid scope ${JSON.stringify(scope)}: want local, swarm or global`, 'Scope');
  }
  if (natural === 'swarm' && scope === 'local') {
    throw forbidden('SCOPE_DOWNGRADE', 'cannot downgrade network scope');
  }
  return scope;
}

/** Top-level EnableIPv4/6 win; else the com.docker.network.enable_ipv4/6 options; else v4 on, v6 off. */
function resolveFamilies(req: NetworkCreateRequest, options: Record<string, string>) {
  const topV4 = optionalBool(req.EnableIPv4, 'EnableIPv4');
  const topV6 = optionalBool(req.EnableIPv6, 'EnableIPv6');
  const optV4 = optionBool(options, GENERIC_OPT.enableIpv4, undefined);
  const optV6 = optionBool(options, GENERIC_OPT.enableIpv6, undefined);
  const cleaned = { ...options };
  if (topV4 !== undefined) delete cleaned[GENERIC_OPT.enableIpv4];
  if (topV6 !== undefined) delete cleaned[GENERIC_OPT.enableIpv6];
  return { enableIPv4: topV4 ?? optV4 ?? true, enableIPv6: topV6 ?? optV6 ?? false, options: cleaned };
}

/**
 * Validates a create request and normalizes it. Throws SwitchyardError: invalid (400)
 * with the offending field, not-found (404) for an unknown driver or IPAM driver,
 * forbidden (403) for a predefined name or several bridge subnets of one family.
 */
export function validateNetworkCreate(body: unknown, opts: ValidateNetworkCreateOptions = {}): NetworkSpec {
  const req = body as NetworkCreateRequest;
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw invalid('INVALID_TYPE', 'the request body must be a JSON object');
  const name = validateNetworkName(optionalString(req.Name, 'Name'));
  if (PREDEFINED_NETWORK_NAMES.includes(name) && !opts.allowPredefined) {
    throw forbidden('PREDEFINED_NETWORK', `operation is not permitted on predefined ${name} network`);
  }
  const configOnly = optionalBool(req.ConfigOnly, 'ConfigOnly') ?? false;
  const driver = resolveDriver(req, configOnly);
  const scope = resolveScope(req, driver, configOnly);
  const families = resolveFamilies(req, stringMap(req.Options, 'Options'));
  const { enableIPv4, enableIPv6 } = families;
  const needsAddresses = driver === 'bridge' || driver === 'macvlan' || driver === 'ipvlan' || driver === 'overlay';
  if (needsAddresses && !enableIPv4 && !enableIPv6) {
    throw invalid('NO_ADDRESS_FAMILY', 'IPv4 or IPv6 must be enabled', 'EnableIPv4');
  }
  const driverOptions = validateDriverOptions(driver, families.options);
  const { ipam, warnings } = validateIpam(req, driver, enableIPv4, enableIPv6);
  const configFromObj: unknown = req.ConfigFrom;
  if (configFromObj !== undefined && configFromObj !== null && (typeof configFromObj !== 'object' || Array.isArray(configFromObj))) {
    throw invalid('INVALID_TYPE', 'ConfigFrom must be an object like {"Network": "NAME"}', 'ConfigFrom');
  }
  const configFromRaw = req.ConfigFrom?.Network;
  const configFrom = optionalString(configFromRaw, 'ConfigFrom.Network');
  if (configOnly && configFrom !== '') {
    throw invalid('INVALID_CONFIG_FROM', 'a configuration network cannot depend on another configuration network', 'ConfigFrom.Network');
  }
  const ingress = optionalBool(req.Ingress, 'Ingress') ?? false;
  if (ingress && driver !== 'overlay') throw invalid('INVALID_INGRESS', 'only an overlay network can be the ingress network', 'Ingress');
  if (req.CheckDuplicate !== undefined) optionalBool(req.CheckDuplicate, 'CheckDuplicate'); // deprecated: duplicates are always refused
  return {
    name,
    driver,
    scope,
    enableIPv4,
    enableIPv6,
    ipam,
    internal: optionalBool(req.Internal, 'Internal') ?? false,
    attachable: optionalBool(req.Attachable, 'Attachable') ?? false,
    ingress,
    configOnly,
    configFrom: configFrom === '' ? undefined : configFrom,
    options: families.options,
    driverOptions,
    labels: stringMap(req.Labels, 'Labels'),
    warnings,
  };
}

/** Reads a boolean-ish query/option value the way dockerd does (strconv.ParseBool). */
export function parseBoolParam(text: string, field: string): boolean {
  const value = parseGoBool(text);
  if (value === undefined) throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for ${field}: want true or false`, field);
  return value;
}

// ---------------------------------------------------------------------------------------
// Where a new network lives

/**
 * The scope a new network gets on this daemon: `global` for a driver whose networks always
 * span hosts (overlay, routed), and for an ipvlan L3/L3S network created with `Scope`
 * `global` (or Docker's `swarm`): its record shared through the cluster store, addresses
 * from per-host blocks, each host routing the others' blocks (docs/drivers/ipvlan.md "Across
 * hosts"). Any other `Scope` than local is refused, naming the field and the reason: an L2
 * network, another driver, no parent (a dummy: no way to the other hosts), `--internal`, no
 * cluster store. The block size option is only for such networks.
 */
export function resolveNetworkScope(
  spec: Pick<NetworkSpec, 'driver' | 'scope' | 'internal' | 'options' | 'driverOptions' | 'ipam'>,
  env: { driverScope: 'local' | 'global'; clustered: boolean },
): 'local' | 'global' {
  if (env.driverScope === 'global') return 'global';
  const spans = spec.scope === 'global' || spec.scope === 'swarm';
  const o = spec.driverOptions;
  if (!spans) {
    if (o.driver === 'ipvlan' && spec.options[BLOCK_SIZE_OPT] !== undefined) {
      throw invalid('SCOPE_NOT_SUPPORTED', `option ${BLOCK_SIZE_OPT} is only for ipvlan networks that span hosts (--scope global)`, `Options.${BLOCK_SIZE_OPT}`);
    }
    return 'local';
  }
  const given = `scope ${spec.scope}`;
  if (o.driver !== 'ipvlan') {
    throw invalid('SCOPE_NOT_SUPPORTED', `${given}: the ${spec.driver} driver makes networks of one host (networks that span hosts: -d overlay, -d routed, or -d ipvlan -o ipvlan_mode=l3|l3s)`, 'Scope');
  }
  if (o.mode === 'l2') {
    throw invalid('SCOPE_NOT_SUPPORTED', `${given}: an ipvlan network spans hosts only in L3 mode (-o ipvlan_mode=l3 or l3s); L2 sandboxes on several hosts share the parent's LAN already`, 'Scope');
  }
  if (spec.internal) {
    throw invalid('SCOPE_NOT_SUPPORTED', `${given}: an internal ipvlan network has a dummy parent, with no way to the other hosts`, 'Internal');
  }
  if (!o.parent) {
    throw invalid('SCOPE_NOT_SUPPORTED', `${given}: an ipvlan network that spans hosts needs -o parent=IF (the interface toward the other hosts); without one it has a dummy parent`, 'Options.parent');
  }
  if (!env.clustered) {
    throw invalid('CLUSTER_STORE_REQUIRED', `${given}: a network that spans hosts needs a cluster store (start the daemon with --cluster-store etcd://ADDR:PORT --cluster-advertise ADDR)`, 'Scope');
  }
  const blockSize = parseBlockSize(spec.options[BLOCK_SIZE_OPT]);
  for (const c of spec.ipam.config) checkBlockFits(c.subnet, blockSize);
  return 'global';
}
