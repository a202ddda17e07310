/**
 * The LMDB backend: the shared conformance suite (sync off and on), plus what only the
 * embedded backend promises: bounded history, leases expired while the process was
 * down, and rejecting a database of another format.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { open } from 'lmdb';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import type { WatchEvent } from '../../src/store/contract.js';
import { storeConformance } from '../helpers/store-conformance.js';
import { waitFor } from '../helpers/wait.js';

function tempStorePath(tag: string): string {
  return join(mkdtempSync(join(tmpdir(), `swy-store-${tag}-`)), 'store');
}

/** Removes the store and the temporary directory made for it. */
const removeStore = (path: string) => rmSync(dirname(path), { recursive: true, force: true });

for (const sync of [false, true]) {
  const path = tempStorePath(sync ? 'sync' : 'nosync');
  storeConformance(
    `lmdb (sync ${sync ? 'on' : 'off'})`,
    () => openLmdbStore({ path, sync }),
    async () => rmSync(path, { recursive: true, force: true }),
  );
  after(() => removeStore(path));
}

test('lmdb: history is bounded; older revisions are compacted automatically', async () => {
  const path = tempStorePath('history');
  const store = await openLmdbStore({ path, historyRevisions: 5 });
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
    removeStore(path);
  }
});

test('lmdb: leases that expired while the process was down are revoked at open', async () => {
  const path = tempStorePath('lease-open');
  let clock = 1_000_000;
  const now = () => clock;
  let store = await openLmdbStore({ path, now });
  try {
    const short = await store.grantLease(5);
    const long = await store.grantLease(3600);
    await store.put('/l/short', 'x', { lease: short });
    await store.put('/l/long', 'x', { lease: long });
    const rev = await store.revision();
    await store.close();
    clock += 6_000; // "downtime" longer than the short lease's TTL
    store = await openLmdbStore({ path, now });
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
    removeStore(path);
  }
});

test('lmdb: the expiry timer revokes a lease once the clock passes its deadline', async () => {
  const path = tempStorePath('lease-timer');
  let clock = 5_000_000;
  const store = await openLmdbStore({ path, now: () => clock, leaseCheckIntervalMs: 10 });
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
    removeStore(path);
  }
});

test('lmdb: a database of another format is refused', async () => {
  const path = tempStorePath('format');
  const store = await openLmdbStore({ path });
  await store.close();
  const root = open({ path });
  root.openDB({ name: 'meta', encoding: 'json' }).putSync('format', 99);
  await root.close();
  try {
    await assert.rejects(openLmdbStore({ path }), { code: 'STORE_IO', message: /format 99/ });
  } finally {
    removeStore(path);
  }
});
