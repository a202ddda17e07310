/**
 * The start-up-snapshot build of the CNI plugin (bin/cni/build-snapshot.mjs), and its one-file
 * CommonJS pack, answer exactly as the plain entry (bin/cni/switchyard) does: VERSION, an error, and an ADD through a
 * stand-in daemon, byte for byte.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/daemon.js';
import { startStandIn, type StandIn } from '../helpers/cni-stand-in-daemon.js';
import { FakeBackend } from '../helpers/cni-fake-backend.js';

let dir: string;
let launcher: string;
let standIn: StandIn;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swy-cnisnap-'));
  const b = spawnSync(process.execPath, [join(REPO, 'bin', 'cni', 'build-snapshot.mjs'), join(dir, 'out')], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(b.status, 0, b.stderr);
  launcher = b.stdout.trim().split('\n').pop()!;
  standIn = await startStandIn(join(dir, 'sock'), new FakeBackend({ blue: { prefix24: '10.66.0' } }), ['blue']);
});

after(async () => {
  await standIn?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (bin: string, env: Record<string, string>, stdin: string) =>
  new Promise<{ status: number | null; stdout: string }>((resolve) => {
    // Async: the stand-in daemon answers from this process.
    const p = execFile(bin, [], { env: { PATH: process.env['PATH'] ?? '', ...env } }, (err, stdout) => resolve({ status: err ? (err as { code?: number }).code ?? 1 : 0, stdout }));
    p.stdin!.end(stdin);
  });

test('snapshot launcher, one-file bundle and plain entry give the same answers', async () => {
  const conf = (extra = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'switchyard', network: 'blue', host: join(dir, 'sock'), ...extra });
  const base = { CNI_CONTAINERID: 'snap1', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/x' };
  const cases: [Record<string, string>, string][] = [
    [{ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'],
    [{ ...base, CNI_COMMAND: 'ADD' }, conf({ cniVersion: '0.1.0' })],
    [{ ...base, CNI_COMMAND: 'ADD' }, 'not json'],
    [{ ...base, CNI_COMMAND: 'ADD' }, conf({ host: join(dir, 'nobody.sock') })],
  ];
  for (const [env, stdin] of cases) {
    const [a, b, c] = [await run(join(REPO, 'bin', 'cni', 'switchyard-node'), env, stdin), await run(launcher, env, stdin), await run(join(dir, 'out', 'switchyard-bundle.cjs'), env, stdin)];
    assert.deepEqual(b, a, `snapshot: ${env['CNI_COMMAND']} ${stdin}`);
    assert.deepEqual(c, a, `one-file bundle: ${env['CNI_COMMAND']} ${stdin}`);
  }
  // ADD then DEL through the stand-in daemon: the first via the plain entry, the second via the snapshot.
  const add = await run(join(REPO, 'bin', 'cni', 'switchyard-node'), { ...base, CNI_COMMAND: 'ADD' }, conf());
  assert.equal(add.status, 0, add.stdout);
  const add2 = await run(launcher, { ...base, CNI_CONTAINERID: 'snap2', CNI_COMMAND: 'ADD' }, conf());
  assert.equal(add2.status, 0, add2.stdout);
  assert.deepEqual(Object.keys(JSON.parse(add2.stdout)), Object.keys(JSON.parse(add.stdout)));
  for (const id of ['snap1', 'snap2']) assert.deepEqual(await run(launcher, { ...base, CNI_CONTAINERID: id, CNI_COMMAND: 'DEL' }, conf()), { status: 0, stdout: '' });
  assert.ok(standIn.requests.some((r) => r.startsWith('DELETE /attachments?')));
});
