/**
 * L1 and L10: a client that leaves a /wait or a followed /logs leaves no waiter behind
 * (the engine gets the request's AbortSignal and drops the waiter), long-lived requests
 * have a cap of their own, and the listener's connection limits are set.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiServer, connectionLimitsOf, type ApiServer } from '../../src/api/server.js';
import { SandboxRuntime, waitSandbox } from '../../src/engine/sandbox-ops.js';
import type { Engine } from '../../src/engine/types.js';
import type { EngineContext } from '../../src/engine/context.js';
import { waitFor } from '../helpers/netns.js';

const signals: AbortSignal[] = [];
const engine = {
  waitSandbox: (_ref: string, signal?: AbortSignal) =>
    new Promise<{ exitCode: number }>((_resolve, reject) => {
      signals.push(signal!);
      signal?.addEventListener('abort', () => reject(new Error('left')));
    }),
} as unknown as Engine;

let dir: string;
let socketPath: string;
let server: ApiServer;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swy-ll-'));
  socketPath = join(dir, 'api.sock');
  server = createApiServer({ engine, version: { version: '0' }, maxLongLivedRequests: 3 });
  await server.listen(socketPath);
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function status(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

test('a client leaving /wait aborts the engine wait (L1); long-lived requests are capped (L10)', async () => {
  const socks = Array.from({ length: 3 }, () => {
    const s = connect(socketPath);
    s.write('POST /sandboxes/sb/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    return s;
  });
  await waitFor(() => signals.length === 3, 'three waits to reach the engine');
  assert.equal(await status('POST', '/sandboxes/sb/wait'), 503, 'a fourth waiting request is over the cap');
  for (const s of socks) s.destroy();
  await waitFor(() => signals.every((s) => s.aborted), 'the engine waits to be aborted');
  // The slots are free again.
  const s = connect(socketPath);
  s.write('POST /sandboxes/sb/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  await waitFor(() => signals.length === 4, 'a new wait is accepted');
  s.destroy();
});

test('engine waitSandbox: aborting removes the waiter; without a signal it stays (the old leak)', async () => {
  const sb = { id: 'a'.repeat(64), name: 'x', state: { status: 'running', exitCode: 0 } };
  const ctx = { state: { sandboxes: new Map([[sb.id, sb]]) } } as unknown as EngineContext;
  const runtime = new SandboxRuntime();
  const ac = new AbortController();
  const waiting = waitSandbox(ctx, runtime, sb.id, ac.signal);
  assert.equal(runtime.waiters.get(sb.id)?.length, 1);
  ac.abort();
  await assert.rejects(waiting);
  assert.equal(runtime.waiters.has(sb.id), false, 'waiter removed');
  void waitSandbox(ctx, runtime, sb.id);
  assert.equal(runtime.waiters.get(sb.id)?.length, 1, 'control: without a signal the waiter stays until the sandbox stops');
});

test('listener limits: 1024 connections, 10 s for headers, 10 s for a TLS handshake', () => {
  const l = connectionLimitsOf({});
  assert.equal(l.maxConnections, 1024);
  assert.equal(l.http.headersTimeout, 10_000);
  assert.equal(l.handshakeTimeoutMs, 10_000);
  assert.ok(l.http.connectionsCheckingInterval <= 1_000);
});

test('L7: the socket is bound under umask 0177 (0600 until the chmod to 0660), and the umask is restored', async () => {
  const calls: (number | undefined)[] = [];
  const real = process.umask.bind(process);
  const before = real();
  (process as { umask: (m?: number) => number }).umask = (m?: number) => {
    calls.push(m);
    return m === undefined ? real() : real(m);
  };
  const other = createApiServer({ engine, version: { version: '0' } });
  try {
    await other.listen(join(dir, 'umask.sock'));
  } finally {
    (process as { umask: (m?: number) => number }).umask = real;
    await other.close();
  }
  assert.deepEqual(calls, [0o177, before], 'umask 0177 around bind, then the previous one back');
  assert.equal(real(), before);
});
