#!/usr/bin/env node
// Runs every test file (unit, then kernel integration, then end to end) in one node:test
// run, so the summary at the end covers all of them. Kernel tests need root.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const groups = ['dist/test/unit', 'dist/test/integration', 'dist/test/e2e', 'dist/test/security', 'dist/test/reliability'];
const only = process.argv.slice(2);
const files = [];
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
    if (statSync(p).isFile()) files.push(p);
  }
}
if (process.getuid?.() !== 0) {
  console.error('switchyard tests run as root: they create network namespaces and devices');
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
