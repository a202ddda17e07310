/**
 * Checks of what the two local backends (LMDB, src/store/lmdb-store.ts, and the in-memory
 * test backend, test/helpers/memory-store.ts) do on their own rather than leave to etcd:
 * bounded history, lease expiry at open and by timer on an injected clock. Each check
 * opens its stores through `open`, which for one check must always open the same data (the
 * same path, the same backing), and closes them; the caller removes what it made.
 */
import assert from 'node:assert/strict';
import type { Store, WatchEvent } from '../../src/store/contract.js';
import { waitFor } from './wait.js';

/** The options both local backends take. */
export interface LocalStoreOptions {
  historyRevisions?: number;
  leaseCheckIntervalMs?: number;
  now?: () => number;
}

export type OpenLocalStore = (opts: LocalStoreOptions) => Promise<Store>;

/** Only the last `historyRevisions` revisions can be watched from; older ones are compacted. */
export async function checkBoundedHistory(open: OpenLocalStore): Promise<void> {
  const store = await open({ historyRevisions: 5 });
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
}

/** Leases whose deadline passed while the data was closed are revoked (recorded as deletes) at open. */
export async function checkLeasesExpiredAtOpen(open: OpenLocalStore): Promise<void> {
  let clock = 1_000_000;
  const now = () => clock;
  let store = await open({ now });
  try {
    const short = await store.grantLease(5);
    const long = await store.grantLease(3600);
    await store.put('/l/short', 'x', { lease: short });
    await store.put('/l/long', 'x', { lease: long });
    const rev = await store.revision();
    await store.close();
    clock += 6_000; // "downtime" longer than the short lease's TTL
    store = await open({ now });
    assert.deepEqual((await store.range('/l/')).map((kv) => kv.key), ['/l/long'], 'expired before the first call returns');
    assert.equal(await store.revision(), rev + 1);
    const seen: WatchEvent[] = [];
    const w = await store.watch('/l/', { fromRevision: rev + 1 }, (evs) => seen.push(...evs));
    await waitFor(() => seen.length === 1, 'the recorded delete');
    assert.equal(seen[0]!.type, 'delete');
    assert.equal(seen[0]!.kv.key, '/l/short');
    await w.close();
    await assert.rejects(store.keepAlive(short), { code: 'STORE_LEASE_NOT_FOUND' });
    await store.keepAlive(long);
  } finally {
    await store.close();
  }
}

/** The expiry timer follows the injected clock; keepAlive moves the deadline. */
export async function checkExpiryTimer(open: OpenLocalStore): Promise<void> {
  let clock = 5_000_000;
  const store = await open({ now: () => clock, leaseCheckIntervalMs: 10 });
  try {
    const lease = await store.grantLease(30);
    await store.put('/t/a', 'x', { lease });
    clock += 29_000;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(await store.get('/t/a'), 'still alive 1 s before the deadline');
    await store.keepAlive(lease); // deadline is now clock + 30 s
    clock += 29_000;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(await store.get('/t/a'), 'the keep-alive moved the deadline');
    clock += 1_000;
    await waitFor(async () => (await store.get('/t/a')) === undefined, 'the timer to revoke the lease');
  } finally {
    await store.close();
  }
}
