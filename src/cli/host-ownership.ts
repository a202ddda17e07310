/**
 * Which objects on a host Switchyard can prove it made, for `switchyard system reset`.
 * Pure: the effects (listing links, deleting them) live in system-reset.ts.
 *
 * A link is Switchyard's when
 * - its alias (IFLA_IFALIAS) starts with `switchyard:` (the daemon marks every link it
 *   creates so), or
 * - it sits in Switchyard's device group (drivers/graveyard.ts: links waiting for deletion), or
 * - legacy, for links made before the alias mark existed: it is named `sy0`, `sy-*` or
 *   `syv*`, carries NO alias, and is a bridge or a veth. A user's `sy-uplink` that is a
 *   physical device, a dummy, a vlan…, or that carries any alias of its own, is never taken.
 */
import { GRAVEYARD_GROUP } from '../drivers/graveyard.js';

export const LINK_ALIAS_PREFIX = 'switchyard:';

/** Switchyard's nftables tables, as `nft list tables` names them. */
export const SWITCHYARD_TABLES = [
  { family: 'inet', name: 'switchyard' },
  { family: 'bridge', name: 'switchyard' },
  { family: 'inet', name: 'switchyard-routed' },
  // Encrypted overlays' marks and cleartext drops (drivers/overlay-crypto-plan.ts NFT_TABLE).
  { family: 'inet', name: 'switchyard_esp' },
] as const;

export interface HostLink {
  name: string;
  /** IFLA_IFALIAS; undefined or '' when none. */
  alias?: string | undefined;
  /** IFLA_GROUP. */
  group?: number | undefined;
  /** IFLA_INFO_KIND (bridge, veth, …); undefined for physical devices. */
  kind?: string | undefined;
}

export type LinkOwnership = 'alias' | 'graveyard' | 'legacy-name' | undefined;

export function switchyardLinkReason(link: HostLink): LinkOwnership {
  if (link.alias?.startsWith(LINK_ALIAS_PREFIX)) return 'alias';
  if (link.group === GRAVEYARD_GROUP) return 'graveyard';
  const legacyName = link.name === 'sy0' || link.name.startsWith('sy-') || link.name.startsWith('syv');
  if (legacyName && !link.alias && (link.kind === 'bridge' || link.kind === 'veth')) return 'legacy-name';
  return undefined;
}

/**
 * Mount points to detach, deepest first, among `/proc/self/mountinfo` lines: those at or
 * under one of the roots.
 */
export function mountsUnder(mountinfo: string, roots: readonly string[]): string[] {
  const found = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const point = unescapeMountPath(fields[4]!);
    if (roots.some((r) => point === r || point.startsWith(r.endsWith('/') ? r : `${r}/`))) found.add(point);
  }
  return [...found].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}
