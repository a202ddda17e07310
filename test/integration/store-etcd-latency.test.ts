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
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { WatchEvent } from '../../src/store/contract.js';
import { etcdPerFile } from '../helpers/etcd.js';
import { attachTxn, endpointRecord as record, percentiles, showPercentiles as show } from '../helpers/store-latency.js';

const N = Number(process.env.SWY_ETCD_LATENCY_N ?? 1000);
const WARMUP = 100;

const etcd = etcdPerFile();

test(`etcd latency: attach-shaped txn and watch propagation (n = ${N}, ~500-byte JSON values)`, async (t) => {
  const prefix = `/swy-latency-${process.pid}`;
  const a = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
  const b = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
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
