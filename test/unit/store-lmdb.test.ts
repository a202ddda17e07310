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
import { checkBoundedHistory, checkExpiryTimer, checkLeasesExpiredAtOpen } from '../helpers/local-store-checks.js';
import { storeConformance } from '../helpers/store-conformance.js';

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
  try {
    await checkBoundedHistory((o) => openLmdbStore({ path, ...o }));
  } finally {
    removeStore(path);
  }
});

test('lmdb: leases that expired while the process was down are revoked at open', async () => {
  const path = tempStorePath('lease-open');
  try {
    await checkLeasesExpiredAtOpen((o) => openLmdbStore({ path, ...o }));
  } finally {
    removeStore(path);
  }
});

test('lmdb: the expiry timer revokes a lease once the clock passes its deadline', async () => {
  const path = tempStorePath('lease-timer');
  try {
    await checkExpiryTimer((o) => openLmdbStore({ path, ...o }));
  } finally {
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
