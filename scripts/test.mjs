#!/usr/bin/env node
// Runs the compiled test files in one node:test run, so the summary at the end covers all
// of them. Build first (`npm run build`).
//
//   node scripts/test.mjs [--unit | --kernel] [SUBSTRING…]
//
// --unit    dist/test/unit only: pure logic and the store, runs as any user (npm run test:unit)
// --kernel  integration, e2e, security and reliability: they create network namespaces,
//           devices and nftables tables, so they need root (npm run test:kernel)
// neither   every group, unit first (npm test)
// SUBSTRING keeps only the files whose path contains one of them, e.g. `unit/model-filters e2e/dns`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const UNIT = ['dist/test/unit'];
const KERNEL = ['dist/test/integration', 'dist/test/e2e', 'dist/test/security', 'dist/test/reliability'];

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const kernelOnly = args.includes('--kernel');
if (unitOnly && kernelOnly) {
  console.error('scripts/test.mjs: --unit and --kernel exclude each other (give neither to run both)');
  process.exit(2);
}
const only = args.filter((a) => a !== '--unit' && a !== '--kernel');
const groups = unitOnly ? UNIT : kernelOnly ? KERNEL : [...UNIT, ...KERNEL];

const files = [];
let needsRoot = false;
for (const dir of groups) {
  let entries = [];
  try {
    entries = readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort();
  } catch {
    continue;
  }
  for (const f of entries) {
    const p = join(dir, f);
    if (only.length && !only.some((o) => p.includes(o))) continue;
    if (!statSync(p).isFile()) continue;
    // tsc never deletes output: a test moved or removed in test/ leaves its old .js behind.
    const source = join(dir.replace(/^dist\//, ''), f.replace(/\.js$/, '.ts'));
    if (!existsSync(source)) {
      console.error(`scripts/test.mjs: skipping ${p}: ${source} no longer exists (stale build output)`);
      continue;
    }
    files.push(p);
    if (KERNEL.includes(dir)) needsRoot = true;
  }
}
if (!files.length) {
  console.error(`scripts/test.mjs: no test file matches (${groups.join(', ')}${only.length ? `; filter: ${only.join(' ')}` : ''}); did you build?`);
  process.exit(2);
}
if (needsRoot && process.getuid?.() !== 0) {
  console.error('switchyard kernel tests run as root: they create network namespaces and devices.');
  console.error('As another user, run the unit tests only: npm run test:unit (node scripts/test.mjs --unit).');
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
