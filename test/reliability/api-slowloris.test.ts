/**
 * API slowloris from a local user (audit L10/M10): many connections that send their request
 * headers a few bytes at a time. Measures other clients' GET /networks latency (p50/p99,
 * fresh connection per request) idle, under SLOW connections below the connection cap, and
 * over the cap (a new connection evicts the one waiting longest for its headers); checks
 * that the daemon closes slow connections after the 10 s header timeout. Figures are printed on one line per phase
 * (docs/RELIABILITY.md "API slowloris"). Run: `node scripts/test.mjs reliability/api-slowloris`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';

const SLOW = Number(process.env['SWY_SLOWLORIS'] ?? 900);
const OVER = Number(process.env['SWY_SLOWLORIS_OVER'] ?? 1100);
const SAMPLES = 300;

interface Figures {
  ok: number;
  failed: number;
  p50: number;
  p99: number;
}

function once(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ socketPath, method: 'GET', path: '/networks', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function measure(socketPath: string, n = SAMPLES): Promise<Figures> {
  const times: number[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    try {
      times.push(await once(socketPath));
    } catch {
      failed++;
    }
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => (times.length ? times[Math.min(times.length - 1, Math.floor(q * times.length))]! : NaN);
  return { ok: times.length, failed, p50: at(0.5), p99: at(0.99) };
}

const show = (f: Figures) => `${f.ok} ok, ${f.failed} failed, p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms`;

/** Opens n connections that trickle one header byte per second and never finish. */
function slowClients(socketPath: string, n: number): { sockets: Socket[]; closed: () => number; stop: () => void } {
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    const s = connect(socketPath);
    s.on('error', () => undefined);
    s.on('close', () => closed++);
    s.write(`GET /networks HTTP/1.1\r\nHost: switchyard\r\nX-Slow-${i}: `);
    sockets.push(s);
  }
  const timer = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write('a');
  }, 1000);
  return { sockets, closed: () => closed, stop: () => { clearInterval(timer); for (const s of sockets) s.destroy(); } };
}

describe('API slowloris (reliability)', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon({ tag: 'slow' });
  });
  after(async () => {
    await d?.stop();
  });

  test(`others are served under ${SLOW} slow connections; slow ones are cut after the 10 s header timeout`, async () => {
    const idle = await measure(d.socket);
    console.log(`slowloris idle: ${show(idle)}`);
    const slow = slowClients(d.socket, SLOW);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const started = performance.now();
      const under = await measure(d.socket);
      console.log(`slowloris ${SLOW} slow connections (below the cap of 1024): ${show(under)}`);
      assert.equal(under.failed, 0, 'every request answered');
      assert.ok(under.p99 < 250, `p99 ${under.p99.toFixed(1)} ms`);
      await waitFor(() => slow.closed() === SLOW, 'the daemon to close every slow connection', 20_000, 100);
      const cutAfter = (performance.now() - started + 500) / 1000;
      console.log(`slowloris: all ${SLOW} slow connections closed by the daemon after ${cutAfter.toFixed(1)} s`);
      assert.ok(cutAfter < 15, `slow connections held ${cutAfter.toFixed(1)} s`);
    } finally {
      slow.stop();
    }
  });

  test(`over the cap (${OVER} slow connections): a new client takes the slot of the slowest; everyone is served`, async () => {
    const slow = slowClients(d.socket, OVER);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const over = await measure(d.socket);
      console.log(`slowloris ${OVER} slow connections (over the cap of 1024): ${show(over)}`);
      assert.equal(over.failed, 0, 'every request answered: each new connection evicts the one waiting longest for its headers');
      assert.ok(over.p99 < 250, `p99 ${over.p99.toFixed(1)} ms`);
      await waitFor(async () => (await once(d.socket).then(() => true, () => false)), 'the API to answer again', 20_000, 200);
      const recovered = await measure(d.socket, 100);
      console.log(`slowloris after the slow connections were cut: ${show(recovered)}`);
      assert.equal(recovered.failed, 0);
      assert.equal(d.proc.exitCode, null, 'daemon alive');
    } finally {
      slow.stop();
    }
  });
});
