#!/usr/bin/env node
// The VM lane: runs the compiled test/vm/*.test.ts files (link kinds this machine's kernel
// lacks: ipvlan, 802.1q, dummy) inside ONE boot of Debian 12's stock kernel under QEMU, via
// ../shared/kernel-vm/kernel-vm.sh (beside the clone; its README explains the VM). Builds
// nothing: run `npm run build` first (`npm run test:vm` does). Needs root.
//
// Fails when the VM fails or times out, when any test fails, when no test ran, and when a
// test skipped inside the VM (a skip there means the lane proved nothing).
//
// Environment: SWY_VM_TIMEOUT (seconds, default 900) bounds the VM run; SWY_KERNEL_VM
// overrides the path of kernel-vm.sh. Usage: node scripts/test-vm.mjs [SUBSTRING…]
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = resolve(new URL('..', import.meta.url).pathname);
const kvm = process.env.SWY_KERNEL_VM ?? resolve(root, '../shared/kernel-vm/kernel-vm.sh');
const timeout = Number(process.env.SWY_VM_TIMEOUT ?? 900);
const dir = join(root, 'dist/test/vm');
const only = process.argv.slice(2);

function fail(msg) {
  console.error(`test-vm: ${msg}`);
  process.exit(1);
}

if (process.getuid?.() !== 0) fail('runs as root (kernel-vm.sh boots QEMU and the tests create namespaces)');
if (!existsSync(kvm)) fail(`${kvm} not found: the lane needs shared/kernel-vm/ beside the clone`);
if (!Number.isInteger(timeout) || timeout <= 0) fail(`SWY_VM_TIMEOUT=${process.env.SWY_VM_TIMEOUT} is not a whole number of seconds`);
const files = existsSync(dir)
  ? readdirSync(dir).filter((f) => f.endsWith('.test.js') && (!only.length || only.some((o) => f.includes(o)))).sort().map((f) => `dist/test/vm/${f}`)
  : [];
if (!files.length) fail(`no compiled VM tests in ${dir}${only.length ? ` matching ${only.join(' ')}` : ''}: run \`npm run build\` first`);

// One-time preparation (packages, the kernel from Debian's mirror, the initramfs) is a no-op
// once cached; it runs apart so the lane's time below is boot + tests only.
const prep = spawnSync(kvm, ['--prepare'], { stdio: 'inherit' });
if (prep.status !== 0) fail(`kernel-vm.sh --prepare failed (${prep.status ?? prep.signal})`);

const started = Date.now();
const args = ['--timeout', String(timeout), '--timing', '-C', root, '--',
  process.execPath, '--test', '--test-concurrency=1', '--test-reporter=tap', ...files];
const child = spawn(kvm, args, { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (b) => {
  out += b;
  process.stdout.write(b);
});
const code = await new Promise((res) => child.on('close', (c, sig) => res(c ?? (sig ? 128 : 1))));
const wall = ((Date.now() - started) / 1000).toFixed(1);

const count = (name) => {
  const m = out.match(new RegExp(`^# ${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
};
const [pass, failed, skipped, cancelled] = ['pass', 'fail', 'skipped', 'cancelled'].map(count);
const summary = `${pass ?? '?'} passed, ${failed ?? '?'} failed, ${skipped ?? '?'} skipped, ${cancelled ?? '?'} cancelled; VM lane wall time ${wall} s (boot + tests)`;
console.log(`test-vm: ${summary}`);
if (code === 124) fail(`the VM run hit the ${timeout} s timeout`);
if (code === 125) fail('the VM failed before the tests finished (kernel-vm.sh printed the last console lines)');
if (code !== 0) fail(`the tests exited ${code}`);
if (pass === undefined) fail('no node:test summary in the output');
if (skipped) fail(`${skipped} test(s) skipped inside the VM: the lane must run every one`);
if (failed || cancelled) fail('tests failed');
if (!pass) fail('no test passed');
