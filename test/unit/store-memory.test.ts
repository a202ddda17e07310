/**
 * The in-memory store (test/helpers/memory-store.ts): the shared conformance suite, plus
 * what the engine's unit tests lean on: bounded history, leases run out while no store
 * had the data open, an injected clock, and results that callers cannot mutate into it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WatchEvent } from '../../src/store/contract.js';
import { checkBoundedHistory, checkExpiryTimer, checkLeasesExpiredAtOpen } from '../helpers/local-store-checks.js';
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

test('memory: history is bounded; older revisions are compacted automatically', () => checkBoundedHistory((o) => openMemoryStore(o)));

test('memory: leases that ran out while the data was closed are revoked at open', () => {
  const data = createMemoryBacking();
  return checkLeasesExpiredAtOpen((o) => openMemoryStore({ backing: data, ...o }));
});

test('memory: the expiry timer follows the injected clock; keepAlive moves the deadline', () => checkExpiryTimer((o) => openMemoryStore(o)));

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
