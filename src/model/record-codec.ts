/**
 * Codecs for the stored records (model/records.ts): the one place that turns a record into
 * store text and back. Decoding checks every field a reader relies on, so a record written
 * by another host, by a newer release or by hand is refused with a clear error (code
 * INVALID_RECORD naming the field, or RECORD_VERSION_UNSUPPORTED) instead of being trusted.
 *
 * Versions (docs/STORE.md "Record versions"):
 *  - legacy (no `v`): written before versions existed. Networks had `bridgeName` and the
 *    options only as the user's text; endpoints had `hostIfname`. Upgraded on decode.
 *  - 1: `v: 1`; networks carry the driver's typed `state`, endpoints `hostLink`. Optional in
 *    both shapes (absent = the old behaviour): a network's `ipamOptionsNull`, an endpoint's
 *    `requested` (the settings echo), a sandbox's `capAdd`, `capDrop`, `privileged`, `pidMode`.
 *
 * Encoding endpoints and sandboxes is plain JSON.stringify (they hold only JSON values):
 * the attach path pays nothing for the codec. Networks hold typed options with IP
 * addresses, written as text.
 */
import { invalid, type SwitchyardError } from '../errors.js';
import { formatIp, parseIp, type IpAddress } from './ip.js';
import { VNI_MAX, parseBridgeOptions, parseIpvlanOptions, parseMacvlanOptions, parseOverlayOptions, parseRoutedOptions, type BridgeOptions } from './driver-options.js';
import {
  RECORD_VERSION,
  type EndpointRecord,
  type NetworkDriverState,
  type NetworkRecord,
  type PoolRecord,
  type SandboxRecord,
} from './records.js';

type Obj = Record<string, unknown>;

const bad = (what: string, field: string, reason: string): SwitchyardError =>
  invalid('INVALID_RECORD', `invalid ${what} record: ${field} ${reason}`, field);

function object(v: unknown, what: string, field = '(record)'): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(what, field, 'must be an object');
  return v as Obj;
}

function str(o: Obj, what: string, key: string, opts: { optional?: boolean; pattern?: RegExp } = {}): string | undefined {
  const v = o[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string') throw bad(what, key, 'must be a string');
  if (opts.pattern && !opts.pattern.test(v)) throw bad(what, key, `has an invalid value ${JSON.stringify(v).slice(0, 80)}`);
  return v;
}

function bool(o: Obj, what: string, key: string): boolean {
  if (typeof o[key] !== 'boolean') throw bad(what, key, 'must be true or false');
  return o[key] as boolean;
}

function int(o: Obj, what: string, key: string, min = 0): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw bad(what, key, `must be an integer >= ${min}`);
  return v;
}

function strings(o: Obj, what: string, key: string): void {
  const v = o[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(what, key, 'must be an array of strings');
}

function optionalBool(o: Obj, what: string, key: string): void {
  if (o[key] !== undefined) bool(o, what, key);
}

/** An array of strings, or null (`nullable`), or absent (`optional`). */
function stringsOrNull(o: Obj, what: string, key: string, field = key): void {
  if (o[key] === null) return;
  const v = o[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(what, field, 'must be an array of strings or null');
}

function stringMap(o: Obj, what: string, key: string): void {
  const m = object(o[key], what, key);
  for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw bad(what, `${key}.${k}`, 'must be a string');
}

const ID = /^[0-9a-f]{64}$/;

/** The record's version: 0 for the legacy shape, else RECORD_VERSION; anything else is refused. */
function versionOf(o: Obj, what: string): 0 | typeof RECORD_VERSION {
  if (o['v'] === undefined) return 0;
  if (o['v'] !== RECORD_VERSION) {
    throw invalid('RECORD_VERSION_UNSUPPORTED', `${what} record has schema version ${JSON.stringify(o['v'])}; this release reads versions up to ${RECORD_VERSION}`, 'v');
  }
  return RECORD_VERSION;
}

// ---------------------------------------------------------------------------------------
// Networks

function decodePools(o: Obj): PoolRecord[] {
  const v = o['pools'];
  if (!Array.isArray(v)) throw bad('network', 'pools', 'must be an array');
  return v.map((p, i) => {
    const pool = object(p, 'network', `pools[${i}]`);
    str(pool, 'network', 'subnet');
    str(pool, 'network', 'ipRange', { optional: true });
    str(pool, 'network', 'gateway', { optional: true });
    if (pool['auxAddresses'] !== undefined) stringMap(pool, 'network', 'auxAddresses');
    bool(pool, 'network', 'userSubnet');
    return pool as unknown as PoolRecord;
  });
}

const IP_FIELDS = ['hostBindingIpv4', 'hostIpv4', 'hostIpv6'] as const;

/** Typed bridge options as stored: the parsed shape with its addresses as text. */
function decodeBridgeOptions(v: unknown): BridgeOptions {
  const o = object(v, 'network', 'state.options');
  const out: Record<string, unknown> = { ...o };
  for (const k of IP_FIELDS) {
    const text = o[k];
    if (text === undefined || text === null) out[k] = undefined;
    else if (typeof text === 'string') out[k] = parseIp(text, `state.options.${k}`);
    else throw bad('network', `state.options.${k}`, 'must be an address');
  }
  if (o['driver'] !== 'bridge') throw bad('network', 'state.options.driver', 'must be "bridge"');
  for (const k of ['enableIcc', 'enableIpMasquerade', 'inhibitIpv4', 'defaultBridge']) {
    if (typeof o[k] !== 'boolean') throw bad('network', `state.options.${k}`, 'must be true or false');
  }
  if (typeof o['mtu'] !== 'number') throw bad('network', 'state.options.mtu', 'must be a number');
  if (!Array.isArray(o['trustedHostInterfaces'])) out['trustedHostInterfaces'] = [];
  // JSON drops undefined: put the optional keys back so a decoded record equals the parsed one.
  for (const k of ['bridgeName', 'containerIfacePrefix', 'enableIpv4', 'enableIpv6']) if (!(k in out)) out[k] = undefined;
  for (const k of ['bridgeName', 'containerIfacePrefix']) {
    if (out[k] !== undefined && typeof out[k] !== 'string') throw bad('network', `state.options.${k}`, 'must be a string');
  }
  return out as unknown as BridgeOptions;
}

function decodeState(o: Obj, driver: string): NetworkDriverState {
  const s = object(o['state'], 'network', 'state');
  if (s['driver'] !== driver) throw bad('network', 'state.driver', `must equal the network's driver (${driver})`);
  switch (driver) {
    case 'bridge':
      return { driver, bridge: str(s, 'network', 'bridge')!, options: decodeBridgeOptions(s['options']) };
    case 'macvlan':
      // Re-parsed from the user's options text (validated above), as at create.
      return { driver, options: parseMacvlanOptions(o['options'] as Record<string, string>) };
    case 'overlay': {
      const vni = s['vni'];
      if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 1 || vni > VNI_MAX) throw bad('network', 'state.vni', `must be an integer from 1 to ${VNI_MAX}`);
      // Re-parsed from the user's options text (validated above), as at create.
      return { driver, vni, options: parseOverlayOptions(o['options'] as Record<string, string>) };
    }
    case 'ipvlan':
      return { driver, options: parseIpvlanOptions(o['options'] as Record<string, string>) };
    case 'routed':
      // Re-parsed from the user's options text, as at create (as macvlan's).
      return { driver, options: parseRoutedOptions(o['options'] as Record<string, string>) };
    case 'host':
    case 'null':
      return { driver };
    default:
      throw bad('network', 'driver', `names a driver this release does not know (${JSON.stringify(driver).slice(0, 40)})`);
  }
}

/** The legacy shape: `bridgeName` at top level, options only as text (parsed now, as at create). */
function legacyState(o: Obj, driver: string): NetworkDriverState {
  if (driver === 'host' || driver === 'null') return { driver };
  if (driver !== 'bridge') throw bad('network', 'driver', `names a driver this release does not know (${JSON.stringify(driver).slice(0, 40)})`);
  const bridge = str(o, 'network', 'bridgeName')!;
  return { driver, bridge, options: parseBridgeOptions(o['options'] as Record<string, string>) };
}

export function decodeNetworkRecord(value: unknown): NetworkRecord {
  const o = object(value, 'network');
  const version = versionOf(o, 'network');
  str(o, 'network', 'id', { pattern: ID });
  str(o, 'network', 'name');
  const driver = str(o, 'network', 'driver')!;
  str(o, 'network', 'created');
  str(o, 'network', 'scope', { pattern: /^(local|swarm|global)$/ });
  for (const k of ['enableIPv4', 'enableIPv6', 'internal', 'attachable', 'ingress', 'predefined']) bool(o, 'network', k);
  str(o, 'network', 'ipamDriver');
  stringMap(o, 'network', 'ipamOptions');
  stringMap(o, 'network', 'options');
  stringMap(o, 'network', 'labels');
  optionalBool(o, 'network', 'ipamOptionsNull');
  const pools = decodePools(o);
  const state = version === 0 ? legacyState(o, driver) : decodeState(o, driver);
  const { bridgeName: _legacy, ...rest } = o;
  return { ...(rest as unknown as NetworkRecord), v: RECORD_VERSION, pools, state };
}

const isIp = (v: unknown): v is IpAddress =>
  typeof v === 'object' && v !== null && typeof (v as IpAddress).value === 'bigint' && ((v as IpAddress).family === 4 || (v as IpAddress).family === 6);

export function encodeNetworkRecord(n: NetworkRecord): string {
  return JSON.stringify(n, (_k, v: unknown) => (isIp(v) ? formatIp(v) : v));
}

// ---------------------------------------------------------------------------------------
// Endpoints

export function decodeEndpointRecord(value: unknown): EndpointRecord {
  const o = object(value, 'endpoint');
  const version = versionOf(o, 'endpoint');
  str(o, 'endpoint', 'id', { pattern: ID });
  str(o, 'endpoint', 'networkId', { pattern: ID });
  str(o, 'endpoint', 'sandboxId', { pattern: ID });
  str(o, 'endpoint', 'ifname', { pattern: /^[A-Za-z0-9_.-]{1,15}$/ });
  str(o, 'endpoint', 'mac', { pattern: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/ });
  for (const k of ['ipv4', 'ipv6', 'gateway', 'ipv6Gateway', 'staticIPv4', 'staticIPv6']) str(o, 'endpoint', k, { optional: true });
  for (const k of ['aliases', 'links', 'dnsNames']) strings(o, 'endpoint', k);
  int(o, 'endpoint', 'order');
  if (o['requested'] !== undefined) decodeRequested(o['requested']);
  if (version === 0) {
    const { hostIfname, ...rest } = o;
    if (hostIfname !== undefined && typeof hostIfname !== 'string') throw bad('endpoint', 'hostIfname', 'must be a string');
    return { ...(rest as unknown as EndpointRecord), v: RECORD_VERSION, ...(hostIfname ? { hostLink: hostIfname as string } : {}) };
  }
  str(o, 'endpoint', 'hostLink', { optional: true, pattern: /^[A-Za-z0-9_.-]{1,15}$/ });
  return o as unknown as EndpointRecord;
}

/** The settings echo (RequestedEndpointSettings): each field null or of its type. */
function decodeRequested(v: unknown): void {
  const r = object(v, 'endpoint', 'requested');
  if (r['ipamConfig'] !== null) {
    const c = object(r['ipamConfig'], 'endpoint', 'requested.ipamConfig');
    for (const k of ['IPv4Address', 'IPv6Address']) if (c[k] !== undefined && typeof c[k] !== 'string') throw bad('endpoint', `requested.ipamConfig.${k}`, 'must be a string');
    if (c['LinkLocalIPs'] !== undefined) stringsOrNull(c, 'endpoint', 'LinkLocalIPs', 'requested.ipamConfig.LinkLocalIPs');
  }
  stringsOrNull(r, 'endpoint', 'aliases', 'requested.aliases');
  stringsOrNull(r, 'endpoint', 'links', 'requested.links');
  if (r['driverOpts'] !== null) {
    const m = object(r['driverOpts'], 'endpoint', 'requested.driverOpts');
    for (const [k, x] of Object.entries(m)) if (typeof x !== 'string') throw bad('endpoint', `requested.driverOpts.${k}`, 'must be a string');
  }
  if (typeof r['gwPriority'] !== 'number' || !Number.isSafeInteger(r['gwPriority'])) throw bad('endpoint', 'requested.gwPriority', 'must be an integer');
}

export const encodeEndpointRecord = (e: EndpointRecord): string => JSON.stringify(e);

// ---------------------------------------------------------------------------------------
// Sandboxes

export function decodeSandboxRecord(value: unknown): SandboxRecord {
  const o = object(value, 'sandbox');
  const version = versionOf(o, 'sandbox');
  str(o, 'sandbox', 'id', { pattern: ID });
  for (const k of ['name', 'hostname', 'created', 'networkMode', 'dir']) str(o, 'sandbox', k);
  str(o, 'sandbox', 'nsPath', { optional: true });
  if (version !== 0 && o['owner'] !== 'switchyard' && o['owner'] !== 'external') throw bad('sandbox', 'owner', 'must be "switchyard" or "external"');
  str(o, 'sandbox', 'externalId', { optional: true });
  if (o['owner'] === 'external' && (typeof o['externalId'] !== 'string' || typeof o['nsPath'] !== 'string')) {
    throw bad('sandbox', 'externalId', 'and nsPath are required for an external sandbox');
  }
  str(o, 'sandbox', 'macAddress', { optional: true });
  for (const k of ['command', 'env']) strings(o, 'sandbox', k);
  // The privileges (docs/SECURITY.md): normalized names, as the engine stores them.
  for (const k of ['capAdd', 'capDrop']) {
    if (o[k] === undefined) continue;
    strings(o, 'sandbox', k);
    (o[k] as string[]).forEach((c, i) => {
      if (!/^(CAP_[A-Z0-9_]+|ALL)$/.test(c)) throw bad('sandbox', `${k}[${i}]`, `has an invalid capability ${JSON.stringify(c).slice(0, 40)}`);
    });
  }
  optionalBool(o, 'sandbox', 'privileged');
  if (o['pidMode'] !== undefined && o['pidMode'] !== '' && o['pidMode'] !== 'host') throw bad('sandbox', 'pidMode', 'must be "" or "host"');
  bool(o, 'sandbox', 'publishAll');
  bool(o, 'sandbox', 'autoRemove');
  const st = object(o['state'], 'sandbox', 'state');
  str(st, 'sandbox', 'status', { pattern: /^(created|running|exited)$/ });
  int(st, 'sandbox', 'pid');
  if (typeof st['exitCode'] !== 'number') throw bad('sandbox', 'state.exitCode', 'must be a number');
  const dns = object(o['dns'], 'sandbox', 'dns');
  for (const k of ['servers', 'search', 'options']) strings(dns, 'sandbox', k);
  for (const k of ['links', 'publish', 'expose', 'ports']) {
    if (!Array.isArray(o[k]) || (o[k] as unknown[]).some((x) => x === null || typeof x !== 'object')) throw bad('sandbox', k, 'must be an array of objects');
  }
  return version === 0 ? ({ ...o, v: RECORD_VERSION, owner: 'switchyard' } as unknown as SandboxRecord) : (o as unknown as SandboxRecord);
}

export const encodeSandboxRecord = (s: SandboxRecord): string => JSON.stringify(s);
