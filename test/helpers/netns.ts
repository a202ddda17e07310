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
  return { name, path: `${NETNS_DIR}/${name}` };
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

/**
 * Leak check for the end of a test: the machine's own namespace has no `sy*` links
 * and no switchyard nftables table, and none of the given namespaces remain.
 */
export function assertNoLeaks(created: string[] = []): void {
  const problems: string[] = [];
  const mainLinks = linksIn(null).filter((l) => /^sy/.test(l));
  if (mainLinks.length) problems.push(`links in the main namespace: ${mainLinks.join(', ')}`);
  const present = new Set(listTestNs());
  const left = created.filter((n) => present.has(n));
  if (left.length) problems.push(`namespaces left: ${left.join(', ')}`);
  if (problems.length) throw new Error(`leak check failed: ${problems.join('; ')}`);
}

/** Moved to ./wait.ts (no kernel needed); re-exported so existing imports keep working. */
export { waitFor } from './wait.js';
