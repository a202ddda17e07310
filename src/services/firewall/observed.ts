/**
 * Reading back what the kernel holds (nft's JSON listing), to find Switchyard's table and
 * the bridges it has rules for. Pure: the listings are passed in.
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
const MEMBERSHIP = new Set<string>([NAMES.bridges, NAMES.icc, NAMES.internal, NAMES.noDirect, NAMES.postroutingOut]);

/**
 * Every bridge the table mentions: members of the bridge sets, keys of the masquerade
 * vmap, and names of per-network chains (so a chain
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
  return found;
}
