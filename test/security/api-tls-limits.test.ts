/**
 * M10: the mutual-TLS listener cuts half-finished handshakes (handshakeTimeout; Node's
 * default would keep them 120 s), cuts clients that never finish their request headers,
 * and a failed handshake only closes that connection. Runs the API server in this process
 * on 127.0.0.1 (loopback only) with certificates made by openssl for the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import type { Engine } from '../../src/engine/types.js';
import { waitFor } from '../helpers/netns.js';
import { makeTestPki, type TestPki } from '../helpers/test-pki.js';

let dir: string;
let server: ApiServer;
let port: number;
let pki: TestPki;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-tlslim-'));
  pki = makeTestPki(dir);
  const engine = { listNetworks: async () => [] } as unknown as Engine;
  server = createApiServer({ engine, version: { version: '0' }, handshakeTimeoutMs: 1000, headersTimeoutMs: 1000 });
  await server.listen(path.join(dir, 'api.sock'));
  port = await server.listenTls({ host: '127.0.0.1', port: 0 }, { caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile });
});
after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const closedWithin = (s: Socket): Promise<number> => {
  const started = performance.now();
  return new Promise((resolve) => s.once('close', () => resolve(performance.now() - started)));
};

test('half-finished TLS handshakes are cut after handshakeTimeout (Node alone: 120 s)', async () => {
  const raw = Array.from({ length: 50 }, () => {
    const s = tcpConnect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff]))); // a ClientHello header, then nothing
    return s;
  });
  const times = await Promise.all(raw.map(closedWithin));
  assert.ok(Math.max(...times) < 3000, `slowest cut after ${Math.max(...times).toFixed(0)} ms`);
});

test('an authenticated client that never finishes its headers is cut; a complete request is served', async () => {
  const opts = { host: '127.0.0.1', port, ca: fs.readFileSync(pki.caFile), cert: fs.readFileSync(pki.clientCertFile), key: fs.readFileSync(pki.clientKeyFile), servername: '127.0.0.1' };
  const slow = tlsConnect(opts);
  slow.on('error', () => undefined);
  await new Promise((r) => slow.once('secureConnect', r));
  slow.write('GET /networks HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  let answer = '';
  slow.on('data', (b: Buffer) => (answer += b.toString()));
  const cut = await closedWithin(slow);
  assert.ok(cut < 3000, `cut after ${cut.toFixed(0)} ms`);
  assert.match(answer, /^HTTP\/1\.1 408 /);
  const ok = tlsConnect(opts);
  await new Promise((r) => ok.once('secureConnect', r));
  let body = '';
  ok.on('data', (b: Buffer) => (body += b.toString()));
  ok.write('GET /networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await waitFor(() => /\r\n\r\n\[\]/.test(body), 'the answer');
  assert.match(body, /^HTTP\/1\.1 200 /);
  ok.destroy();
});
