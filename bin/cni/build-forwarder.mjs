#!/usr/bin/env node
// Builds bin/cni/switchyard, the CNI plugin runtimes exec (docs/frontends/cni.md): the C
// forwarder bin/cni/forward.c (libc only; its HTTP part is native/forward-http.h, shared with
// libexec/netavark.c) compiled with the system's cc. Without a C compiler it writes a sh
// launcher of the Node plugin (bin/cni/switchyard-node) instead and says so: same answers,
// Node's start-up on every call. Run by `npm run build`.
//   node bin/cni/build-forwarder.mjs [OUT]        (default bin/cni/switchyard)
import { execFileSync } from 'node:child_process';
import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, 'switchyard'));
const tmp = `${out}.tmp-${process.pid}`;
const cc = process.env['CC'] || 'cc';
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-I', join(here, '..', '..', 'native'), '-o', tmp, join(here, 'forward.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  rmSync(tmp, { force: true });
  process.stderr.write(`build-forwarder: ${cc} failed (${err.code ?? err.status}); ${out} runs the Node plugin instead (slower start-up)\n`);
  writeFileSync(tmp, `#!/bin/sh\n# Written by bin/cni/build-forwarder.mjs without a C compiler: the Node plugin.\np=$0; [ -L "$p" ] && p=$(readlink -f -- "$p")\nexec node "\${p%/*}/switchyard-node"\n`);
}
chmodSync(tmp, 0o755);
renameSync(tmp, out); // atomic: a runtime exec'ing the plugin meanwhile sees the old or the new file
