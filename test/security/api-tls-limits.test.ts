/**
 * M10: the mutual-TLS listener cuts half-finished handshakes (handshakeTimeout; Node's
 * default would keep them 120 s), cuts clients that never finish their request headers,
 * and a failed handshake only closes that connection. Runs the API server in this process
 * on 127.0.0.1 (loopback only) with certificates made by openssl for the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import type { Engine } from '../../src/engine/types.js';
import { waitFor } from '../helpers/netns.js';

let dir: string;
let server: ApiServer;
let port: number;
const files = { ca: '', cert: '', key: '', clientCert: '', clientKey: '' };

function makeCertificates(): void {
  const f = (n: string) => path.join(dir, n);
  const ossl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = (n: string) => ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(n)]);
  key('ca.key');
  ossl(['req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=swy-tls-limits-ca', '-days', '1', '-out', f('ca.pem')]);
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ext] of [['server', 'server.ext'], ['client', 'client.ext']] as const) {
    key(`${name}.key`);
    ossl(['req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${name}`, '-out', f(`${name}.csr`)]);
    ossl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(ext), '-out', f(`${name}.pem`)]);
  }
  Object.assign(files, { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-tlslim-'));
  makeCertificates();
  const engine = { listNetworks: async () => [] } as unknown as Engine;
  server = createApiServer({ engine, version: { version: '0' }, handshakeTimeoutMs: 1000, headersTimeoutMs: 1000 });
  await server.listen(path.join(dir, 'api.sock'));
  port = await server.listenTls({ host: '127.0.0.1', port: 0 }, { caFile: files.ca, certFile: files.cert, keyFile: files.key });
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
  const opts = { host: '127.0.0.1', port, ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.clientCert), key: fs.readFileSync(files.clientKey), servername: '127.0.0.1' };
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
