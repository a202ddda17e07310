/**
 * The shape of Docker's EndpointSettings (`EndpointConfig` of POST /networks/{id}/connect,
 * each value of `EndpointsConfig` of a sandbox create), checked at the API edge before the
 * engine sees it: every field has the type moby's JSON decoder would demand
 * (api/types/network/endpoint.go), else a 400 naming the field. Without this,
 * `{"Aliases":"x"}` was a TypeError (500) in planEndpoint and `{"Links":{"length":1}}` was
 * stored and broke every later list and inspect (audit M4).
 *
 * The result keeps null apart from empty (`null` stays `null`, `[]` stays `[]`): Docker
 * echoes these fields back in inspect as the client sent them.
 *
 * Fields Docker fills in itself (NetworkID, EndpointID, Gateway, IPAddress, IPPrefixLen,
 * IPv6Gateway, GlobalIPv6Address, GlobalIPv6PrefixLen, DNSNames) are type-checked and then
 * ignored, as the daemon ignores them; unknown fields are ignored, as Go's decoder does.
 */
import { invalid } from '../errors.js';
import { parseMac } from './ip.js';

export interface EndpointIpamSettings {
  IPv4Address?: string;
  IPv6Address?: string;
  /** Omitted when null or empty, as Docker's `omitempty` prints it. */
  LinkLocalIPs?: string[];
}

/** Structurally the engine's EndpointSettingsRequest, with null kept where it was sent. */
export interface EndpointSettings {
  IPAMConfig?: EndpointIpamSettings | null;
  Aliases?: string[] | null;
  Links?: string[] | null;
  MacAddress?: string;
  DriverOpts?: Record<string, string> | null;
  GwPriority?: number;
}

const bad = (field: string, want: string) => invalid('BAD_FIELD', `${field} must be ${want}`, field);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(value: unknown, field: string): string[] | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (!Array.isArray(value)) throw bad(field, 'an array of strings');
  value.forEach((x, i) => {
    if (typeof x !== 'string') throw bad(`${field}[${i}]`, 'a string');
  });
  return [...(value as string[])];
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw bad(field, 'a string');
  return value;
}

function optionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw bad(field, `an integer from ${min} to ${max}`);
  return value;
}

/** Validates one EndpointSettings object; `field` names it in errors (e.g. "EndpointConfig"). */
export function validateEndpointSettings(value: unknown, field: string): EndpointSettings {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw bad(field, 'a JSON object');
  const out: EndpointSettings = {};

  const ipam = value['IPAMConfig'];
  if (ipam === null) out.IPAMConfig = null;
  else if (ipam !== undefined) {
    if (!isObject(ipam)) throw bad(`${field}.IPAMConfig`, 'a JSON object');
    const cfg: EndpointIpamSettings = {};
    const v4 = optionalString(ipam['IPv4Address'], `${field}.IPAMConfig.IPv4Address`);
    const v6 = optionalString(ipam['IPv6Address'], `${field}.IPAMConfig.IPv6Address`);
    const ll = stringList(ipam['LinkLocalIPs'], `${field}.IPAMConfig.LinkLocalIPs`);
    if (v4 !== undefined) cfg.IPv4Address = v4;
    if (v6 !== undefined) cfg.IPv6Address = v6;
    if (ll) cfg.LinkLocalIPs = ll;
    out.IPAMConfig = cfg;
  }

  const aliases = stringList(value['Aliases'], `${field}.Aliases`);
  if (aliases !== undefined) out.Aliases = aliases;
  const links = stringList(value['Links'], `${field}.Links`);
  if (links !== undefined) {
    links?.forEach((l, i) => {
      // NAME or NAME:ALIAS (opts.ParseLink), each part non-empty.
      const parts = l.split(':');
      if (parts.length > 2 || parts.some((p) => p.trim() === '')) throw bad(`${field}.Links[${i}]`, 'NAME or NAME:ALIAS');
    });
    out.Links = links;
  }
  const mac = optionalString(value['MacAddress'], `${field}.MacAddress`);
  if (mac !== undefined && mac !== '') out.MacAddress = validateInterfaceMac(mac, `${field}.MacAddress`);

  const opts = value['DriverOpts'];
  if (opts === null) out.DriverOpts = null;
  else if (opts !== undefined) {
    if (!isObject(opts)) throw bad(`${field}.DriverOpts`, 'an object of strings');
    const copy: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts)) {
      if (typeof v !== 'string') throw bad(`${field}.DriverOpts.${k}`, 'a string');
      copy[k] = v;
    }
    out.DriverOpts = copy;
  }
  // Go int on 64-bit; a safe integer is what JSON can carry exactly.
  const gw = optionalInt(value['GwPriority'], `${field}.GwPriority`, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (gw !== undefined) out.GwPriority = gw;

  // Docker's own output fields: their types are checked (Go would refuse to decode), the values ignored.
  for (const f of ['NetworkID', 'EndpointID', 'Gateway', 'IPAddress', 'IPv6Gateway', 'GlobalIPv6Address']) optionalString(value[f], `${field}.${f}`);
  for (const f of ['IPPrefixLen', 'GlobalIPv6PrefixLen']) optionalInt(value[f], `${field}.${f}`, 0, 128);
  stringList(value['DNSNames'], `${field}.DNSNames`);
  return out;
}

/**
 * A MAC an interface can take: six octets, unicast, and not all zero (the kernel refuses
 * 00:00:00:00:00:00 with EADDRNOTAVAIL, which was a 500 found by the fuzzer).
 */
export function validateInterfaceMac(text: string, field: string): string {
  const mac = parseMac(text, field);
  if (/^(00:){5}00$/.test(mac)) throw invalid('INVALID_MAC', `invalid MAC address ${text}: the all-zero address cannot be an interface address`, field);
  return mac;
}

/** Validates `EndpointsConfig`: an object from network name or ID to EndpointSettings (or null). */
export function validateEndpointsConfig(value: unknown, field = 'EndpointsConfig'): Record<string, EndpointSettings> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw bad(field, 'an object of endpoint settings');
  const out: Record<string, EndpointSettings> = {};
  for (const [network, settings] of Object.entries(value)) out[network] = validateEndpointSettings(settings, `${field}.${network}`);
  return out;
}

/** What Docker echoes back in inspect, from validated settings (absent = null). */
export function requestedEcho(s: EndpointSettings): {
  ipamConfig: EndpointIpamSettings | null;
  aliases: string[] | null;
  links: string[] | null;
  driverOpts: Record<string, string> | null;
  gwPriority: number;
} {
  return {
    ipamConfig: s.IPAMConfig ?? null,
    aliases: s.Aliases ?? null,
    links: s.Links ?? null,
    driverOpts: s.DriverOpts ?? null,
    gwPriority: s.GwPriority ?? 0,
  };
}
