/**
 * Crash safety of the LMDB backend: a child process runs write txns in a tight loop and
 * prints each acknowledged revision; the parent kills it with SIGKILL (by PID) at a random
 * moment, reopens the store and checks the invariants:
 *   - every acknowledged txn is there (sync off too: a process crash does not lose the
 *     kernel's page cache, which is all the default mode promises);
 *   - no partial txn: the two keys each txn writes agree, and the history record of the
 *     last revision holds all three of its events;
 *   - the revision counter is consistent: one revision per txn, equal to the keys'
 *     modRevision.
 * This file is also the child: run with SWY_STORE_CRASH_CHILD=<path> it runs the loop.
 *
 * The acks go to a file, not to a pipe: this file imports node:test, which makes the child's
 * stdout non-blocking, so on a loaded machine (the parent reading late) a full pipe made the
 * child's writeSync fail with EAGAIN. A write(2) to a regular file never does, needs no
 * reader, and what it wrote outlives SIGKILL (it is in the page cache) as a pipe's buffer did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import type { WatchEvent } from '../../src/store/contract.js';
import { waitFor } from '../helpers/wait.js';

const CHILD_ENV = 'SWY_STORE_CRASH_CHILD';
const ACKS_ENV = 'SWY_STORE_CRASH_ACKS';
const PAD = 'x'.repeat(480); // ~500-byte values, like the engine's JSON records

interface Ack {
  revision: number;
  i: number;
}

/** The child: txn after txn, each writing /crash/a and /crash/b (equal) and one of 50 slots. */
async function runChild(path: string, sync: boolean, acksPath: string): Promise<void> {
  const acks = openSync(acksPath, 'a');
  const store = await openLmdbStore({ path, sync });
  let i = Number(JSON.parse((await store.get('/crash/a'))?.value ?? '{"i":0}').i);
  for (;;) {
    i++;
    const value = JSON.stringify({ i, pad: PAD });
    const { revision } = await store.txn({
      compare: [],
      success: [
        { type: 'put', key: '/crash/a', value },
        { type: 'put', key: `/crash/slot/${i % 50}`, value },
        { type: 'put', key: '/crash/b', value },
      ],
    });
    writeSync(acks, `ack ${revision} ${i}\n`); // synchronous: recorded before the next txn starts
  }
}

/** Runs the child, kills it `delayMs` after its first ack, returns its last complete ack. */
async function crashOnce(path: string, sync: boolean, delayMs: number, acksPath: string): Promise<{ acks: number; last: Ack }> {
  closeSync(openSync(acksPath, 'w')); // this round's acks only
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CHILD_ENV]: path, [ACKS_ENV]: acksPath, SWY_STORE_CRASH_SYNC: sync ? '1' : '0' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const read = () => (existsSync(acksPath) ? readFileSync(acksPath, 'utf8') : '');
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  try {
    await waitFor(() => read().includes('\n'), 'the child to acknowledge its first txn', 10_000, 5);
    await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    process.kill(child.pid!, 'SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  const out = read();
  // Only whole lines count: a line torn by the kill was never fully acknowledged.
  const complete = out.slice(0, out.lastIndexOf('\n')).split('\n');
  assert.ok(complete.every((l) => l.startsWith('ack ')), 'the child prints only acks');
  const [, revision, i] = complete.at(-1)!.split(' ');
  return { acks: complete.length, last: { revision: Number(revision), i: Number(i) } };
}

async function checkInvariants(path: string, last: Ack): Promise<number> {
  const store = await openLmdbStore({ path });
  try {
    const a = (await store.get('/crash/a'))!;
    const b = (await store.get('/crash/b'))!;
    const rev = await store.revision();
    const { i } = JSON.parse(a.value) as { i: number };
    assert.equal(b.value, a.value, 'the two keys of one txn agree (no partial txn)');
    assert.ok(i >= last.i, `acknowledged txn ${last.i} is present (found ${i})`);
    assert.ok(i <= last.i + 1, `at most the one unacknowledged txn in flight was committed (found ${i}, last ack ${last.i})`);
    assert.equal(rev, 1 + i, 'one revision per txn since the fresh store at revision 1');
    assert.equal(a.modRevision, rev);
    assert.equal(b.modRevision, rev);
    assert.equal(a.version, i, 'one version per put');
    assert.equal((await store.get(`/crash/slot/${i % 50}`))!.value, a.value);
    const seen: WatchEvent[][] = [];
    const w = await store.watch('/crash/', { fromRevision: rev }, (evs) => seen.push(evs));
    await waitFor(() => seen.length === 1, 'the last revision from history');
    assert.deepEqual(seen[0]!.map((e) => e.kv.key), ['/crash/a', `/crash/slot/${i % 50}`, '/crash/b']);
    await w.close();
    return i;
  } finally {
    await store.close();
  }
}

if (process.env[CHILD_ENV]) {
  await runChild(process.env[CHILD_ENV], process.env.SWY_STORE_CRASH_SYNC === '1', process.env[ACKS_ENV]!);
} else {
  test('lmdb: SIGKILL at random moments loses no acknowledged txn and tears none', { timeout: 120_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'swy-store-crash-'));
    const path = join(dir, 'store');
    try {
      let total = 0;
      let inFlightCommitted = 0;
      for (let round = 0; round < 8; round++) {
        const sync = round % 2 === 1;
        const delayMs = 20 + Math.floor(Math.random() * 300);
        const { acks, last } = await crashOnce(path, sync, delayMs, join(dir, 'acks'));
        const found = await checkInvariants(path, last);
        total += acks;
        if (found === last.i + 1) inFlightCommitted++;
        assert.ok(found >= total, 'the numbering carries on across crashes');
      }
      t.diagnostic(`${total} acknowledged txns over 8 kills; the txn in flight at the kill was found committed ${inFlightCommitted} times`);
      assert.ok(total > 100, `the child got work done between kills (${total} acks)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
