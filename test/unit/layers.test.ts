/**
 * The layer rule of docs/ARCHITECTURE.md, enforced: every relative import in src/**.ts is
 * mapped to its layer, and the test fails on (a) an upward edge (a layer importing one
 * below it in the table, type-only or not), (b) a value import from engine/ into drivers/,
 * services/, store/ or kernel/ (the engine takes only types from them; values only from
 * model/ and errors), (c) cli/ or api/client.ts importing engine/ at all (they speak the
 * wire types). Each breach is printed as file:line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const RANKS: [prefix: string, rank: number][] = [
  ['src/errors.ts', 1], ['src/model/', 2], ['src/kernel/', 3], ['src/drivers/', 4], ['src/services/', 4],
  ['src/store/', 5], ['src/engine/', 6], ['src/api/', 7], ['src/cli/', 7], ['src/daemon/', 7], ['src/frontends/', 7],
];
const ENGINE_TYPES_ONLY = ['src/drivers/', 'src/services/', 'src/store/', 'src/kernel/'];

/**
 * Known breaches, as `from -> to` (any line), each with its reason. An entry that no longer
 * occurs fails the test too, so the list only shrinks. The ones issue 10's architecture
 * review listed were all removed by the core reshape; none is left.
 */
const ALLOWED: Record<string, string> = {};

interface Edge { from: string; line: number; to: string; typeOnly: boolean }

const rankOf = (file: string) => RANKS.find(([p]) => file === p || (p.endsWith('/') && file.startsWith(p)))?.[1];
const IMPORT = /^[ \t]*(?:import|export)\s+(type\s+)?(?:(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)\s+from\s+)?['"](\.[^'"]+)['"]|\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/gm;

/** The relative imports of each file (path → source), resolved to src/… .ts paths. */
export function edgesOf(files: Map<string, string>): Edge[] {
  const edges: Edge[] = [];
  for (const [from, text] of files) {
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[3] ?? m[4]!;
      const names = m[2]?.startsWith('{') ? m[2].slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean) : [];
      const typeOnly = !!m[1] || (names.length > 0 && names.every((n) => n.startsWith('type ')));
      const to = posix.join(posix.dirname(from), spec).replace(/\.js$/, '.ts');
      edges.push({ from, line: text.slice(0, m.index).split('\n').length, to, typeOnly });
    }
  }
  return edges;
}

/** Breaches not on the allow-list (as `file:line: …`), and allow-list entries that match nothing. */
export function checkLayers(files: Map<string, string>, allowed: Record<string, string>): { breaches: string[]; stale: string[] } {
  const breaches: string[] = [];
  const used = new Set<string>();
  for (const e of edgesOf(files)) {
    const [rf, rt] = [rankOf(e.from), rankOf(e.to)];
    const why =
      rf === undefined || rt === undefined ? `unmapped layer: add ${rf === undefined ? e.from : e.to} to RANKS`
      : rt > rf ? `upward edge, layer ${rf} imports layer ${rt}${e.typeOnly ? ' (type-only)' : ''}`
      : e.from.startsWith('src/engine/') && !e.typeOnly && ENGINE_TYPES_ONLY.some((p) => e.to.startsWith(p)) ? 'value import from the engine into a lower layer: import types only'
      : (e.from.startsWith('src/cli/') || e.from === 'src/api/client.ts') && e.to.startsWith('src/engine/') ? 'the CLI and the client do not import the engine'
      : undefined;
    if (!why) continue;
    const key = `${e.from} -> ${e.to}`;
    if (key in allowed) used.add(key);
    else breaches.push(`${e.from}:${e.line}: imports ${e.to}: ${why}`);
  }
  return { breaches, stale: Object.keys(allowed).filter((k) => !used.has(k)) };
}

/** Every .ts file under `dir` of the repository at `root`, keyed by its repository path. */
function sourcesUnder(root: string, dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const ent of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = posix.join(dir, ent.name);
    if (ent.isDirectory()) sourcesUnder(root, p, out);
    else if (ent.name.endsWith('.ts')) out.set(p, readFileSync(join(root, p), 'utf8'));
  }
  return out;
}

test('src/ imports follow the layers (docs/ARCHITECTURE.md)', (t) => {
  // Compiled to dist/test/unit/: the repository root is three levels up.
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
  const { breaches, stale } = checkLayers(sourcesUnder(root, 'src'), ALLOWED);
  for (const b of breaches) t.diagnostic(b);
  assert.deepEqual(breaches, [], `imports that break the layer rule:\n${breaches.join('\n')}`);
  assert.deepEqual(stale, [], `allow-list entries that no longer occur (remove them from ALLOWED):\n${stale.join('\n')}`);
});

test('the checker reports each breach as file:line, honours the allow-list and flags stale entries', () => {
  const files = new Map([
    ['src/model/ip.ts', "import { invalid } from '../errors.js';\n"],
    ['src/drivers/x.ts', "import type { Rec } from '../model/ip.js';\n\nimport type {\n  Ctx,\n} from '../engine/context.js';\n"],
    ['src/engine/ops.ts', "import type { Driver } from '../drivers/x.js';\nimport { type A, type B } from '../store/contract.js';\nimport { MAX } from '../drivers/x.js';\n"],
    ['src/engine/run.ts', "const p = await import('../kernel/proc.js');\n"],
    ['src/cli/main.ts', "import type { Wire } from '../engine/types.js';\nexport { x } from '../model/ip.js';\n"],
    ['src/api/client.ts', "import { y } from '../engine/types.js';\n"],
    ['src/tools/misc.ts', "import '../model/ip.js';\n"],
  ]);
  const allowed = { 'src/api/client.ts -> src/engine/types.ts': 'fixture', 'src/model/ip.ts -> src/engine/gone.ts': 'fixture' };
  assert.deepEqual(checkLayers(files, allowed), {
    breaches: [
      'src/drivers/x.ts:3: imports src/engine/context.ts: upward edge, layer 4 imports layer 6 (type-only)',
      'src/engine/ops.ts:3: imports src/drivers/x.ts: value import from the engine into a lower layer: import types only',
      'src/engine/run.ts:1: imports src/kernel/proc.ts: value import from the engine into a lower layer: import types only',
      'src/cli/main.ts:1: imports src/engine/types.ts: the CLI and the client do not import the engine',
      'src/tools/misc.ts:1: imports src/model/ip.ts: unmapped layer: add src/tools/misc.ts to RANKS',
    ],
    stale: ['src/model/ip.ts -> src/engine/gone.ts'],
  });
});
