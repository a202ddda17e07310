/**
 * Reading back what the kernel holds (nft's JSON listing), to find Switchyard's table, the
 * bridges it has rules for and the subnets it guards per bridge. Pure: the listings are
 * passed in.
 */
import { FAMILY, NAMES, TABLE } from './ruleset/names.js';

export interface NftListing {
  nftables: Array<Record<string, unknown>>;
}

interface Named {
  family?: string;
  table?: string;
  name?: string;
  elem?: unknown[];
}

function objects(listing: NftListing, kind: string): Named[] {
  return listing.nftables.map((o) => o[kind] as Named | undefined).filter((o): o is Named => o !== undefined);
}

function ours(o: Named): boolean {
  return o.family === FAMILY && o.table === TABLE;
}

/** True when a `list tables` listing contains our table of that family (default `inet`). */
export function hasTable(tables: NftListing, family: string = FAMILY): boolean {
  return objects(tables, 'table').some((t) => t.family === family && t.name === TABLE);
}

const PER_NETWORK_CHAIN = /^post-(.+)$/;
const MEMBERSHIP = new Set<string>([NAMES.bridges, NAMES.icc, NAMES.internal, NAMES.postroutingOut]);
const SUBNET_BRIDGE = new Set<string>([NAMES.subnetBridge4, NAMES.subnetBridge6]);

/**
 * Every bridge the table mentions: members of the bridge sets, keys of the masquerade
 * vmap, bridges of the direct-routing sets, and names of per-network chains (so a chain
 * orphaned by hand is found too). `listings` are `list chains inet` and `list set|map` of
 * those sets.
 */
export function bridgesIn(listings: NftListing[]): Set<string> {
  const found = new Set<string>();
  for (const listing of listings) {
    for (const chain of objects(listing, 'chain')) {
      const m = ours(chain) && chain.name ? PER_NETWORK_CHAIN.exec(chain.name) : null;
      if (m) found.add(m[1]!);
    }
    for (const kind of ['set', 'map']) {
      for (const o of objects(listing, kind)) {
        if (!ours(o) || !o.name || !MEMBERSHIP.has(o.name)) continue;
        for (const e of o.elem ?? []) {
          const key = Array.isArray(e) ? e[0] : e;
          if (typeof key === 'string') found.add(key);
        }
      }
    }
  }
  for (const bridge of subnetsByBridge(listings).keys()) found.add(bridge);
  return found;
}

/**
 * bridge → the subnets the direct-routing sets hold for it (`list set` of subnet-bridge4/6).
 * An element is `{ concat: [ { prefix: { addr, len } } | "addr", "ifname" ] }`.
 */
export function subnetsByBridge(listings: NftListing[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const listing of listings) {
    for (const o of objects(listing, 'set')) {
      if (!ours(o) || !o.name || !SUBNET_BRIDGE.has(o.name)) continue;
      const bits = o.name === NAMES.subnetBridge4 ? 32 : 128;
      for (const e of o.elem ?? []) {
        const parts = (e as { concat?: unknown[] }).concat;
        if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[1] !== 'string') continue;
        const [key, bridge] = parts as [unknown, string];
        const prefix = (key as { prefix?: { addr?: unknown; len?: unknown } }).prefix;
        const subnet = typeof key === 'string' ? `${key}/${bits}` : prefix && typeof prefix.addr === 'string' ? `${prefix.addr}/${String(prefix.len)}` : undefined;
        if (subnet) out.set(bridge, [...(out.get(bridge) ?? []), subnet]);
      }
    }
  }
  return out;
}
