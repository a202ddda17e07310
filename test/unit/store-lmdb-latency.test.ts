/**
 * Latency of the LMDB backend's write path, the figure the daemon's 2.5 ms connect budget
 * depends on (one store txn per user operation). Reports p50/p90/p99 as test diagnostics
 * (docs/STORE.md quotes them) and fails only on a gross regression: with sync off a txn
 * must stay well under 1 ms at the median.
 *
 *   node --test dist/test/unit/store-lmdb-latency.test.js
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { attachTxn, endpointRecord as record, percentiles, showPercentiles as show, type Percentiles } from '../helpers/store-latency.js';

const N = 2000;
const WARMUP = 200;

async function measure(run: (i: number) => Promise<unknown>): Promise<Percentiles> {
  const ms: number[] = [];
  for (let i = 0; i < WARMUP + N; i++) {
    const t0 = process.hrtime.bigint();
    await run(i);
    if (i >= WARMUP) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return percentiles(ms);
}

for (const sync of [false, true]) {
  test(`lmdb latency, sync ${sync ? 'on' : 'off'} (n = ${N}, ~500-byte JSON values)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'swy-store-latency-'));
    const store = await openLmdbStore({ path: join(dir, 'store'), sync });
    try {
      const value = record(1);
      assert.ok(value.length >= 480 && value.length <= 520, `value is ~500 bytes (${value.length})`);
      const put = await measure((i) => store.put(`/networks/${i % 500}`, record(i)));
      const txn = await measure((i) => attachTxn(store, i));
      const get = await measure((i) => store.get(`/networks/${i % 500}`));
      t.diagnostic(`put:          ${show(put)}`);
      t.diagnostic(`connect txn:  ${show(txn)}`);
      t.diagnostic(`get:          ${show(get)}`);
      if (!sync) {
        assert.ok(put.p50 < 1 && txn.p50 < 1, 'with sync off a write txn stays well under 1 ms');
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
