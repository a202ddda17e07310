/**
 * The in-memory store (test/helpers/memory-store.ts): the shared conformance suite, plus
 * what the engine's unit tests lean on: bounded history, leases run out while no store
 * had the data open, an injected clock, and results that callers cannot mutate into it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WatchEvent } from '../../src/store/contract.js';
import { createMemoryBacking, openMemoryStore } from '../helpers/memory-store.js';
import { storeConformance } from '../helpers/store-conformance.js';
import { waitFor } from '../helpers/wait.js';

// One backing per test: the suite's "reopen" test opens a second store on the same data,
// and cleanup (after each test) starts the next one empty.
let backing = createMemoryBacking();
storeConformance(
  'memory',
  () => openMemoryStore({ backing }),
  async () => {
    backing = createMemoryBacking();
  },
);

test('memory: history is bounded; older revisions are compacted automatically', async () => {
  const store = await openMemoryStore({ historyRevisions: 5 });
  try {
    const revs: number[] = [];
    for (let i = 0; i < 12; i++) revs.push((await store.put('/h/k', String(i))).revision);
    const last = revs.at(-1)!;
    await assert.rejects(store.watch('/h/', { fromRevision: last - 5 }, () => {}), { code: 'STORE_REVISION_COMPACTED' });
    const seen: WatchEvent[] = [];
    const w = await store.watch('/h/', { fromRevision: last - 4 }, (evs) => seen.push(...evs));
    await waitFor(() => seen.length === 5, 'the 5 retained revisions');
    assert.deepEqual(seen.map((e) => e.kv.value), ['7', '8', '9', '10', '11']);
    await w.close();
  } finally {
    await store.close();
  }
});

test('memory: leases that ran out while the data was closed are revoked at open', async () => {
  const data = createMemoryBacking();
  let clock = 1_000_000;
  const now = () => clock;
  let store = await openMemoryStore({ backing: data, now });
  try {
    const short = await store.grantLease(5);
    const long = await store.grantLease(3600);
    await store.put('/l/short', 'x', { lease: short });
    await store.put('/l/long', 'x', { lease: long });
    const rev = await store.revision();
    await store.close();
    clock += 6_000;
    store = await openMemoryStore({ backing: data, now });
    assert.deepEqual((await store.range('/l/')).map((kv) => kv.key), ['/l/long'], 'expired before the first call returns');
    assert.equal(await store.revision(), rev + 1);
    await assert.rejects(store.keepAlive(short), { code: 'STORE_LEASE_NOT_FOUND' });
    await store.keepAlive(long);
  } finally {
    await store.close();
  }
});

test('memory: the expiry timer follows the injected clock; keepAlive moves the deadline', async () => {
  let clock = 5_000_000;
  const store = await openMemoryStore({ now: () => clock, leaseCheckIntervalMs: 10 });
  try {
    const lease = await store.grantLease(30);
    await store.put('/t/a', 'x', { lease });
    clock += 29_000;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(await store.get('/t/a'), 'still alive 1 s before the deadline');
    await store.keepAlive(lease);
    clock += 29_000;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(await store.get('/t/a'), 'the keep-alive moved the deadline');
    clock += 1_000;
    await waitFor(async () => (await store.get('/t/a')) === undefined, 'the timer to revoke the lease');
  } finally {
    await store.close();
  }
});

test('memory: what the store hands out is a copy', async () => {
  const store = await openMemoryStore();
  try {
    await store.put('/c/k', 'v');
    const seen: WatchEvent[] = [];
    const w = await store.watch('/c/', { fromRevision: 1 }, (evs) => seen.push(...evs));
    await waitFor(() => seen.length === 1, 'the replayed put');
    seen[0]!.kv.value = 'changed by a listener';
    (await store.get('/c/k'))!.value = 'changed by a reader';
    (await store.range('/c/'))[0]!.value = 'changed by a reader';
    const res = await store.txn({ compare: [], success: [{ type: 'get', key: '/c/k' }] });
    res.results[0]![0]!.value = 'changed by a txn reader';
    assert.equal((await store.get('/c/k'))!.value, 'v');
    const replay: WatchEvent[] = [];
    const w2 = await store.watch('/c/', { fromRevision: 1 }, (evs) => replay.push(...evs));
    await waitFor(() => replay.length === 1, 'the replayed put again');
    assert.equal(replay[0]!.kv.value, 'v', 'history is untouched');
    await w.close();
    await w2.close();
  } finally {
    await store.close();
  }
});
