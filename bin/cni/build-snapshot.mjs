#!/usr/bin/env node
// Builds a V8 start-up snapshot of the CNI plugin (Node 20's user-land snapshot): compiles
// src/frontends/cni to CommonJS, packs the modules into one script (a snapshot's entry may
// only require built-ins), runs `node --snapshot-blob BLOB --build-snapshot ENTRY`, and
// writes a launcher that runs `node --snapshot-blob BLOB` (and, for comparison, the pack as a
// plain CommonJS script, switchyard-bundle.cjs). Usage, from the checkout:
//   node bin/cni/build-snapshot.mjs [OUTDIR]      (default dist/cni; prints the launcher path)
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = resolve(process.argv[2] ?? join(repo, 'dist', 'cni'));
const cjs = join(out, 'cjs');
rmSync(cjs, { recursive: true, force: true });
mkdirSync(cjs, { recursive: true });
execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), [
  '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'ES2022', '--strict', '--skipLibCheck',
  '--types', 'node', '--outDir', cjs, '--rootDir', join(repo, 'src'), join(repo, 'src', 'frontends', 'cni', 'main.ts'),
], { stdio: 'inherit' });

const files = [];
const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.js') && files.push(join(d, e.name)); };
walk(cjs);
const mods = files.map((f) => `${JSON.stringify(relative(cjs, f))}: function (exports, require, module) {\n${readFileSync(f, 'utf8')}\n}`).join(',\n');
const entry = `'use strict';
const path = require('node:path');
const defs = {\n${mods}\n};
const cache = {};
function load(id) {
  if (cache[id]) return cache[id].exports;
  const module = { exports: {} };
  cache[id] = module;
  defs[id](module.exports, (spec) => spec.startsWith('.') ? load(path.posix.normalize(path.posix.join(path.posix.dirname(id), spec)).replace(/(\\.js)?$/, '.js')) : require(spec), module);
  return module.exports;
}
const main = load('frontends/cni/main.js');
`;
// The same pack without a snapshot (a single CommonJS file, no ES module loader): for comparison.
writeFileSync(join(out, 'switchyard-bundle.cjs'), `#!/usr/bin/env node\n${entry}main.runPlugin();\n`);
chmodSync(join(out, 'switchyard-bundle.cjs'), 0o755);
const entryPath = join(out, 'snapshot-entry.cjs');
const blob = join(out, 'switchyard.blob');
writeFileSync(entryPath, `${entry}require('node:v8').startupSnapshot.setDeserializeMainFunction(() => { main.runPlugin(); });\n`);
execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entryPath], { stdio: 'inherit' });
const launcher = join(out, 'switchyard');
writeFileSync(launcher, `#!/usr/bin/env -S ${process.execPath} --snapshot-blob ${blob}\n`);
chmodSync(launcher, 0o755);
console.log(launcher);
