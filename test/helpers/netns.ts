/**
 * Throwaway network namespaces for integration tests. Every test works inside a
 * "host" namespace of its own (never the machine's), named with the `swy-` prefix
 * so a leak is easy to spot and never collides with anything else on the machine.
 *
 * These helpers may spawn `ip`: tests are not on the hot path.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

export const NETNS_DIR = '/run/netns';

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 30_000 });
  if (!opts.allowFail && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  }
  return r;
}

/** Runs a command inside the named netns (as `ip netns exec` does). */
export function inNs(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return sh('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', cmd, ...args], opts);
}

export interface TestNs {
  name: string;
  path: string;
}

/** A fresh named netns with loopback up. `tag` should be short ([a-z0-9], ≤ 6 chars). */
export function makeNs(tag: string): TestNs {
  const name = `swy-${tag}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  // A new namespace inherits IPv4 forwarding from the machine's (net.core.devconf_inherit_init_net
  // = 0), which a Switchyard daemon running on the host (the README's first line) has turned on.
  // Tests start from a pristine host: forwarding off, as on a fresh machine.
  if (hostForwards()) sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  return { name, path: `${NETNS_DIR}/${name}` };
}

function hostForwards(): boolean {
  return fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
}

export function removeNs(ns: TestNs | string): void {
  const name = typeof ns === 'string' ? ns : ns.name;
  sh('ip', ['netns', 'del', name], { allowFail: true });
}

/** Names of swy-* namespaces currently present (for leak checks). */
export function listTestNs(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR).filter((n) => n.startsWith('swy-'));
  } catch {
    return [];
  }
}

/** Links of a namespace, as `ip -o link` names (without @peer). */
export function linksIn(ns: string | null): string[] {
  const args = ns ? ['-n', ns, '-o', 'link'] : ['-o', 'link'];
  const out = sh('ip', args).stdout;
  return out.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
}

/** Switchyard's nftables tables (the firewall, the bridge-family anti-spoofing, the routed driver's, encrypted overlays' ESP marks). */
export const SWITCHYARD_TABLES = ['inet switchyard', 'bridge switchyard', 'inet switchyard-routed', 'inet switchyard_esp'] as const;

/** The Switchyard nftables tables present in a namespace (null: the machine's own). */
export function switchyardTablesIn(ns: string | null): string[] {
  const r = ns ? inNs(ns, 'nft', ['list', 'tables'], { allowFail: true }) : sh('nft', ['list', 'tables'], { allowFail: true });
  const tables = new Set(r.stdout.split('\n').map((l) => l.replace(/^table /, '').trim()));
  return SWITCHYARD_TABLES.filter((t) => tables.has(t));
}

/** What Switchyard-looking objects the machine's own namespace holds: `sy*` links and the tables. */
export interface MainNsSnapshot {
  links: Set<string>;
  tables: Set<string>;
}

export function snapshotMainNs(): MainNsSnapshot {
  return { links: new Set(linksIn(null).filter((l) => /^sy/.test(l))), tables: new Set(switchyardTablesIn(null)) };
}

/**
 * The machine's namespace as this test process found it. A Switchyard daemon running on
 * the host (the README's first line starts one: it owns `sy0` and both tables) is part of
 * this baseline and is never reported: only what appeared since counts as a leak.
 */
const MAIN_BASELINE: MainNsSnapshot = snapshotMainNs();

/** A namespace the test keeps (e.g. a daemon's host kept for a restart): its contents are checked. */
export interface KeptNs {
  ns: string;
  keep: true;
}

/**
 * Leak check for the end of a test, scoped to what the test made:
 * - each namespace name given must be gone;
 * - each `{ ns, keep: true }` given must hold no `sy*` link and neither Switchyard nftables table;
 * - the machine's own namespace holds no `sy*` link and no Switchyard table that it did not
 *   hold when this test process started (see MAIN_BASELINE).
 */
export function assertNoLeaks(created: Array<string | KeptNs> = [], baseline: MainNsSnapshot = MAIN_BASELINE): void {
  const problems: string[] = [];
  const now = snapshotMainNs();
  const newLinks = [...now.links].filter((l) => !baseline.links.has(l));
  if (newLinks.length) problems.push(`links in the main namespace: ${newLinks.join(', ')}`);
  const newTables = [...now.tables].filter((t) => !baseline.tables.has(t));
  if (newTables.length) problems.push(`nftables tables in the main namespace: ${newTables.join(', ')}`);
  const present = new Set(listTestNs());
  const gone = created.filter((n): n is string => typeof n === 'string');
  const left = gone.filter((n) => present.has(n));
  if (left.length) problems.push(`namespaces left: ${left.join(', ')}`);
  for (const k of created.filter((n): n is KeptNs => typeof n !== 'string')) {
    if (!present.has(k.ns) && !fs.existsSync(`${NETNS_DIR}/${k.ns}`)) continue;
    const links = linksIn(k.ns).filter((l) => /^sy/.test(l));
    if (links.length) problems.push(`links in ${k.ns}: ${links.join(', ')}`);
    const tables = switchyardTablesIn(k.ns);
    if (tables.length) problems.push(`nftables tables in ${k.ns}: ${tables.join(', ')}`);
  }
  if (problems.length) throw new Error(`leak check failed: ${problems.join('; ')}`);
}

/** Moved to ./wait.ts (no kernel needed); re-exported so existing imports keep working. */
export { waitFor } from './wait.js';
