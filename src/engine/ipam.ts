/**
 * Address management behind a small contract. `poolIpam` is the daemon's own allocator
 * (Docker's rules for static addresses, next-fit for the rest, one address per family of
 * the network); `givenIpam` takes the addresses a caller chose (netavark's and the Docker
 * remote driver's callers do their own IPAM) and only checks them. Both work over the
 * engine's in-memory view of what is used; the claims they return are written create-only
 * in the same store transaction as the endpoint (engine/state.ts), so an address is never
 * held twice. A repeated attach of the same (sandbox id, network, ifname) finds its
 * endpoint before any IPAM runs (engine/attachment-ops.ts), so it claims nothing new.
 */
import type { EngineContext } from './context.js';
import type { NetworkRecord, PoolRecord } from '../model/records.js';
import type { AddressClaim } from './state.js';
import { pickAddress, planPool, type PoolPlan } from '../model/ipam.js';
import { cidrContains, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from '../model/ip.js';
import { conflict, invalid, SwitchyardError } from '../errors.js';

export interface AddressRequest {
  net: NetworkRecord;
  endpointId: string;
  /** Asked-for addresses (bare), as given. */
  ipv4?: string;
  ipv6?: string;
  /** Addresses planned earlier in the same operation, per network. */
  extraUsed: Map<string, Set<bigint>>;
}

export interface AddressAssignment {
  ipv4?: string; // CIDR
  gateway?: string;
  ipv6?: string;
  ipv6Gateway?: string;
  claims: AddressClaim[];
}

export interface Ipam {
  readonly name: string;
  assign(ctx: EngineContext, req: AddressRequest): AddressAssignment;
}

const FIELD = { 4: 'IPAMConfig.IPv4Address', 6: 'IPAMConfig.IPv6Address' } as const;

function poolPlan(pool: PoolRecord): { subnet: Cidr; plan: PoolPlan } {
  const subnet = parseCidr(pool.subnet);
  const plan = planPool({
    subnet,
    ipRange: pool.ipRange ? parseCidr(pool.ipRange) : undefined,
    gateway: pool.gateway ? parseIp(pool.gateway) : undefined,
    auxAddresses: pool.auxAddresses ? Object.fromEntries(Object.entries(pool.auxAddresses).map(([k, v]) => [k, parseIp(v)])) : undefined,
  });
  return { subnet, plan };
}

function parseWanted(text: string | undefined, family: 4 | 6): IpAddress | undefined {
  if (!text) return undefined;
  const addr = parseIp(text, FIELD[family]);
  if (addr.family !== family) throw invalid('INVALID_ADDRESS', `${text} is not an IPv${family} address`, FIELD[family]);
  return addr;
}

/** Records one address in the assignment (and in the operation's used set). */
function take(out: AddressAssignment, req: AddressRequest, pool: PoolRecord, subnet: Cidr, addr: IpAddress, extra: Set<bigint>): void {
  extra.add(addr.value);
  const text = formatIp(addr);
  out.claims.push({ networkId: req.net.id, ip: text, owner: req.endpointId });
  if (subnet.family === 4) {
    out.ipv4 = `${text}/${subnet.prefix}`;
    if (pool.gateway) out.gateway = pool.gateway;
  } else {
    out.ipv6 = `${text}/${subnet.prefix}`;
    if (pool.gateway) out.ipv6Gateway = pool.gateway;
  }
}

function refuseTaken(ctx: EngineContext, req: AddressRequest, plan: PoolPlan, addr: IpAddress, extra: Set<bigint>): void {
  if (ctx.state.usedValues(req.net.id).has(addr.value) || extra.has(addr.value) || plan.reserved.has(addr.value)) {
    throw conflict('ADDRESS_IN_USE', `Address already in use: ${formatIp(addr)} on network ${req.net.name}`);
  }
}

/** The daemon's allocator: static addresses by Docker's rules, next-fit for the rest. */
export const poolIpam: Ipam = {
  name: 'default',
  assign(ctx, req) {
    const { net } = req;
    const wanted = { 4: parseWanted(req.ipv4, 4), 6: parseWanted(req.ipv6, 6) };
    for (const family of [4, 6] as const) {
      const addr = wanted[family];
      if (!addr) continue;
      if (net.predefined) throw invalid('STATIC_IP_DEFAULT_NETWORK', 'user specified IP address is supported on user defined networks only', FIELD[family]);
      const pools = net.pools.filter((p) => parseCidr(p.subnet).family === family);
      if (!pools.length || !pools.some((p) => p.userSubnet)) {
        throw invalid('STATIC_IP_NO_SUBNET', 'user specified IP address is supported only when connecting to networks with user configured subnets', FIELD[family]);
      }
      if (!pools.some((p) => cidrContains(parseCidr(p.subnet), addr))) {
        throw invalid('STATIC_IP_OUTSIDE', `no configured subnet or ip-range contain the IP address ${formatIp(addr)}`, FIELD[family]);
      }
    }
    const used = ctx.state.usedValues(net.id);
    const extra = req.extraUsed.get(net.id) ?? new Set<bigint>();
    const out: AddressAssignment = { claims: [] };
    // One address per family. A network may have several subnets of a family (macvlan,
    // ipvlan; libnetwork ipamAllocateVersion): a static address comes from the subnet that
    // holds it, a dynamic one from the first subnet with room, in the order they were given.
    const done = new Set<4 | 6>();
    for (const pool of net.pools) {
      const { subnet, plan } = poolPlan(pool);
      if (done.has(subnet.family)) continue;
      const preferred = wanted[subnet.family];
      if (preferred && !cidrContains(subnet, preferred)) continue;
      if (preferred) refuseTaken(ctx, req, plan, preferred, extra);
      const usedAll = extra.size ? new Set([...used, ...extra]) : used;
      // Next-fit from the last address handed out keeps a pick O(1) however many are in use,
      // and delays the reuse of a just-freed address (stale ARP and DNS caches elsewhere).
      const cursorKey = `${net.id}/${subnet.family}`;
      const after = preferred ? undefined : ctx.state.cursors.get(cursorKey);
      let addr: IpAddress;
      try {
        addr = pickAddress({ pool: plan, used: usedAll, preferred, networkName: net.name, ...(after !== undefined ? { after } : {}) });
      } catch (err) {
        const anotherLeft = !preferred && net.pools.slice(net.pools.indexOf(pool) + 1).some((p) => parseCidr(p.subnet).family === subnet.family);
        if (anotherLeft && err instanceof SwitchyardError && err.code === 'NO_AVAILABLE_ADDRESS') continue;
        throw err;
      }
      if (!preferred) ctx.state.cursors.set(cursorKey, addr.value);
      take(out, req, pool, subnet, addr, extra);
      done.add(subnet.family);
    }
    req.extraUsed.set(net.id, extra);
    return out;
  },
};

/**
 * Addresses chosen by the caller: each must lie in the network's subnet of its family and
 * be free; a family the caller gives no address for gets none.
 */
export const givenIpam: Ipam = {
  name: 'given',
  assign(ctx, req) {
    const { net } = req;
    const extra = req.extraUsed.get(net.id) ?? new Set<bigint>();
    const out: AddressAssignment = { claims: [] };
    for (const family of [4, 6] as const) {
      const addr = parseWanted(family === 4 ? req.ipv4 : req.ipv6, family);
      if (!addr) continue;
      const pool = net.pools.find((p) => parseCidr(p.subnet).family === family);
      if (!pool) throw invalid('STATIC_IP_NO_SUBNET', `network ${net.name} has no IPv${family} subnet`, FIELD[family]);
      const { subnet, plan } = poolPlan(pool);
      if (!cidrContains(subnet, addr)) {
        throw invalid('STATIC_IP_OUTSIDE', `no configured subnet or ip-range contain the IP address ${formatIp(addr)}`, FIELD[family]);
      }
      refuseTaken(ctx, req, plan, addr, extra);
      take(out, req, pool, subnet, addr, extra);
    }
    req.extraUsed.set(net.id, extra);
    return out;
  },
};
