/**
 * The plugin runtimes exec (bin/cni/switchyard: the C forwarder bin/cni/forward.c, the protocol
 * layer in the daemon's POST /cni) answers as the Node plugin (bin/cni/switchyard-node, the
 * protocol layer in its own process) does, call for call: the same stdout and exit code for
 * VERSION, errors and DEL, the same result for ADD, and error 11 when the daemon is unreachable.
 * Both go to one stand-in daemon with one in-memory backend.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/daemon.js';
import { startStandIn, type StandIn } from '../helpers/cni-stand-in-daemon.js';
import { FakeBackend } from '../helpers/cni-fake-backend.js';

const NODE_PLUGIN = join(REPO, 'bin', 'cni', 'switchyard-node');
const SHIM = join(REPO, 'bin', 'cni', 'switchyard');
let dir: string;
let standIn: StandIn;
let backend: FakeBackend;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swy-cnishim-'));
  backend = new FakeBackend({ blue: { prefix24: '10.65.0' } });
  standIn = await startStandIn(join(dir, 'sock'), backend, ['blue']);
});
after(async () => {
  await standIn?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (bin: string, env: Record<string, string>, stdin: string, sock = join(dir, 'sock')) =>
  new Promise<{ status: number; out: any }>((resolve) => {
    const p = execFile(bin, [], { env: { PATH: process.env['PATH'] ?? '', SWITCHYARD_CNI_SOCKET: sock, ...env } }, (err, stdout) =>
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout.trim() ? JSON.parse(stdout) : undefined }));
    p.stdin!.on('error', () => {});
    p.stdin!.end(stdin);
  });

test('the forwarder answers as the Node plugin does', async () => {
  const conf = (extra = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'switchyard', network: 'blue', host: join(dir, 'sock'), ...extra });
  const base = (id: string, command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/x' });
  const same: [string, Record<string, string>, string][] = [
    ['VERSION', { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'],
    ['bad version', base('v', 'ADD'), conf({ cniVersion: '0.2.0' })],
    ['bad JSON', base('v', 'ADD'), '{'],
    ['missing netns', { ...base('v', 'ADD'), CNI_NETNS: '' }, conf()],
    ['unknown netns', { ...base('v', 'ADD'), CNI_NETNS: '/run/netns/swy-gone-000000' }, conf()],
    ['unknown network', base('v', 'ADD'), conf({ network: 'green' })],
    ['DEL of nothing', base('never', 'DEL'), conf()],
  ];
  for (const [name, env, stdin] of same) {
    const [a, b] = [await run(NODE_PLUGIN, env, stdin), await run(SHIM, env, stdin)];
    assert.deepEqual(b, a, name);
  }
  const [a, b] = [await run(NODE_PLUGIN, base('n1', 'ADD'), conf()), await run(SHIM, base('s1', 'ADD'), conf())];
  assert.equal(a.status, 0);
  assert.equal(b.status, 0);
  assert.deepEqual({ ...b.out, ips: [], interfaces: [] }, { ...a.out, ips: [], interfaces: [] });
  assert.equal(b.out.ips[0].interface, 0);
  assert.deepEqual([...backend.held.keys()].sort(), ['n1/eth0', 's1/eth0']);
  assert.deepEqual(await run(SHIM, base('s1', 'DEL'), conf()), { status: 0, out: undefined });
  assert.deepEqual(await run(SHIM, base('n1', 'DEL'), conf()), { status: 0, out: undefined });
  assert.equal(backend.held.size, 0);
  // Every call but VERSION (answered by the plugin process itself) went through POST /cni.
  assert.ok(standIn.requests.filter((r) => r === 'POST /cni').length >= same.length - 1 + 3);
  // Unreachable daemon: both 11.
  const gone = join(dir, 'nobody.sock');
  const [c, d] = [await run(NODE_PLUGIN, base('x', 'ADD'), conf({ host: gone }), gone), await run(SHIM, base('x', 'ADD'), conf({ host: gone }), gone)];
  assert.deepEqual([c.status, c.out.code, d.status, d.out.code], [1, 11, 1, 11]);
});

test('the forwarder: a daemon that refuses the call itself, or closes without answering, is 11 (50 for STATUS) or 999; variables travel percent-encoded', async () => {
  const { createServer } = await import('node:net');
  const conf = (sock: string) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'switchyard', network: 'blue', host: sock });
  const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: 'x', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/x', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a b%c' });
  const seen: string[] = [];
  const serve = (sock: string, reply: (head: string) => string | undefined) => new Promise<{ close: () => void }>((resolve) => {
    const srv = createServer((c) => {
      let data = '';
      c.on('data', (d) => {
        data += d;
        if (!data.includes('\r\n\r\n')) return;
        seen.push(data.slice(0, data.indexOf('\r\n\r\n')));
        const r = reply(data);
        if (r === undefined) c.destroy();
        else c.end(r);
      });
    });
    srv.listen(sock, () => resolve({ close: () => srv.close() }));
  });
  const busy = join(dir, 'busy.sock');
  const s1 = await serve(busy, () => 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"message":"too many concurrent calls"}\n');
  const r503 = await run(SHIM, env('ADD'), conf(busy));
  assert.deepEqual([r503.status, r503.out.code, r503.out.cniVersion], [1, 11, '1.1.0']);
  assert.match(r503.out.details, /too many concurrent calls/);
  assert.equal((await run(SHIM, env('STATUS'), conf(busy))).out.code, 50);
  // Both header values as sent: percent-encoded, so the daemon gets the bytes back exactly.
  assert.match(seen[0]!, /\r\nCni-Args: IgnoreUnknown=1;K8S_POD_NAME=a%20b%25c\r\n/);
  assert.match(seen[0]!, /\r\nCni-Command: ADD\r\n/);
  s1.close();
  const old = join(dir, 'old.sock');
  const s2 = await serve(old, () => 'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{"message":"page not found"}\n');
  assert.equal((await run(SHIM, env('ADD'), conf(old))).out.code, 999, 'a daemon without POST /cni');
  s2.close();
  const rude = join(dir, 'rude.sock');
  const s3 = await serve(rude, () => undefined);
  const closed = await run(SHIM, env('DEL'), conf(rude));
  assert.deepEqual([closed.status, closed.out.code], [1, 11]);
  assert.equal((await run(SHIM, env('STATUS'), conf(rude))).out.code, 50);
  s3.close();
});
