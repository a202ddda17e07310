/**
 * Network operations: create, inspect, list, remove, prune, and the predefined
 * networks. Each one validates everything first, writes the record, then makes the
 * kernel match; a failure undoes both.
 */
import type { EngineContext } from './context.js';
import type { NetworkDriver } from '../drivers/contract.js';
import { driverOf, timestamp, ZERO_TIME } from './context.js';
import type { NetworkDetails, NetworkRecord, PoolRecord } from './types.js';
import { resolveNetworkScope, type NetworkSpec } from '../model/network-spec.js';
import { isKnownDriver, validateDriverOptions } from '../model/driver-options.js';
import { RECORD_VERSION } from '../model/records.js';
import { DEFAULT_POOLS, pickSubnet, planPool, ulaPoolFromHostId } from '../model/ipam.js';
import { blocksView, usesBlocks } from './routed-blocks.js';
import { cidrsOverlap, formatCidr, formatIp, parseCidr, tryParseCidr, type Cidr } from '../model/ip.js';
import { newId, resolveRef } from '../model/names.js';
import { matchNetwork, parseFilters, pruneMatcher, validateNetworkFilters, NETWORK_LIST_FILTERS, NETWORK_PRUNE_FILTERS } from '../model/filters.js';
import { conflict, forbidden, invalid, unavailable } from '../errors.js';
import { UndoLog } from './undo.js';
import { SHARED_KEY } from './shared-keys.js';

const RESERVED_NAMES = new Set(['bridge', 'host', 'none', 'default']);
const NETWORKS_LOCK = 'networks';

export const netLock = (id: string): string => `net:${id}`;

export function findNetwork(ctx: EngineContext, ref: string): NetworkRecord {
  return resolveRef(ref, [...ctx.state.networks.values()], 'network');
}

export function details(ctx: EngineContext, net: NetworkRecord): NetworkDetails {
  const endpoints = ctx.state
    .endpointsOfNetwork(net.id)
    .map((endpoint) => ({ endpoint, sandbox: ctx.state.sandboxes.get(endpoint.sandboxId) }))
    .filter((e) => e.sandbox?.state.status === 'running')
    .map((e) => ({ endpoint: e.endpoint, sandboxName: e.sandbox!.name }));
  if (net.scope !== 'global') return { network: net, endpoints };
  // Docker's `Peers` (inspect -v): the hosts with endpoints on the network, by node.
  const nodes = new Set(ctx.state.remoteEndpointsOf(net.id).map((r) => r.node));
  if (ctx.state.endpointsOfNetwork(net.id).length && ctx.state.shared) nodes.add(ctx.state.shared.nodeId);
  const peers = [...nodes]
    .map((id) => ctx.state.nodeAddresses.get(id) ?? { name: id.slice(0, 12), address: '' })
    .map((n) => ({ name: n.name, ip: n.address }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { network: net, endpoints, peers, ...(usesBlocks(net) ? { blocks: blocksView(ctx, net.id) } : {}) };
}

/** Subnets of every network, for overlap checks and pool picking. */
function subnetsInUse(ctx: EngineContext, except?: string): Cidr[] {
  const out: Cidr[] = [];
  for (const n of ctx.state.networks.values()) {
    if (n.id === except) continue;
    for (const p of n.pools) out.push(parseCidr(p.subnet));
  }
  return out;
}

function reserved(ctx: EngineContext): Cidr[] {
  return ctx.host.reservedPrefixes().map((c) => tryParseCidr(c)).filter((c): c is Cidr => !!c);
}

/** Turns the validated IPAM request into pool records, picking default subnets where none was given. */
export function planPools(ctx: EngineContext, spec: Pick<NetworkSpec, 'enableIPv4' | 'enableIPv6' | 'ipam' | 'name'>): PoolRecord[] {
  const pools: PoolRecord[] = [];
  const inUse = subnetsInUse(ctx);
  for (const cfg of spec.ipam.config) {
    for (const other of inUse) {
      if (cidrsOverlap(cfg.subnet, other)) {
        throw forbidden('POOL_OVERLAP', `invalid pool request: Pool overlaps with other one on this address space (${formatCidr(cfg.subnet)} overlaps ${formatCidr(other)})`);
      }
    }
    const plan = planPool({ subnet: cfg.subnet, ipRange: cfg.ipRange, gateway: cfg.gateway, auxAddresses: cfg.auxAddresses });
    pools.push({
      subnet: formatCidr(cfg.subnet),
      ...(cfg.ipRange ? { ipRange: formatCidr(cfg.ipRange) } : {}),
      ...(plan.gateway ? { gateway: formatIp(plan.gateway) } : {}),
      ...(cfg.auxAddresses && Object.keys(cfg.auxAddresses).length
        ? { auxAddresses: Object.fromEntries(Object.entries(cfg.auxAddresses).map(([k, v]) => [k, formatIp(v)])) }
        : {}),
      userSubnet: true,
    });
  }
  const has = (family: 4 | 6) => spec.ipam.config.some((c) => c.subnet.family === family);
  if (spec.enableIPv4 && !has(4)) {
    const subnet = pickSubnet({ pools: ctx.config.defaultPools.length ? ctx.config.defaultPools : [...DEFAULT_POOLS], inUse, reserved: reserved(ctx), family: 4 });
    const plan = planPool({ subnet });
    pools.push({ subnet: formatCidr(subnet), gateway: formatIp(plan.gateway!), userSubnet: false });
  }
  if (spec.enableIPv6 && !has(6)) {
    const subnet = pickSubnet({ pools: [ulaPoolFromHostId(ctx.config.hostId)], inUse, reserved: reserved(ctx), family: 6 });
    const plan = planPool({ subnet });
    pools.push({ subnet: formatCidr(subnet), gateway: formatIp(plan.gateway!), userSubnet: false });
  }
  return pools;
}

/** Creates a network from a parsed spec (a front end parses its request: model/network-spec.ts for Docker's). */
export async function createNetwork(ctx: EngineContext, spec: NetworkSpec): Promise<{ id: string; warning: string }> {
  if (RESERVED_NAMES.has(spec.name)) {
    throw forbidden('PREDEFINED_NETWORK', `operation is not permitted on predefined ${spec.name} network`);
  }
  const driver = ctx.drivers.get(spec.driver);
  if (driver?.capabilities.singleton) {
    throw forbidden('SINGLETON_DRIVER', `only one instance of "${spec.driver}" network is allowed`);
  }
  if (!driver?.capabilities.creatable) {
    const available = ctx.drivers.all().filter((d) => d.capabilities.creatable).map((d) => d.name).join(', ');
    throw invalid('DRIVER_NOT_SUPPORTED', `driver "${spec.driver}" is not supported yet by this daemon (available: ${available})`, 'Driver');
  }
  // An ipvlan L3 network with --scope global spans hosts too (model/network-spec.ts resolveNetworkScope).
  const global = resolveNetworkScope(spec, { driverScope: driver.capabilities.scope, clustered: ctx.state.clustered }) === 'global';
  if (global && !ctx.state.clustered) {
    throw invalid('CLUSTER_STORE_REQUIRED', `the ${driver.name} driver makes networks that span hosts: it needs a cluster store (start the daemon with --cluster-store etcd://ADDR:PORT --cluster-advertise ADDR)`, 'Driver');
  }
  return ctx.locks.withLocks([NETWORKS_LOCK], async () => {
    // Names are unique across local and global networks (global ones are in memory too,
    // from the shared store; the global create's txn claims /names/<name> create-only).
    if (ctx.state.networkByName(spec.name)) throw conflict('NETWORK_EXISTS', `network with name ${spec.name} already exists`);
    const id = newId(ctx.random(32));
    const state = driver.planNetwork({ id, name: spec.name, options: spec.driverOptions, predefined: false, others: [...ctx.state.networks.values()], internal: spec.internal });
    const net: NetworkRecord = {
      v: RECORD_VERSION,
      id,
      driver: driver.name,
      name: spec.name,
      created: timestamp(ctx.now()),
      scope: global ? 'global' : 'local',
      enableIPv4: spec.enableIPv4,
      enableIPv6: spec.enableIPv6,
      ipamDriver: spec.ipam.driver,
      ipamOptions: spec.ipam.options,
      ...(spec.ipam.optionsGiven ? {} : { ipamOptionsNull: true }),
      pools: planPools(ctx, spec),
      internal: spec.internal,
      attachable: spec.attachable,
      ingress: false,
      options: spec.options,
      labels: spec.labels,
      predefined: false,
      state,
    };
    await applyNewNetwork(ctx, net);
    return { id, warning: '' };
  });
}

/** Writes the record, then the kernel state; undoes both on failure. */
async function applyNewNetwork(ctx: EngineContext, net: NetworkRecord): Promise<void> {
  const driver = driverOf(ctx, net);
  if (net.scope === 'global') {
    // One shared txn (record, name, driver claims); the kernel state comes on each host
    // with its first local endpoint (endpoint-ops.ts takePart).
    // An encrypted overlay's key ring goes in the same txn (its own key, never in the record).
    const secret = driver.newSecret?.(net);
    await ctx.state.commit({ networks: [net], uniqueClaims: uniqueClaimKeys(driver, net), ...(secret ? { secrets: [{ networkId: net.id, value: secret }] } : {}) });
    return;
  }
  await new UndoLog((what, err) => ctx.log(`undo ${what}: ${String(err)}`)).run(async (undo) => {
    await ctx.state.commit({ networks: [net] });
    undo.push('network record', () => ctx.state.commit({ removeNetworks: [net.id] }));
    if (net.pools.some((p) => p.subnet.includes(':'))) ctx.host.ensureForwarding(6);
    if (net.pools.some((p) => !p.subnet.includes(':'))) ctx.host.ensureForwarding(4);
    undo.push('network kernel state', () => driver.deleteNetwork(net));
    driver.ensureNetwork(net);
  });
}

export function inspectNetwork(ctx: EngineContext, ref: string): NetworkDetails {
  return details(ctx, findNetwork(ctx, ref));
}

export function listNetworks(ctx: EngineContext, filtersJson?: string): NetworkDetails[] {
  const filters = validateNetworkFilters(parseFilters(filtersJson, NETWORK_LIST_FILTERS));
  return [...ctx.state.networks.values()]
    .filter((n) => matchNetwork(filters, networkFilterView(ctx, n)))
    .map((n) => details(ctx, n));
}

function networkFilterView(ctx: EngineContext, n: NetworkRecord) {
  return {
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: n.scope,
    labels: n.labels,
    builtin: n.predefined,
    endpointCount: ctx.state.endpointsOfNetwork(n.id).length,
  };
}

/** A global network's driver claims, as shared-store keys (`/claims/<driver>/<name>`). */
export function uniqueClaimKeys(driver: NetworkDriver, net: NetworkRecord): string[] {
  return (driver.uniqueClaims?.(net) ?? []).map((c) => SHARED_KEY.claim(driver.name, c));
}

export async function removeNetwork(ctx: EngineContext, ref: string): Promise<void> {
  const net = findNetwork(ctx, ref);
  if (net.predefined) throw forbidden('PREDEFINED_NETWORK', `${net.name} is a pre-defined network and cannot be removed`);
  await ctx.locks.withLocks([NETWORKS_LOCK, netLock(net.id)], async () => {
    if (!ctx.state.networks.has(net.id)) throw conflict('NETWORK_GONE', `network ${ref} was removed concurrently`);
    if (net.scope === 'global') {
      const driver = driverOf(ctx, net);
      const stopped = ctx.state.endpointsOfNetwork(net.id).filter((e) => ctx.state.sandboxes.get(e.sandboxId)?.state.status !== 'running');
      const wasTakingPart = ctx.state.participating.has(net.id);
      await ctx.state.removeGlobalNetwork(net, new Set(stopped.map((e) => e.id)), uniqueClaimKeys(driver, net));
      if (wasTakingPart) await driver.deleteNetwork(net);
      return;
    }
    const endpoints = ctx.state.endpointsOfNetwork(net.id);
    const active = endpoints.filter((e) => ctx.state.sandboxes.get(e.sandboxId)?.state.status === 'running');
    if (active.length) {
      const names = active.map((e) => ctx.state.sandboxes.get(e.sandboxId)?.name ?? e.sandboxId).join(', ');
      throw forbidden('NETWORK_IN_USE', `error while removing network: network ${net.name} has active endpoints (${names})`);
    }
    // Stopped sandboxes only keep a reservation on this network: it goes with the network.
    await ctx.state.commit({
      removeNetworks: [net.id],
      removeEndpoints: endpoints.map((e) => e.id),
    });
    await driverOf(ctx, net).deleteNetwork(net);
  });
}

export async function pruneNetworks(ctx: EngineContext, filtersJson?: string): Promise<string[]> {
  const matches = pruneMatcher(parseFilters(filtersJson, NETWORK_PRUNE_FILTERS), ctx.now().getTime());
  const removed: string[] = [];
  for (const net of [...ctx.state.networks.values()]) {
    // A global network is the cluster's: one host's prune does not remove it (rm it by name).
    if (net.predefined || net.scope === 'global') continue;
    if (!matches({ labels: net.labels, createdMs: Date.parse(net.created) })) continue;
    if (ctx.state.endpointsOfNetwork(net.id).some((e) => ctx.state.sandboxes.get(e.sandboxId)?.state.status === 'running')) continue;
    try {
      await removeNetwork(ctx, net.id);
      removed.push(net.name);
    } catch (err) {
      ctx.log(`prune ${net.name}: ${String(err)}`);
    }
  }
  return removed;
}

/** The driver's admission check for one more running endpoint on `net` (the bridge's port limit). */
export function admitEndpoint(ctx: EngineContext, net: NetworkRecord): void {
  const driver = driverOf(ctx, net);
  if (!driver.admit) return;
  const attached = ctx.state
    .endpointsOfNetwork(net.id)
    .filter((e) => ctx.state.sandboxes.get(e.sandboxId)?.state.status === 'running').length;
  driver.admit(net, attached);
}

/**
 * Makes sure the predefined networks exist, one per driver that declares one
 * (capabilities.predefined): `bridge` (the default, like docker0, on --bip or the first free
 * default pool), `host` and `none`. Called at start.
 */
export async function ensurePredefinedNetworks(ctx: EngineContext): Promise<void> {
  for (const driver of ctx.drivers.all()) {
    const name = driver.capabilities.predefined;
    if (!name) continue;
    if (driver.capabilities.needsIpam) await ensureDefaultNetwork(ctx, driver, name);
    else await ensurePlainPredefined(ctx, driver, name);
  }
}

const predefinedBase = () => ({
  v: RECORD_VERSION as typeof RECORD_VERSION,
  scope: 'local' as const,
  enableIPv4: true,
  enableIPv6: false,
  ipamDriver: 'default',
  ipamOptions: {},
  internal: false,
  attachable: false,
  ingress: false,
  labels: {},
  predefined: true,
});

const existingPredefined = (ctx: EngineContext, name: string): NetworkRecord | undefined =>
  [...ctx.state.networks.values()].find((n) => n.predefined && n.name === name);

/** Typed options of a predefined network (the daemon's, so every key is known). */
function predefinedOptions(driver: NetworkDriver, raw: Record<string, string>) {
  if (!isKnownDriver(driver.name)) throw unavailable('DRIVER_UNAVAILABLE', `driver ${driver.name} has no option parser`);
  return validateDriverOptions(driver.name, raw);
}

async function ensurePlainPredefined(ctx: EngineContext, driver: NetworkDriver, name: string): Promise<void> {
  if (existingPredefined(ctx, name)) return;
  const id = newId(ctx.random(32));
  const options = driver.predefinedOptions?.({ mtu: ctx.config.mtu, defaultBindIp: ctx.config.defaultBindIp }) ?? {};
  const state = driver.planNetwork({ id, name, options: predefinedOptions(driver, options), predefined: true, others: [...ctx.state.networks.values()] });
  await ctx.state.commit({ networks: [{ ...predefinedBase(), id, name, driver: driver.name, created: ZERO_TIME, pools: [], options, state }] });
}

/** The default network: on --bip, else its current pool, else the first free default pool. */
async function ensureDefaultNetwork(ctx: EngineContext, driver: NetworkDriver, name: string): Promise<void> {
  const current = existingPredefined(ctx, name);
  const wanted = defaultBridgePool(ctx, current);
  if (current && current.pools[0]?.subnet === wanted.subnet && current.pools[0]?.gateway === wanted.gateway) return;
  if (current) {
    if (ctx.state.endpointsOfNetwork(current.id).length) {
      ctx.log(`--bip ${ctx.config.bip} differs from the default bridge's ${current.pools[0]?.subnet}, which has endpoints: keeping it`);
      return;
    }
    await driverOf(ctx, current).deleteNetwork(current);
    await ctx.state.commit({ removeNetworks: [current.id] });
  }
  const options = driver.predefinedOptions?.({ mtu: ctx.config.mtu, defaultBindIp: ctx.config.defaultBindIp }) ?? {};
  const id = newId(ctx.random(32));
  const others = [...ctx.state.networks.values()];
  const net: NetworkRecord = {
    ...predefinedBase(),
    id,
    name,
    driver: driver.name,
    created: timestamp(ctx.now()),
    pools: [wanted],
    options,
    state: driver.planNetwork({ id, name, options: predefinedOptions(driver, options), predefined: true, others }),
  };
  await applyNewNetwork(ctx, net);
}

function defaultBridgePool(ctx: EngineContext, current: NetworkRecord | undefined): PoolRecord {
  if (ctx.config.bip) {
    const given = parseCidr(ctx.config.bip, '--bip', 'bip');
    const gateway = given.address === given.network ? planPool({ subnet: given }).gateway! : { family: given.family, value: given.address };
    return { subnet: formatCidr(given), gateway: formatIp(gateway), userSubnet: true };
  }
  if (current?.pools[0]) return current.pools[0];
  const inUse = subnetsInUse(ctx);
  const subnet = pickSubnet({ pools: ctx.config.defaultPools.length ? ctx.config.defaultPools : [...DEFAULT_POOLS], inUse, reserved: reserved(ctx), family: 4 });
  return { subnet: formatCidr(subnet), gateway: formatIp(planPool({ subnet }).gateway!), userSubnet: false };
}
