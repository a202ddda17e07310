/**
 * Driver options (`docker network create -o key=value`), parsed into typed configs per
 * driver. Keys and defaults follow moby v28.5.2: bridge_linux.go (fromLabels) for bridge,
 * macvlan/ipvlan `parent` and modes, overlay `encrypted`. Unknown keys are refused
 * rather than ignored, so a typo never silently does nothing.
 */
import { invalid, notImplemented } from '../errors.js';
import { parseGoBool } from './go-syntax.js';
import { type IpAddress, parseIp } from './ip.js';
import { BLOCK_SIZE_OPT, parseBlockSize } from './ip-blocks.js';

export type Options = Readonly<Record<string, string>>;

export const BRIDGE_OPT = {
  name: 'com.docker.network.bridge.name',
  enableIcc: 'com.docker.network.bridge.enable_icc',
  enableIpMasquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBindingIpv4: 'com.docker.network.bridge.host_binding_ipv4',
  inhibitIpv4: 'com.docker.network.bridge.inhibit_ipv4',
  gatewayModeIpv4: 'com.docker.network.bridge.gateway_mode_ipv4',
  gatewayModeIpv6: 'com.docker.network.bridge.gateway_mode_ipv6',
  trustedHostInterfaces: 'com.docker.network.bridge.trusted_host_interfaces',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
} as const;

export const GENERIC_OPT = {
  mtu: 'com.docker.network.driver.mtu',
  containerIfacePrefix: 'com.docker.network.container_iface_prefix',
  enableIpv4: 'com.docker.network.enable_ipv4',
  enableIpv6: 'com.docker.network.enable_ipv6',
  hostIpv4: 'com.docker.network.host_ipv4',
  hostIpv6: 'com.docker.network.host_ipv6',
} as const;

export type GatewayMode = 'nat' | 'nat-unprotected' | 'routed' | 'isolated';
export type MacvlanMode = 'bridge' | 'private' | 'vepa' | 'passthru';
export type IpvlanMode = 'l2' | 'l3' | 'l3s';
export type IpvlanFlag = 'bridge' | 'private' | 'vepa';

/** Options every interface-making driver understands. */
export interface GenericOptions {
  /** 0 = not set (the kernel's default, 1500 on a fresh veth). */
  readonly mtu: number;
  readonly containerIfacePrefix: string | undefined;
  readonly enableIpv4: boolean | undefined;
  readonly enableIpv6: boolean | undefined;
  /** SNAT source instead of MASQUERADE. */
  readonly hostIpv4: IpAddress | undefined;
  readonly hostIpv6: IpAddress | undefined;
}

export interface BridgeOptions extends GenericOptions {
  readonly driver: 'bridge';
  /** The bridge device name; undefined = `sy-<id12>`. */
  readonly bridgeName: string | undefined;
  readonly enableIcc: boolean;
  readonly enableIpMasquerade: boolean;
  /** Default host address for `-p` without one; undefined = 0.0.0.0 and ::. */
  readonly hostBindingIpv4: IpAddress | undefined;
  readonly inhibitIpv4: boolean;
  readonly gatewayModeIpv4: GatewayMode;
  readonly gatewayModeIpv6: GatewayMode;
  readonly trustedHostInterfaces: readonly string[];
  readonly defaultBridge: boolean;
}

/** Switchyard's own option for macvlan and ipvlan networks (docs/drivers/macvlan.md "The host cannot reach its own children"). */
export const HOST_INTERFACE_OPT = 'com.switchyard.host_interface';

export interface MacvlanOptions extends GenericOptions {
  readonly driver: 'macvlan';
  readonly parent: string | undefined;
  readonly mode: MacvlanMode;
  /** A host-side child on the same parent, so the host reaches the network's sandboxes. */
  readonly hostInterface: boolean;
}

export interface IpvlanOptions extends GenericOptions {
  readonly driver: 'ipvlan';
  readonly parent: string | undefined;
  readonly mode: IpvlanMode;
  readonly flag: IpvlanFlag;
  /** A host-side slave on the same parent, so the host reaches the network's sandboxes. */
  readonly hostInterface: boolean;
}

export interface OverlayOptions extends GenericOptions {
  readonly driver: 'overlay';
  readonly encrypted: boolean;
  readonly vxlanIds: readonly number[];
}

export interface RoutedOptions extends GenericOptions {
  readonly driver: 'routed';
  /** The IPv4 block prefix length (IPv6 blocks: +96); model/ip-blocks.ts. */
  readonly blockSize: number;
}

export interface PlainOptions {
  readonly driver: 'host' | 'null';
  readonly enableIpv4: boolean | undefined;
  readonly enableIpv6: boolean | undefined;
}

export type DriverOptions = BridgeOptions | MacvlanOptions | IpvlanOptions | OverlayOptions | RoutedOptions | PlainOptions;
export type DriverName = DriverOptions['driver'];
export const KNOWN_DRIVERS: readonly DriverName[] = ['bridge', 'host', 'null', 'macvlan', 'ipvlan', 'overlay', 'routed'];

// ---------------------------------------------------------------------------------------
// Value parsers, each naming the key

const fieldOf = (key: string): string => `Options.${key}`;

export function optionBool(options: Options, key: string, fallback: boolean): boolean;
export function optionBool(options: Options, key: string, fallback: undefined): boolean | undefined;
export function optionBool(options: Options, key: string, fallback: boolean | undefined): boolean | undefined {
  const text = options[key];
  if (text === undefined) return fallback;
  const value = parseGoBool(text);
  if (value === undefined) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for option ${key}: want true or false`, fieldOf(key));
  }
  return value;
}

function optionInt(options: Options, key: string, min: number, max: number, fallback: number): number {
  const text = options[key];
  if (text === undefined) return fallback;
  const value = /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for option ${key}: want an integer from ${min} to ${max}`, fieldOf(key));
  }
  return value;
}

function optionEnum<T extends string>(options: Options, key: string, allowed: readonly T[], fallback: T): T {
  const text = options[key];
  if (text === undefined || text === '') return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for option ${key}: want one of ${allowed.join(', ')}`, fieldOf(key));
  }
  return text as T;
}

function optionIp(options: Options, key: string): IpAddress | undefined {
  const text = options[key];
  if (text === undefined || text === '') return undefined;
  return parseIp(text, fieldOf(key));
}

/** Linux's dev_valid_name (net/core/dev.c): 1–15 bytes, not "." or "..", no '/', ':' or space. */
export function isValidIfname(name: string): boolean {
  // Stricter than the kernel: the name is pasted into nft text and chain names, so only
  // the characters interface names use in practice (the firewall refuses others, and the
  // fuzzer found that a name like "`id`" created the bridge before the firewall said no).
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name);
}

function optionIfname(options: Options, key: string): string | undefined {
  const text = options[key];
  if (text === undefined || text === '') return undefined;
  if (!isValidIfname(text)) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for option ${key}: not a valid interface name (1-15 of [A-Za-z0-9_.-], starting with a letter or digit)`, fieldOf(key));
  }
  return text;
}

function rejectUnknown(driver: string, options: Options, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw invalid('UNKNOWN_OPTION', `unknown option ${JSON.stringify(key)} for the ${driver} driver`, fieldOf(key));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Per-driver parsers

const GENERIC_KEYS = Object.values(GENERIC_OPT);

function parseGeneric(options: Options): GenericOptions {
  // The kernel's minimum IPv4 MTU is 68 (RFC 791); 0 means "not set", as in Docker.
  const mtu = optionInt(options, GENERIC_OPT.mtu, 0, 65535, 0);
  if (mtu !== 0 && mtu < 68) {
    throw invalid('INVALID_OPTION', `invalid value "${mtu}" for option ${GENERIC_OPT.mtu}: want an integer from 68 to 65535`, fieldOf(GENERIC_OPT.mtu));
  }
  const prefix = options[GENERIC_OPT.containerIfacePrefix];
  if (prefix !== undefined && prefix !== '' && (!isValidIfname(prefix) || prefix.length > 12)) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(prefix)} for option ${GENERIC_OPT.containerIfacePrefix}: not a valid interface name prefix`, fieldOf(GENERIC_OPT.containerIfacePrefix));
  }
  return {
    mtu,
    containerIfacePrefix: prefix === '' ? undefined : prefix,
    enableIpv4: optionBool(options, GENERIC_OPT.enableIpv4, undefined),
    enableIpv6: optionBool(options, GENERIC_OPT.enableIpv6, undefined),
    hostIpv4: familyIp(options, GENERIC_OPT.hostIpv4, 4),
    hostIpv6: familyIp(options, GENERIC_OPT.hostIpv6, 6),
  };
}

function familyIp(options: Options, key: string, family: 4 | 6): IpAddress | undefined {
  const ip = optionIp(options, key);
  if (ip !== undefined && ip.family !== family) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(options[key])} for option ${key}: want an IPv${family} address`, fieldOf(key));
  }
  return ip;
}

const GATEWAY_MODES: readonly GatewayMode[] = ['nat', 'nat-unprotected', 'routed', 'isolated'];
const BRIDGE_KEYS = new Set<string>([...Object.values(BRIDGE_OPT), ...GENERIC_KEYS]);

export function parseBridgeOptions(options: Options): BridgeOptions {
  rejectUnknown('bridge', options, BRIDGE_KEYS);
  const trusted = options[BRIDGE_OPT.trustedHostInterfaces] ?? '';
  const trustedHostInterfaces = trusted === '' ? [] : trusted.split(':');
  for (const name of trustedHostInterfaces) {
    if (!isValidIfname(name)) {
      throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(trusted)} for option ${BRIDGE_OPT.trustedHostInterfaces}: ${JSON.stringify(name)} is not an interface name`, fieldOf(BRIDGE_OPT.trustedHostInterfaces));
    }
  }
  return {
    driver: 'bridge',
    ...parseGeneric(options),
    bridgeName: optionIfname(options, BRIDGE_OPT.name),
    enableIcc: optionBool(options, BRIDGE_OPT.enableIcc, true),
    enableIpMasquerade: optionBool(options, BRIDGE_OPT.enableIpMasquerade, true),
    hostBindingIpv4: optionIp(options, BRIDGE_OPT.hostBindingIpv4),
    inhibitIpv4: optionBool(options, BRIDGE_OPT.inhibitIpv4, false),
    gatewayModeIpv4: optionEnum(options, BRIDGE_OPT.gatewayModeIpv4, GATEWAY_MODES, 'nat'),
    gatewayModeIpv6: optionEnum(options, BRIDGE_OPT.gatewayModeIpv6, GATEWAY_MODES, 'nat'),
    trustedHostInterfaces,
    defaultBridge: optionBool(options, BRIDGE_OPT.defaultBridge, false),
  };
}

const MACVLAN_KEYS = new Set<string>(['parent', 'macvlan_mode', HOST_INTERFACE_OPT, ...GENERIC_KEYS]);
// The block size is for ipvlan networks that span hosts (model/network-spec.ts resolveNetworkScope refuses it on others).
const IPVLAN_KEYS = new Set<string>(['parent', 'ipvlan_mode', 'ipvlan_flag', HOST_INTERFACE_OPT, BLOCK_SIZE_OPT, ...GENERIC_KEYS]);

function parseParent(options: Options): string | undefined {
  const parent = optionIfname(options, 'parent');
  if (parent === 'lo') throw invalid('INVALID_OPTION', 'loopback interface is not a valid parent', fieldOf('parent'));
  return parent;
}

export function parseMacvlanOptions(options: Options): MacvlanOptions {
  rejectUnknown('macvlan', options, MACVLAN_KEYS);
  return {
    driver: 'macvlan',
    ...parseGeneric(options),
    parent: parseParent(options),
    mode: optionEnum<MacvlanMode>(options, 'macvlan_mode', ['bridge', 'private', 'vepa', 'passthru'], 'bridge'),
    hostInterface: optionBool(options, HOST_INTERFACE_OPT, false),
  };
}

export function parseIpvlanOptions(options: Options): IpvlanOptions {
  rejectUnknown('ipvlan', options, IPVLAN_KEYS);
  return {
    driver: 'ipvlan',
    ...parseGeneric(options),
    parent: parseParent(options),
    mode: optionEnum<IpvlanMode>(options, 'ipvlan_mode', ['l2', 'l3', 'l3s'], 'l2'),
    flag: optionEnum<IpvlanFlag>(options, 'ipvlan_flag', ['bridge', 'private', 'vepa'], 'bridge'),
    hostInterface: optionBool(options, HOST_INTERFACE_OPT, false),
  };
}

/** The overlay's VXLAN network identifier(s), as Docker names the option (the VNI shows under it in inspect). */
export const OVERLAY_OPT = {
  vxlanIdList: 'com.docker.network.driver.overlay.vxlanid_list',
  encrypted: 'encrypted',
} as const;
const VXLAN_IDS = OVERLAY_OPT.vxlanIdList;
/** VXLAN network identifiers are 24 bits (RFC 7348 §5); 0 is never given out. */
export const VNI_MAX = 0xffffff;
const OVERLAY_KEYS = new Set<string>(['encrypted', VXLAN_IDS, ...GENERIC_KEYS]);

export function parseOverlayOptions(options: Options): OverlayOptions {
  rejectUnknown('overlay', options, OVERLAY_KEYS);
  // `-o encrypted` without a value arrives as "" and means on (the overlay driver only
  // checks that the key is present).
  const enc = options['encrypted'];
  const encrypted = enc === undefined ? false : enc === '' ? true : optionBool(options, 'encrypted', false);
  const ids = options[VXLAN_IDS];
  const vxlanIds = ids === undefined || ids === '' ? [] : ids.split(',').map((t) => {
    // moby overlay (ov_network.go): strconv.Atoi, then the manager's 24-bit range check.
    if (!/^[0-9]{1,9}$/.test(t)) {
      throw invalid('INVALID_OPTION', `invalid VXLAN ID value ${JSON.stringify(t)} passed in option ${VXLAN_IDS}`, fieldOf(VXLAN_IDS));
    }
    const n = Number(t);
    if (!(n >= 1 && n <= VNI_MAX)) {
      throw invalid('INVALID_OPTION', `vxlan id value ${n} is out of range in option ${VXLAN_IDS}: want 1 to ${VNI_MAX}`, fieldOf(VXLAN_IDS));
    }
    return n;
  });
  return { driver: 'overlay', ...parseGeneric(options), encrypted, vxlanIds };
}

const ROUTED_KEYS = new Set<string>([BLOCK_SIZE_OPT, ...GENERIC_KEYS]);

export function parseRoutedOptions(options: Options): RoutedOptions {
  rejectUnknown('routed', options, ROUTED_KEYS);
  return { driver: 'routed', ...parseGeneric(options), blockSize: parseBlockSize(options[BLOCK_SIZE_OPT]) };
}

const PLAIN_KEYS = new Set<string>([GENERIC_OPT.enableIpv4, GENERIC_OPT.enableIpv6]);

function parsePlainOptions(driver: 'host' | 'null', options: Options): PlainOptions {
  rejectUnknown(driver, options, PLAIN_KEYS);
  return {
    driver,
    enableIpv4: optionBool(options, GENERIC_OPT.enableIpv4, undefined),
    enableIpv6: optionBool(options, GENERIC_OPT.enableIpv6, undefined),
  };
}

export function isKnownDriver(driver: string): driver is DriverName {
  return (KNOWN_DRIVERS as readonly string[]).includes(driver);
}

/** Parses the options for `driver`; the driver must be known (see isKnownDriver). */
export function validateDriverOptions(driver: DriverName, options: Options): DriverOptions {
  switch (driver) {
    case 'bridge':
      return parseBridgeOptions(options);
    case 'macvlan':
      return parseMacvlanOptions(options);
    case 'ipvlan':
      return parseIpvlanOptions(options);
    case 'overlay':
      return parseOverlayOptions(options);
    case 'routed':
      return parseRoutedOptions(options);
    case 'host':
    case 'null':
      return parsePlainOptions(driver, options);
  }
}

/**
 * Options this release parses but does not implement yet, for the driver that would run
 * them. They are refused (not-implemented, naming the option) rather than accepted and
 * silently ignored; docs/drivers/bridge.md lists them. Values that ask for the default
 * behaviour (gateway mode `nat`, an empty list) are accepted.
 */
export function refuseUnimplementedOptions(o: DriverOptions): void {
  if (o.driver !== 'bridge') return;
  const refuse = (key: string, why: string): never => {
    throw notImplemented('OPTION_NOT_IMPLEMENTED', `option ${key} is not implemented yet by the bridge driver (${why})`, fieldOf(key));
  };
  if (o.gatewayModeIpv4 !== 'nat') refuse(BRIDGE_OPT.gatewayModeIpv4, `only "nat" is, not ${JSON.stringify(o.gatewayModeIpv4)}`);
  if (o.gatewayModeIpv6 !== 'nat') refuse(BRIDGE_OPT.gatewayModeIpv6, `only "nat" is, not ${JSON.stringify(o.gatewayModeIpv6)}`);
  if (o.trustedHostInterfaces.length) refuse(BRIDGE_OPT.trustedHostInterfaces, 'every host interface is treated alike');
  if (o.hostIpv4) refuse(GENERIC_OPT.hostIpv4, 'outgoing traffic is masqueraded, not SNATed to a given address');
  if (o.hostIpv6) refuse(GENERIC_OPT.hostIpv6, 'outgoing traffic is masqueraded, not SNATed to a given address');
  if (o.containerIfacePrefix) refuse(GENERIC_OPT.containerIfacePrefix, 'sandbox interfaces are named eth0, eth1, ...');
  if (o.defaultBridge) refuse(BRIDGE_OPT.defaultBridge, 'only the predefined network "bridge" is the default bridge');
}
