/**
 * Latency of the etcd backend on a real, local, single-member etcd (data dir under /tmp,
 * fsync on, etcd's defaults), for the figures in docs/STORE.md ("The etcd backend"):
 *
 * - an attach-shaped txn: create-only claim of an address + put of the ~500-byte endpoint
 *   record, one etcd Txn;
 * - watch propagation: put on client A → the event delivered to a watcher on client B
 *   (separate connections, as two hosts would have).
 *
 * Reports p50/p90/p99 as test diagnostics and fails only on a gross regression.
 *
 *   npx tsc -p . && node --test dist/test/integration/store-etcd-latency.test.js
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store, WatchEvent } from '../../src/store/contract.js';
import { assertEtcdGone, startEtcd, type TestEtcd } from '../helpers/etcd.js';

const N = Number(process.env.SWY_ETCD_LATENCY_N ?? 1000);
const WARMUP = 100;

let etcd: TestEtcd;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  if (!etcd) return;
  await etcd.stop();
  assertEtcdGone(etcd);
});

/** A ~500-byte JSON record, shaped like the engine's endpoint records (as the LMDB latency test). */
function record(i: number): string {
  const ep = {
    id: i.toString(16).padStart(64, '0'),
    name: `sandbox-${i}`,
    networkId: 'f'.repeat(64),
    sandboxId: 'e'.repeat(64),
    ifName: 'eth0',
    mac: '02:42:ac:11:00:02',
    ipv4: `10.88.${(i >> 8) & 255}.${i & 255}/16`,
    gateway: '10.88.0.1',
    aliases: ['web', 'frontend'],
    order: i,
  };
  const json = JSON.stringify(ep);
  return json.slice(0, -1) + `,"pad":"${'x'.repeat(Math.max(0, 490 - json.length))}"}`;
}

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentiles(ms: number[]): Percentiles {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3));
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

const show = (p: Percentiles) => `p50 ${p.p50} ms, p90 ${p.p90} ms, p99 ${p.p99} ms, max ${p.max} ms`;

const attachTxn = (store: Store, i: number) => {
  const ip = `/ipam/net/10.88.${(i >> 8) & 255}.${i & 255}#${i}`;
  return store.txn({
    compare: [{ key: ip, target: 'createRevision', op: '=', value: 0 }],
    success: [
      { type: 'put', key: ip, value: `ep${i}` },
      { type: 'put', key: `/endpoints/${i}`, value: record(i) },
    ],
  });
};

test(`etcd latency: attach-shaped txn and watch propagation (n = ${N}, ~500-byte JSON values)`, async (t) => {
  const prefix = `/swy-latency-${process.pid}`;
  const a = await openEtcdStore({ endpoints: etcd.endpoints, prefix });
  const b = await openEtcdStore({ endpoints: etcd.endpoints, prefix });
  try {
    // 1. Attach-shaped txn, back to back.
    const txnMs: number[] = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const t0 = performance.now();
      const res = await attachTxn(a, i);
      if (i >= WARMUP) txnMs.push(performance.now() - t0);
      assert.equal(res.succeeded, true);
    }
    // 2. Propagation: A puts, B's watcher gets the event. One write in flight at a time.
    let waiting: ((e: WatchEvent[]) => void) | undefined;
    const w = await b.watch('/prop/', {}, (events) => waiting?.(events));
    const propMs: number[] = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const got = new Promise<WatchEvent[]>((resolve) => (waiting = resolve));
      const t0 = performance.now();
      const { revision } = await a.put(`/prop/${i % 100}`, record(i));
      const events = await got;
      if (i >= WARMUP) propMs.push(performance.now() - t0);
      assert.equal(events[0]!.kv.modRevision, revision);
    }
    await w.close();
    const txn = percentiles(txnMs);
    const prop = percentiles(propMs);
    t.diagnostic(`attach txn (claim + put):     ${show(txn)}`);
    t.diagnostic(`watch propagation A put → B:  ${show(prop)}`);
    // Gross-regression bounds only: these include etcd's fsync (WAL) on a shared 2-core VM.
    assert.ok(txn.p50 < 20, `attach txn p50 ${txn.p50} ms`);
    assert.ok(prop.p50 < 30, `propagation p50 ${prop.p50} ms`);
  } finally {
    await a.deletePrefix('/');
    await a.close();
    await b.close();
  }
});
