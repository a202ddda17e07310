/**
 * Address blocks of a routed network (Calico's IPAM blocks, flannel's per-host leases):
 * a network's subnet is cut into equal blocks; each host claims blocks as it needs them,
 * hands its endpoints addresses out of its own blocks only, and every other host routes the
 * whole block to it. A route per block instead of per endpoint keeps route tables small
 * (docs/drivers/routed.md "Blocks"). Pure: no store, no kernel.
 *
 * The cluster layer claims a block with a create-only key (blockClaimKey) whose value is
 * the node id; these functions decide which block to claim next, when a host needs another
 * one and which of its blocks it may release.
 */
import { invalid, SwitchyardError } from '../errors.js';
import { bitsOf, cidrContains, cidrOf, cidrSize, formatCidr, formatIpValue, lastAddress, parseCanonicalCidr, type Cidr, type IpAddress } from './ip.js';

/** The driver option that sets the block size (a prefix length, as for IPv4). */
export const BLOCK_SIZE_OPT = 'com.switchyard.routed.block_size';
/** Calico's default: 64 addresses per block. */
export const DEFAULT_BLOCK_PREFIX4 = 26;
/** IPv6 blocks hold as many addresses as IPv4 ones: prefix + 96 (/26 → /122). */
export const V6_BLOCK_OFFSET = 96;
/** Blocks smaller than 4 addresses would cost a route per pair of endpoints. */
const SMALLEST_BLOCK4 = 30;
/** Blocks larger than a /16 of IPv4 make one host hold a whole site. */
const LARGEST_BLOCK4 = 16;

const fieldOf = `Options.${BLOCK_SIZE_OPT}`;

/**
 * The option's value: an IPv4 prefix length from /16 to /30 (default /26). IPv6 blocks use
 * the same number of addresses (prefix + 96). Text as the user gave it, or undefined.
 */
export function parseBlockSize(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_BLOCK_PREFIX4;
  const t = text.startsWith('/') ? text.slice(1) : text;
  const n = /^[0-9]{1,3}$/.test(t) ? Number(t) : NaN;
  if (!(n >= LARGEST_BLOCK4 && n <= SMALLEST_BLOCK4)) {
    throw invalid('INVALID_OPTION', `invalid value ${JSON.stringify(text)} for option ${BLOCK_SIZE_OPT}: want an IPv4 prefix length from ${LARGEST_BLOCK4} to ${SMALLEST_BLOCK4} (IPv6 blocks are /N+96)`, fieldOf);
  }
  return n;
}

/** The block prefix length for a subnet's family, from the (IPv4) block size. */
export function blockPrefix(subnet: Cidr, blockSize4: number): number {
  return subnet.family === 4 ? blockSize4 : blockSize4 + V6_BLOCK_OFFSET;
}

/** Checks that `subnet` holds at least one block of the size (a subnet smaller than a block is refused). */
export function checkBlockFits(subnet: Cidr, blockSize4: number): void {
  const p = blockPrefix(subnet, blockSize4);
  if (p < subnet.prefix) {
    throw invalid(
      'BLOCK_LARGER_THAN_SUBNET',
      `option ${BLOCK_SIZE_OPT}=${blockSize4}: a /${p} block does not fit in subnet ${formatCidr(subnet)} (use a larger subnet or a smaller block)`,
      fieldOf,
    );
  }
}

/** How many blocks the subnet holds. */
export function blockCount(subnet: Cidr, blockSize4: number): bigint {
  checkBlockFits(subnet, blockSize4);
  return 1n << BigInt(blockPrefix(subnet, blockSize4) - subnet.prefix);
}

/** The n-th block of the subnet (0-based). */
export function nthBlock(subnet: Cidr, blockSize4: number, n: bigint): Cidr {
  const p = blockPrefix(subnet, blockSize4);
  const size = 1n << BigInt(bitsOf(subnet.family) - p);
  if (n < 0n || n >= blockCount(subnet, blockSize4)) throw invalid('BLOCK_OUT_OF_RANGE', `block ${n} is outside subnet ${formatCidr(subnet)}`);
  return cidrOf(subnet.family, subnet.network + n * size, p);
}

/** The block of the subnet that holds `addr` (undefined when the subnet does not hold it). */
export function blockOf(subnet: Cidr, blockSize4: number, addr: IpAddress): Cidr | undefined {
  if (!cidrContains(subnet, addr)) return undefined;
  const p = blockPrefix(subnet, blockSize4);
  const size = 1n << BigInt(bitsOf(subnet.family) - p);
  return cidrOf(subnet.family, subnet.network + ((addr.value - subnet.network) / size) * size, p);
}

/** Parses claimed block keys (canonical CIDRs of the subnet, of the block size); anything else is refused. */
export function parseBlocks(subnet: Cidr, blockSize4: number, blocks: readonly string[], field = 'blocks'): Cidr[] {
  const p = blockPrefix(subnet, blockSize4);
  return blocks.map((text) => {
    const c = parseCanonicalCidr(text, field, 'block');
    if (c.family !== subnet.family || c.prefix !== p || !cidrContains(subnet, { family: c.family, value: c.network })) {
      throw invalid('INVALID_BLOCK', `${text} is not a /${p} block of subnet ${formatCidr(subnet)}`, field);
    }
    return c;
  });
}

/**
 * The first block of the subnet that nobody has claimed (`claimed`: every host's blocks,
 * as CIDR text), or undefined when every block is taken. O(claimed) memory, and the scan
 * stops after at most |claimed| + 1 probes.
 */
export function nextFreeBlock(subnet: Cidr, blockSize4: number, claimed: readonly string[]): Cidr | undefined {
  const taken = new Set(parseBlocks(subnet, blockSize4, claimed).map((c) => c.network));
  const count = blockCount(subnet, blockSize4);
  const size = 1n << BigInt(bitsOf(subnet.family) - blockPrefix(subnet, blockSize4));
  for (let n = 0n; n < count; n++) {
    const network = subnet.network + n * size;
    if (!taken.has(network)) return cidrOf(subnet.family, network, blockPrefix(subnet, blockSize4));
  }
  return undefined;
}

/**
 * Addresses of the subnet never handed out: its network address (and the IPv4 broadcast
 * address), as Docker reserves them. There is no gateway inside the subnet: sandboxes route
 * through a link-local one (drivers/routed.ts).
 */
export function reservedAddresses(subnet: Cidr): Set<bigint> {
  const r = new Set<bigint>();
  if (cidrSize(subnet) > 2n) {
    r.add(subnet.network);
    if (subnet.family === 4) r.add(lastAddress(subnet));
  }
  return r;
}

/** The first address of the host's own blocks that is neither reserved nor used; undefined when they are full. */
export function freeAddressInBlocks(subnet: Cidr, own: readonly Cidr[], used: ReadonlySet<bigint>): IpAddress | undefined {
  const reserved = reservedAddresses(subnet);
  for (const b of [...own].sort((x, y) => (x.network < y.network ? -1 : x.network > y.network ? 1 : 0))) {
    const end = lastAddress(b);
    for (let v = b.network; v <= end; v++) {
      if (!reserved.has(v) && !used.has(v)) return { family: b.family, value: v };
    }
  }
  return undefined;
}

/** The host needs another block: its own blocks have no free address (or it has none). */
export function needsAnotherBlock(subnet: Cidr, own: readonly Cidr[], used: ReadonlySet<bigint>): boolean {
  return freeAddressInBlocks(subnet, own, used) === undefined;
}

/**
 * The host's blocks it may release: those none of whose addresses is used. `keep` blocks
 * (the lowest empty ones) stay claimed, so a host that churns one endpoint does not claim
 * and release a block on every attach.
 */
export function releasableBlocks(own: readonly Cidr[], used: ReadonlySet<bigint>, keep = 0): Cidr[] {
  const empty = own.filter((b) => {
    for (const v of used) if (cidrContains(b, { family: b.family, value: v })) return false;
    return true;
  });
  empty.sort((x, y) => (x.network < y.network ? -1 : x.network > y.network ? 1 : 0));
  const held = own.length - empty.length;
  const stay = Math.max(0, keep - held);
  return empty.slice(stay);
}

/**
 * An address for a new endpoint out of the host's own blocks: `preferred` (a static
 * address) when it is in one of them and free, else the first free one. Throws
 * BLOCKS_FULL (the caller claims another block and asks again) when none is free.
 */
export function pickBlockAddress(subnet: Cidr, own: readonly Cidr[], used: ReadonlySet<bigint>, preferred?: IpAddress): IpAddress {
  if (preferred !== undefined) {
    const text = formatIpValue(preferred.family, preferred.value);
    if (!own.some((b) => cidrContains(b, preferred))) {
      throw invalid('ADDRESS_NOT_IN_OWN_BLOCKS', `address ${text} is not in a block this host holds (${own.map(formatCidr).join(', ') || 'none'})`, 'IPAMConfig');
    }
    if (reservedAddresses(subnet).has(preferred.value) || used.has(preferred.value)) {
      throw new SwitchyardError('conflict', 'ADDRESS_IN_USE', `Address already in use: ${text}`);
    }
    return preferred;
  }
  const a = freeAddressInBlocks(subnet, own, used);
  if (!a) throw new SwitchyardError('unavailable', 'BLOCKS_FULL', `this host's blocks of ${formatCidr(subnet)} are full (${own.length} held): claim another block`);
  return a;
}

/** The cluster store key of a block claim (create-only; its value is the node id). */
export function blockClaimKey(networkId: string, block: Cidr | string): string {
  return `/blocks/${networkId}/${typeof block === 'string' ? block : formatCidr(block)}`;
}
