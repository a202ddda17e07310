#!/usr/bin/env node
// Builds libexec/netavark, the netavark drop-in Podman execs (docs/frontends/netavark.md): the
// C forwarder libexec/netavark.c (libc only; its HTTP part is native/forward-http.h, shared
// with bin/cni/forward.c) compiled with the system's cc. Without a C compiler it installs the
// sh + curl forwarder libexec/netavark.sh instead and says so (same answers, slower start-up).
// Run by `npm run build`.
//   node libexec/build.mjs [OUT]        (default libexec/netavark)
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, 'netavark'));
const tmp = `${out}.tmp-${process.pid}`;
const cc = process.env['CC'] || 'cc';
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-I', join(here, '..', 'native'), '-o', tmp, join(here, 'netavark.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  rmSync(tmp, { force: true });
  process.stderr.write(`libexec/build.mjs: ${cc} failed (${err.code ?? err.status}); ${out} is the sh + curl forwarder instead (slower start-up)\n`);
  copyFileSync(join(here, 'netavark.sh'), tmp);
}
chmodSync(tmp, 0o755);
renameSync(tmp, out); // atomic: Podman exec'ing it meanwhile sees the old or the new file
