/**
 * IP addresses and prefixes as plain values: an address is a bigint plus its family, so
 * arithmetic (contains, overlaps, nth host) is exact for IPv4 and IPv6 alike.
 *
 * Text forms follow Go's net/netip, which is what Docker uses and shows: dotted-quad IPv4
 * without leading zeros, and IPv6 in the canonical form of RFC 5952 §4.
 */
import { invalid } from '../errors.js';

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A prefix as written: `address` is the address given (e.g. 10.0.0.5 in 10.0.0.5/24). */
export interface Cidr {
  readonly family: IpFamily;
  /** The masked network address. */
  readonly network: bigint;
  readonly prefix: number;
  /** The address as written before the slash (equals `network` when canonical). */
  readonly address: bigint;
}

export const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);
const allOnes = (family: IpFamily): bigint => (1n << BigInt(bitsOf(family))) - 1n;

// ---------------------------------------------------------------------------------------
// Parsing addresses

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;

function parseIpv4Value(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Leading zeros are refused, as Go's netip does (they are octal in inet_aton: ambiguous).
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseIpv6Value(text: string): bigint | undefined {
  if (text.includes('%')) return undefined; // zones are not addresses we can store
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string, isEnd: boolean): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (isEnd && i === parts.length - 1 && part.includes('.')) {
        // An embedded IPv4 tail (RFC 4291 §2.2 form 3) fills the last two groups.
        const v4 = parseIpv4Value(part);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!HEXTET.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined; // '::' stands for at least one group
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function tryParseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const value = parseIpv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIpv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

/** Parses an IPv4 or IPv6 address, or throws invalid INVALID_ADDRESS naming `field`. */
export function parseIp(text: string, field = 'address'): IpAddress {
  const addr = tryParseIp(text);
  if (addr === undefined) throw invalid('INVALID_ADDRESS', `invalid IP address ${JSON.stringify(text)} in ${field}`, field);
  return addr;
}

// ---------------------------------------------------------------------------------------
// Formatting addresses

function formatIpv4Value(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (≥ 2) of zero groups as '::'. */
function formatIpv6Value(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (value >> 32n === 0xffffn) return `::ffff:${formatIpv4Value(value & 0xffffffffn)}`;
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (§4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatIpValue(family: IpFamily, value: bigint): string {
  return family === 4 ? formatIpv4Value(value) : formatIpv6Value(value);
}

export function formatIp(addr: IpAddress): string {
  return formatIpValue(addr.family, addr.value);
}

/** The canonical text of an address given as text; throws like parseIp. */
export function canonicalIp(text: string, field = 'address'): string {
  return formatIp(parseIp(text, field));
}

export function isLoopback(addr: IpAddress): boolean {
  return addr.family === 4 ? addr.value >> 24n === 127n : addr.value === 1n;
}

export function isUnspecified(addr: IpAddress): boolean {
  return addr.value === 0n;
}

// ---------------------------------------------------------------------------------------
// Prefixes

const maskOf = (family: IpFamily, prefix: number): bigint =>
  allOnes(family) ^ ((1n << BigInt(bitsOf(family) - prefix)) - 1n);

/** Makes a prefix from an address and length, masking the address. */
export function cidrOf(family: IpFamily, address: bigint, prefix: number): Cidr {
  return { family, network: address & maskOf(family, prefix), prefix, address };
}

export function tryParseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = tryParseIp(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (addr === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > bitsOf(addr.family)) return undefined;
  return cidrOf(addr.family, addr.value, prefix);
}

/**
 * Parses `address/prefix` (any address, not necessarily masked); throws invalid
 * INVALID_CIDR naming `field`, in Docker's wording (`what` is "subnet", "ip-range", …).
 */
export function parseCidr(text: string, field = 'subnet', what = 'subnet'): Cidr {
  const cidr = tryParseCidr(text);
  if (cidr === undefined) {
    throw invalid('INVALID_CIDR', `invalid ${what} ${text}: invalid CIDR block notation`, field);
  }
  return cidr;
}

export function isCanonical(cidr: Cidr): boolean {
  return cidr.address === cidr.network;
}

/**
 * Parses a prefix that must be written in canonical (masked) form, as Docker's ValidateIPAM
 * requires: `invalid subnet 10.0.0.1/8: it should be 10.0.0.0/8`. `what` is the word used
 * in the message ("subnet", "ip-range").
 */
export function parseCanonicalCidr(text: string, field: string, what = 'subnet'): Cidr {
  const cidr = parseCidr(text, field, what);
  if (!isCanonical(cidr)) {
    throw invalid('NON_CANONICAL_CIDR', `invalid ${what} ${formatCidrAddress(cidr)}: it should be ${formatCidr(cidr)}`, field);
  }
  return cidr;
}

/** `network/prefix`, e.g. 172.18.0.0/16. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIpValue(cidr.family, cidr.network)}/${cidr.prefix}`;
}

/** `address/prefix` as given, e.g. 172.18.0.2/16 (an endpoint's address). */
export function formatCidrAddress(cidr: Cidr): string {
  return `${formatIpValue(cidr.family, cidr.address)}/${cidr.prefix}`;
}

/** Number of addresses in the prefix. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(bitsOf(cidr.family) - cidr.prefix);
}

/** The highest address in the prefix (the IPv4 broadcast address). */
export function lastAddress(cidr: Cidr): bigint {
  return cidr.network + cidrSize(cidr) - 1n;
}

export function cidrContains(cidr: Cidr, addr: IpAddress): boolean {
  return addr.family === cidr.family && addr.value >= cidr.network && addr.value <= lastAddress(cidr);
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && inner.network >= outer.network &&
    lastAddress(inner) <= lastAddress(outer);
}

/** Two prefixes overlap exactly when one contains the other. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network <= lastAddress(b) && b.network <= lastAddress(a);
}

/** The n-th address of the prefix (0 = the network address). */
export function nthAddress(cidr: Cidr, n: bigint): IpAddress {
  if (n < 0n || n >= cidrSize(cidr)) {
    throw invalid('ADDRESS_OUT_OF_RANGE', `address index ${n} is outside ${formatCidr(cidr)}`);
  }
  return { family: cidr.family, value: cidr.network + n };
}

/**
 * The first and last addresses a host may use. IPv4 reserves the network and broadcast
 * addresses except in /31 (RFC 3021) and /32; IPv6 reserves only the Subnet-Router anycast
 * address (RFC 4291 §2.6.1), as Docker's IPAM does, except in /127 (RFC 6164) and /128.
 */
export function firstHost(cidr: Cidr): IpAddress {
  const size = cidrSize(cidr);
  return { family: cidr.family, value: size > 2n ? cidr.network + 1n : cidr.network };
}

export function lastHost(cidr: Cidr): IpAddress {
  const size = cidrSize(cidr);
  const value = cidr.family === 4 && size > 2n ? lastAddress(cidr) - 1n : lastAddress(cidr);
  return { family: cidr.family, value };
}

// ---------------------------------------------------------------------------------------
// MAC addresses

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function isValidMac(text: string): boolean {
  return MAC.test(text);
}

/**
 * Validates a user-supplied MAC (six colon-separated octets) and returns it in lower case.
 * A multicast MAC (low bit of the first octet set) cannot be a unicast interface address.
 */
export function parseMac(text: string, field = 'MacAddress'): string {
  if (!isValidMac(text)) throw invalid('INVALID_MAC', `invalid MAC address ${JSON.stringify(text)}`, field);
  if (parseInt(text.slice(0, 2), 16) & 0x01) {
    throw invalid('INVALID_MAC', `invalid MAC address ${text}: it is a multicast address`, field);
  }
  return text.toLowerCase();
}

/**
 * A random locally administered unicast MAC from 6 random bytes (IEEE 802: bit 1 of the
 * first octet = locally administered, bit 0 = multicast), as Docker ≥ 28 and the kernel's
 * eth_random_addr do.
 */
export function randomMac(bytes: Uint8Array): string {
  if (bytes.length < 6) throw invalid('INVALID_ARGUMENT', 'randomMac needs 6 random bytes');
  const octets = Array.from(bytes.subarray(0, 6));
  octets[0] = (octets[0]! & 0xfe) | 0x02;
  return octets.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The MAC an endpoint of a global (VXLAN) network gets from its IPv4 address, as Docker's
 * overlay driver does (02:42 + the four octets): an address reused after its endpoint went
 * (on another host) comes back with the same MAC, so the neighbour caches of sandboxes on
 * every host that still remember the address stay right, instead of sending to a MAC no
 * host has an FDB entry for until the cache entry expires.
 */
export function macFromIpv4(cidr: string): string {
  const octets = cidr.split('/')[0]!.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw invalid('INVALID_ARGUMENT', `macFromIpv4: ${cidr} is not an IPv4 address`);
  }
  return ['02', '42', ...octets.map((o) => o.toString(16).padStart(2, '0'))].join(':');
}
