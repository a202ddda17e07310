/**
 * openFileLimit (kernel/libc.ts): the soft RLIMIT_NOFILE, as the kernel reports it in
 * /proc/self/limits, also in a child started with a lowered hard limit (the daemon warns
 * below 8,192: it holds several fds per sandbox).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openFileLimit } from '../../src/kernel/libc.js';

const LIBC = fileURLToPath(new URL('../../src/kernel/libc.js', import.meta.url));
const softOf = (limits: string): number => Number(limits.split('\n').find((l) => l.startsWith('Max open files'))!.split(/\s+/)[3]);

test('openFileLimit is the soft limit the kernel reports, here and in a child with a hard limit of 300', () => {
  assert.equal(openFileLimit(), softOf(fs.readFileSync('/proc/self/limits', 'utf8')));
  const r = spawnSync('sh', ['-c', `ulimit -n 300 && exec "${process.execPath}" --input-type=module -e 'const m = await import(${JSON.stringify(LIBC)}); console.log(m.openFileLimit())'`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(Number(r.stdout.trim()), 300);
});
