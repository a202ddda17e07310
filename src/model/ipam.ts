/**
 * The default IPAM, as pure functions: what is already used is always an input, so the
 * store decides what "used" means and the allocator cannot drift from it.
 *
 * Behaviour follows Docker's default IPAM (moby libnetwork/ipam, ipamutils): subnets are
 * carved in order from address pools, skipping any that overlap an existing network or a
 * host route/nameserver; addresses are handed out first-free from the range.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError, invalid, unavailable } from '../errors.js';
import {
  type Cidr,
  type IpAddress,
  type IpFamily,
  bitsOf,
  cidrContains,
  cidrContainsCidr,
  cidrOf,
  cidrSize,
  formatCidr,
  formatIp,
  formatIpValue,
  lastAddress,
  parseCanonicalCidr,
  firstHost,
} from './ip.js';

/** A range of addresses to split into subnets of `size` bits (Docker's NetworkToSplit). */
export interface AddressPool {
  readonly base: Cidr;
  readonly size: number;
}

const pool = (text: string, size: number): AddressPool => ({ base: parseCanonicalCidr(text, 'pool'), size });

/** Docker's local-scope defaults (libnetwork/ipamutils): 15 /16 networks, then 16 /20s. */
export const DEFAULT_POOLS: readonly AddressPool[] = Object.freeze([
  pool('172.17.0.0/16', 16),
  pool('172.18.0.0/16', 16),
  pool('172.19.0.0/16', 16),
  pool('172.20.0.0/14', 16),
  pool('172.24.0.0/14', 16),
  pool('172.28.0.0/14', 16),
  pool('192.168.0.0/16', 20),
]);

/** Docker's global-scope default (overlay): 10.0.0.0/8 split into /24s. */
export const DEFAULT_GLOBAL_POOLS: readonly AddressPool[] = Object.freeze([pool('10.0.0.0/8', 24)]);

/**
 * Parses a `--default-address-pool base=CIDR,size=N` value (the dockerd flag syntax).
 */
export function parseAddressPool(text: string, field = '--default-address-pool'): AddressPool {
  let base: Cidr | undefined;
  let size: number | undefined;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (key === 'base') base = parseCanonicalCidr(value, field, 'address pool base');
    else if (key === 'size') {
      if (!/^[0-9]{1,3}$/.test(value)) throw invalid('INVALID_POOL', `invalid address pool size ${JSON.stringify(value)} in ${field}`, field);
      size = Number(value);
    } else throw invalid('INVALID_POOL', `invalid address pool ${JSON.stringify(text)}: unknown key ${JSON.stringify(key)} (want base=CIDR,size=N)`, field);
  }
  if (base === undefined || size === undefined) {
    throw invalid('INVALID_POOL', `invalid address pool ${JSON.stringify(text)}: want base=CIDR,size=N`, field);
  }
  return checkPool({ base, size }, field);
}

function checkPool(p: AddressPool, field: string): AddressPool {
  if (p.size < p.base.prefix || p.size > bitsOf(p.base.family)) {
    throw invalid('INVALID_POOL', `invalid address pool ${formatCidr(p.base)}: size ${p.size} must be between ${p.base.prefix} and ${bitsOf(p.base.family)}`, field);
  }
  return p;
}

// ---------------------------------------------------------------------------------------
// Choosing a subnet

export interface PickSubnetOptions {
  readonly pools: readonly AddressPool[];
  /** Subnets of existing networks. */
  readonly inUse: readonly Cidr[];
  /** Host on-link routes and nameserver addresses (as /32 or /128), to be avoided too. */
  readonly reserved?: readonly Cidr[];
  /** Only pools of this family are considered (default: IPv4). */
  readonly family?: IpFamily;
}

interface Interval {
  start: bigint;
  end: bigint;
}

function mergedIntervals(cidrs: readonly Cidr[], family: IpFamily): Interval[] {
  const sorted = cidrs
    .filter((c) => c.family === family)
    .map((c) => ({ start: c.network, end: lastAddress(c) }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: Interval[] = [];
  for (const iv of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && iv.start <= last.end + 1n) {
      if (iv.end > last.end) last.end = iv.end;
    } else merged.push({ ...iv });
  }
  return merged;
}

/**
 * The first subnet, in pool order, that overlaps neither an existing network nor a
 * reserved host prefix. Blocked candidates are skipped in one step past the blocker, so
 * the cost is O((pools + blockers) · log), not O(candidates · blockers).
 */
export function pickSubnet(options: PickSubnetOptions): Cidr {
  const family = options.family ?? 4;
  const blockers = mergedIntervals([...options.inUse, ...(options.reserved ?? [])], family);
  for (const p of options.pools) {
    if (p.base.family !== family) continue;
    const step = 1n << BigInt(bitsOf(family) - p.size);
    const poolEnd = lastAddress(p.base);
    let i = 0;
    let candidate = p.base.network;
    while (candidate + step - 1n <= poolEnd) {
      const candidateEnd = candidate + step - 1n;
      while (i < blockers.length && blockers[i]!.end < candidate) i++;
      const blocker = blockers[i];
      if (blocker === undefined || blocker.start > candidateEnd) return cidrOf(family, candidate, p.size);
      // Jump to the first aligned candidate after the blocker.
      const past = blocker.end + 1n;
      candidate = p.base.network + ((past - p.base.network + step - 1n) / step) * step;
    }
  }
  const fam = family === 4 ? 'IPv4' : 'IPv6';
  throw unavailable('NO_AVAILABLE_POOL', `could not find an available, non-overlapping ${fam} address pool among the defaults to assign to the network`);
}

/**
 * Docker's IPv6 default pool (daemon.go deriveULABaseNetwork): fd00::/8 plus a 40-bit
 * global ID, the 40 low bits of the first 8 bytes of SHA-256(hostId), making a /48 (an
 * RFC 4193 ULA prefix) split into /64s.
 */
export function ulaPoolFromDigest(digest: Uint8Array): AddressPool {
  if (digest.length < 8) throw invalid('INVALID_ARGUMENT', 'ULA derivation needs at least 8 digest bytes');
  let gid = 0n;
  for (let i = 3; i < 8; i++) gid = (gid << 8n) | BigInt(digest[i]!);
  const address = (0xfdn << 120n) | (gid << 80n);
  return { base: cidrOf(6, address, 48), size: 64 };
}

/** ulaPoolFromDigest(SHA-256(hostId)); hashing is pure computation. */
export function ulaPoolFromHostId(hostId: string): AddressPool {
  return ulaPoolFromDigest(createHash('sha256').update(hostId).digest());
}

// ---------------------------------------------------------------------------------------
// Planning a pool and picking addresses

export interface PlanPoolOptions {
  readonly subnet: Cidr;
  readonly ipRange?: Cidr;
  readonly gateway?: IpAddress;
  readonly auxAddresses?: Readonly<Record<string, IpAddress>>;
  /** No gateway is allocated (internal networks with inhibit_ipv4, l3 ipvlan, …). */
  readonly skipGateway?: boolean;
}

export interface PoolPlan {
  readonly family: IpFamily;
  readonly subnet: Cidr;
  /** Where dynamic addresses come from: the IP range, or the whole subnet. */
  readonly range: Cidr;
  readonly gateway: IpAddress | undefined;
  /** Never handed out: network address, IPv4 broadcast, gateway and aux addresses. */
  readonly reserved: ReadonlySet<bigint>;
}

export function planPool(options: PlanPoolOptions): PoolPlan {
  const { subnet } = options;
  const mustBeInside = (addr: IpAddress, what: string): void => {
    if (!cidrContains(subnet, addr)) {
      throw invalid('ADDRESS_OUTSIDE_SUBNET', `invalid ${what} ${formatIp(addr)}: parent subnet ${formatCidr(subnet)} doesn't contain this address`);
    }
  };
  if (options.ipRange !== undefined && !cidrContainsCidr(subnet, options.ipRange)) {
    throw invalid('RANGE_OUTSIDE_SUBNET', `invalid ip-range ${formatCidr(options.ipRange)}: parent subnet ${formatCidr(subnet)} doesn't contain ip-range`);
  }
  const reserved = new Set<bigint>();
  const size = cidrSize(subnet);
  // Docker reserves the network address on anything larger than an IPv4 /31 (IPv6 too,
  // the Subnet-Router anycast address), and the broadcast address on IPv4 only.
  if (size > 2n) reserved.add(subnet.network);
  if (subnet.family === 4 && size > 2n) reserved.add(lastAddress(subnet));
  let gateway: IpAddress | undefined;
  if (options.gateway !== undefined) {
    mustBeInside(options.gateway, 'gateway');
    gateway = options.gateway;
  } else if (!options.skipGateway) {
    gateway = firstHost(subnet);
  }
  if (gateway !== undefined) reserved.add(gateway.value);
  for (const [name, aux] of Object.entries(options.auxAddresses ?? {})) {
    mustBeInside(aux, `auxiliary address ${name}`);
    reserved.add(aux.value);
  }
  return { family: subnet.family, subnet, range: options.ipRange ?? subnet, gateway, reserved };
}

export interface PickAddressOptions {
  readonly pool: PoolPlan;
  /** Addresses held by endpoints: a Set, or an ascending list (either is O(1)/O(n) total). */
  readonly used: ReadonlySet<bigint> | readonly bigint[];
  /** A static address (--ip): must be inside the subnet, may be outside the range. */
  readonly preferred?: IpAddress;
  /** Network name for error messages. */
  readonly networkName?: string;
  /** Serial allocation (com.docker.network.ipam.serial): start after this address, wrapping. */
  readonly after?: bigint;
}

function usedPredicate(used: ReadonlySet<bigint> | readonly bigint[]): (v: bigint) => boolean {
  if (!Array.isArray(used)) {
    const set = used as ReadonlySet<bigint>;
    return (v) => set.has(v);
  }
  return (v) => sortedHas(used as readonly bigint[], v);
}

function sortedHas(list: readonly bigint[], v: bigint): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = list[mid]!;
    if (x === v) return true;
    if (x < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * The address for a new endpoint: `preferred` if given (checked), else the first address
 * of the range that is neither reserved nor used. The scan stops after at most
 * |used| + |reserved| + 1 probes, so a pool with thousands of used addresses costs
 * O(n) per call (O(n log n) for a sorted list), never O(n²).
 */
export function pickAddress(options: PickAddressOptions): IpAddress {
  const { pool: plan } = options;
  const isUsed = usedPredicate(options.used);
  const net = options.networkName === undefined ? '' : ` on network ${options.networkName}`;
  if (options.preferred !== undefined) return checkPreferred(plan, options.preferred, isUsed, net);

  const start = plan.range.network;
  const end = lastAddress(plan.range);
  const width = end - start + 1n;
  const first = options.after !== undefined && options.after >= start && options.after < end ? options.after + 1n : start;
  for (let k = 0n; k < width; k++) {
    let v = first + k;
    if (v > end) v -= width;
    if (!plan.reserved.has(v) && !isUsed(v)) return { family: plan.family, value: v };
  }
  const fam = plan.family === 4 ? 'IPv4' : 'IPv6';
  throw new SwitchyardError('unavailable', 'NO_AVAILABLE_ADDRESS',
    `no available ${fam} addresses${net}: ${formatCidr(plan.range)} is full`);
}

function checkPreferred(plan: PoolPlan, addr: IpAddress, isUsed: (v: bigint) => boolean, net: string): IpAddress {
  const text = formatIpValue(addr.family, addr.value);
  if (!cidrContains(plan.subnet, addr)) {
    throw invalid('ADDRESS_OUTSIDE_SUBNET', `no configured subnet or ip-range contain the IP address ${text}`);
  }
  if (plan.reserved.has(addr.value) || isUsed(addr.value)) {
    throw new SwitchyardError('conflict', 'ADDRESS_IN_USE', `Address already in use: ${text}${net}`);
  }
  return addr;
}

/** Number of addresses the pool can still hand out dynamically (for Status.IPAM). */
export function dynamicAddressesAvailable(plan: PoolPlan, used: ReadonlySet<bigint> | readonly bigint[]): bigint {
  const start = plan.range.network;
  const end = lastAddress(plan.range);
  let taken = 0n;
  const seen = new Set<bigint>();
  for (const v of [...plan.reserved, ...(Array.isArray(used) ? used : [...(used as ReadonlySet<bigint>)])]) {
    if (v >= start && v <= end && !seen.has(v)) {
      seen.add(v);
      taken++;
    }
  }
  return end - start + 1n - taken;
}
