/**
 * The cluster side of routed networks (docs/drivers/routed.md "Blocks in the cluster"), and
 * of ipvlan L3 networks that span hosts, which share it (usesBlocks; docs/drivers/ipvlan.md
 * "Across hosts"):
 *
 * - Claims: `/blocks/<network id>/<cidr>` = the node id holding it, create-only, written in
 *   the same shared txn as the endpoint that needed a new block (EngineState.commitShared:
 *   an AddressClaim with `block`). Every host keeps every network's claims in memory
 *   (`BlockTable`), from the full read and the watch.
 * - Addresses (`routedIpam`): a routed network's endpoint gets an address out of this host's
 *   own blocks (model/ip-blocks.ts), another block when they are full. The endpoint record
 *   holds what the sandbox has: the address as /32 (/128) and the link-local gateway.
 * - Release: after endpoints left, this host's empty blocks are deleted (under the
 *   network's lock, compared to still be ours).
 * - Routes: `syncRoutedBlocks` hands the other hosts' blocks (with a known data-path
 *   address) to the driver's `syncRemoteBlocks`, at takePart, on every change of the claims
 *   or of the nodes, and at a full resync. An IPv6 block goes via the node's IPv6 data-path
 *   address (node record v2), an IPv4 block via its IPv4 one. A node removed (`node rm`) loses its blocks and
 *   its address, so its routes go everywhere.
 */
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import type { NetworkRecord } from '../model/records.js';
import type { AddressAssignment, AddressRequest, Ipam } from './ipam.js';
import { BLOCK_SIZE_OPT, blockClaimKey, nextFreeBlock, parseBlockSize, pickBlockAddress } from '../model/ip-blocks.js';
import { cidrContains, cidrContainsCidr, formatCidr, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from '../model/ip.js';
import { invalid, SwitchyardError } from '../errors.js';
import type { RemoteBlock } from '../drivers/contract.js';
import type { KeyValue, Store } from '../store/contract.js';
import { dataPathAddressOf } from './cluster-nodes.js';

export const BLOCKS_PREFIX = '/blocks/';
/** The sandbox's link-local gateways (drivers/routed.ts). */
const GATEWAY = { 4: '169.254.1.1', 6: 'fe80::1' } as const;

/** network id → block CIDR → node id. */
export class BlockTable {
  private readonly byNet = new Map<string, Map<string, string>>();

  clear(): void {
    this.byNet.clear();
  }

  set(netId: string, cidr: string, node: string): void {
    let m = this.byNet.get(netId);
    if (!m) this.byNet.set(netId, (m = new Map()));
    m.set(cidr, node);
  }

  unset(netId: string, cidr: string): void {
    this.byNet.get(netId)?.delete(cidr);
  }

  dropNetwork(netId: string): void {
    this.byNet.delete(netId);
  }

  of(netId: string): ReadonlyMap<string, string> {
    return this.byNet.get(netId) ?? new Map();
  }

  /** A `/blocks/…` key-value into the table; returns its network id (undefined: not a block key). */
  applyKv(kv: KeyValue, deleted: boolean): string | undefined {
    const rest = kv.key.slice(BLOCKS_PREFIX.length);
    const slash = rest.indexOf('/');
    if (!kv.key.startsWith(BLOCKS_PREFIX) || slash < 0) return undefined;
    const netId = rest.slice(0, slash);
    const cidr = rest.slice(slash + 1);
    if (deleted) this.unset(netId, cidr);
    else this.set(netId, cidr, kv.value);
    return netId;
  }

  /** Block CIDRs `node` holds on a network. */
  ownedBy(netId: string, node: string): string[] {
    return [...this.of(netId)].filter(([, n]) => n === node).map(([c]) => c);
  }

  networks(): string[] {
    return [...this.byNet.keys()];
  }
}

const FIELD = { 4: 'IPAMConfig.IPv4Address', 6: 'IPAMConfig.IPv6Address' } as const;

/**
 * Networks whose addresses come out of per-host blocks and whose other hosts' blocks are
 * routed: routed networks, and ipvlan L3 networks that span hosts (docs/drivers/ipvlan.md
 * "Across hosts"; both are global).
 */
export function usesBlocks(net: NetworkRecord): boolean {
  return net.scope === 'global' && (net.driver === 'routed' || net.driver === 'ipvlan');
}

/** The network's IPv4 block prefix length (routed: parsed at create; ipvlan: from its options text). */
export function blockSizeOf(net: NetworkRecord): number {
  return net.state.driver === 'routed' ? net.state.options.blockSize : parseBlockSize(net.options[BLOCK_SIZE_OPT]);
}

/**
 * Addresses of a network that uses blocks, out of this host's blocks (one per family of the
 * network). Routed: the address alone (/32, /128) behind the link-local gateway; ipvlan L3:
 * the address with its subnet's prefix, and the subnet's gateway address (reserved, never
 * used: L3 routes `default dev ethN`; it marks the endpoint carrying the default route).
 */
export const routedIpam: Ipam = {
  name: 'routed-blocks',
  assign(ctx: EngineContext, req: AddressRequest): AddressAssignment {
    const { net } = req;
    const self = ctx.state.shared?.nodeId;
    if (!self) throw invalid('ROUTED_NEEDS_CLUSTER', `network ${net.name}: a network of per-host blocks (routed, ipvlan across hosts) needs a cluster store (--cluster-store)`, 'Driver');
    if (!usesBlocks(net)) throw invalid('NOT_A_ROUTED_NETWORK', `network ${net.name} does not hand out addresses from per-host blocks`);
    const routed = net.driver === 'routed';
    const blockSize = blockSizeOf(net);
    const extra = req.extraUsed.get(net.id) ?? new Set<bigint>();
    const out: AddressAssignment = { claims: [] };
    const table = ctx.state.blocks.of(net.id);
    const done = new Set<4 | 6>();
    for (const pool of net.pools) {
      const subnet = parseCidr(pool.subnet);
      const family = subnet.family;
      if (done.has(family)) continue;
      done.add(family);
      const wantedText = family === 4 ? req.ipv4 : req.ipv6;
      const wanted: IpAddress | undefined = wantedText ? parseIp(wantedText, FIELD[family]) : undefined;
      if (wanted && wanted.family !== family) throw invalid('INVALID_ADDRESS', `${wantedText} is not an IPv${family} address`, FIELD[family]);
      const own: Cidr[] = [];
      const claimed: string[] = [];
      for (const [cidr, node] of table) {
        const c = parseCidr(cidr);
        if (c.family !== family || !cidrContainsCidr(subnet, c)) continue;
        claimed.push(cidr);
        if (node === self) own.push(c);
      }
      // A static address in a block another host holds is refused (Calico's strict
      // affinity): every host routes that block to its holder, so the sandbox would be
      // unreachable from the others.
      if (wanted) {
        const holder = [...table].find(([cidr, node]) => node !== self && cidrContains(parseCidr(cidr), wanted));
        if (holder) {
          const name = ctx.state.nodeAddresses.get(holder[1])?.name ?? holder[1];
          throw invalid('ADDRESS_IN_OTHER_HOSTS_BLOCK', `address ${wantedText} (${FIELD[family]}) is in block ${holder[0]} of network ${net.name}, which host ${name} holds: a static address must be in one of this host's blocks (${own.map(formatCidr).join(', ') || 'none yet'}), or unset to get one`, FIELD[family]);
        }
      }
      const used = new Set([...ctx.state.usedValues(net.id), ...extra]);
      // ipvlan: the gateway address stays reserved (no sandbox uses it; it marks the endpoint
      // that carries `default dev ethN`, as for a local L3 network), aux addresses too.
      if (!routed) for (const a of [pool.gateway, ...Object.values(pool.auxAddresses ?? {})]) if (a) used.add(parseIp(a).value);
      let addr: IpAddress;
      let block: string | undefined;
      try {
        addr = pickBlockAddress(subnet, own, used, wanted);
      } catch (err) {
        if (wanted || !(err instanceof SwitchyardError) || err.code !== 'BLOCKS_FULL') throw err;
        const next = nextFreeBlock(subnet, blockSize, claimed);
        if (!next) throw new SwitchyardError('unavailable', 'NO_AVAILABLE_ADDRESS', `no available IPv${family} address on network ${net.name}: every block of ${pool.subnet} is claimed by some host`);
        block = formatCidr(next);
        addr = pickBlockAddress(subnet, [next], used);
      }
      extra.add(addr.value);
      const text = formatIp(addr);
      out.claims.push({ networkId: net.id, ip: text, owner: req.endpointId, ...(block ? { block } : {}) });
      if (family === 4) {
        out.ipv4 = `${text}/${routed ? 32 : subnet.prefix}`;
        const gw = routed ? GATEWAY[4] : pool.gateway;
        if (gw) out.gateway = gw;
      } else {
        out.ipv6 = `${text}/${routed ? 128 : subnet.prefix}`;
        const gw = routed ? GATEWAY[6] : pool.gateway;
        if (gw) out.ipv6Gateway = gw;
      }
    }
    req.extraUsed.set(net.id, extra);
    return out;
  },
};

/** The ipam an endpoint of `net` uses when the caller did not choose one. */
export function ipamFor(net: NetworkRecord, fallback: Ipam): Ipam {
  return usesBlocks(net) ? routedIpam : fallback;
}

/** The other hosts' blocks of `net` that this host can route to (their node address known, same family). */
export function remoteBlocksOf(ctx: EngineContext, net: NetworkRecord): RemoteBlock[] {
  const self = ctx.state.shared?.nodeId;
  const out: RemoteBlock[] = [];
  for (const [cidr, node] of ctx.state.blocks.of(net.id)) {
    if (node === self) continue;
    // A down node (its lease expired, or its daemon left): its routes go within the lease TTL.
    if (!ctx.state.aliveNodes.has(node)) continue;
    const known = ctx.state.nodeAddresses.get(node);
    // An IPv6 block goes via the node's IPv6 data-path address (its second --data-path-addr); none: not routed.
    const addr = known && dataPathAddressOf(known, cidr.includes(':') ? 6 : 4);
    if (!addr) continue;
    if (!net.pools.some((p) => cidrContainsCidr(parseCidr(p.subnet), parseCidr(cidr)))) continue;
    out.push({ nodeId: node, nodeAddress: addr, cidr });
  }
  return out;
}

/** A routed network's host is a router: forwarding on in the daemon's namespace (as for a bridge: `--ip-forward`, the not-a-router guard). */
export function routedForwarding(ctx: EngineContext, net: NetworkRecord): void {
  if (net.driver !== 'routed') return;
  if (net.pools.some((p) => p.subnet.includes(':'))) ctx.host.ensureForwarding(6);
  if (net.pools.some((p) => !p.subnet.includes(':'))) ctx.host.ensureForwarding(4);
}

/** Hands `net`'s remote blocks to its driver when this host takes part in it. */
export function syncRoutedBlocks(ctx: EngineContext, net: NetworkRecord): void {
  if (!usesBlocks(net) || !ctx.state.participating.has(net.id)) return;
  const driver = driverOf(ctx, net);
  if (!driver.syncRemoteBlocks) return;
  try {
    driver.syncRemoteBlocks(net, remoteBlocksOf(ctx, net));
  } catch (err) {
    ctx.log(`routed: syncRemoteBlocks on ${net.name}: ${String(err)}`);
  }
}

/** Every routed network this host takes part in (nodes changed, full resync). */
export function syncAllRoutedBlocks(ctx: EngineContext, only?: Iterable<string>): void {
  const ids = only ? new Set(only) : ctx.state.participating;
  for (const id of ids) {
    const net = ctx.state.networks.get(id);
    if (net) syncRoutedBlocks(ctx, net);
  }
}

/** This host's blocks of every network (the BIRD configuration's input). */
export function ownBlocks(ctx: EngineContext): string[] {
  const self = ctx.state.shared?.nodeId;
  if (!self) return [];
  return ctx.state.blocks.networks().flatMap((id) => ctx.state.blocks.ownedBy(id, self));
}

/**
 * Deletes this host's empty blocks of `netId` (no address of the network in use inside),
 * under the network's lock so that no attach picks an address in a block being released.
 */
export async function releaseEmptyBlocks(ctx: EngineContext, netId: string): Promise<string[]> {
  const self = ctx.state.shared?.nodeId;
  const store: Store | undefined = ctx.state.shared?.store;
  if (!self || !store) return [];
  return ctx.locks.withLocks([`net:${netId}`], async () => {
    const used = ctx.state.usedValues(netId);
    const empty = ctx.state.blocks.ownedBy(netId, self).filter((cidr) => {
      const b = parseCidr(cidr);
      for (const v of used) if (cidrContains(b, { family: b.family, value: v })) return false;
      return true;
    });
    const released: string[] = [];
    for (const cidr of empty) {
      const key = blockClaimKey(netId, cidr);
      const res = await store.txn({ compare: [{ key, target: 'value', op: '=', value: self }], success: [{ type: 'delete', key }] });
      ctx.state.blocks.unset(netId, cidr);
      if (res.succeeded) released.push(cidr);
    }
    if (released.length) ctx.log(`routed: released ${released.join(', ')} of network ${ctx.state.networks.get(netId)?.name ?? netId}`);
    return released;
  });
}

/** After a commit that released addresses of routed networks: their empty blocks go (in the background). */
export function scheduleBlockRelease(ctx: EngineContext, netIds: readonly string[]): void {
  for (const id of new Set(netIds)) {
    const net = ctx.state.networks.get(id);
    if (!net || !usesBlocks(net)) continue;
    setImmediate(() => void releaseEmptyBlocks(ctx, id).catch((err) => ctx.log(`routed: releasing blocks of ${net.name}: ${String(err)}`)));
  }
}

/** `network inspect`'s view: block → the name of the node holding it (or its id). */
export function blocksView(ctx: EngineContext, netId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [cidr, node] of ctx.state.blocks.of(netId)) out[cidr] = ctx.state.nodeAddresses.get(node)?.name ?? node;
  return out;
}
