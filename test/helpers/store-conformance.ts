/**
 * The store contract's conformance suite (src/store/contract.ts). Every backend runs it:
 *
 *   storeConformance('lmdb', () => openLmdbStore({ path }), async () => rmSync(path, ...));
 *
 * `open` opens the backend on its (persistent) data; `cleanup` runs after each test,
 * once the store is closed, and wipes the data. Tests only assert relative revisions and
 * use their own key prefix, so they hold for a shared etcd too. Lease tests use TTL 1 s
 * and wait up to 10 s (etcd raises small TTLs to its minimum of about 2 s).
 */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Store, WatchEvent } from '../../src/store/contract.js';
import { waitFor } from './wait.js';

const LEASE_WAIT_MS = 10_000;

/** Collects what a watch delivers, one entry per listener call (= per revision). */
class Recorder {
  readonly batches: WatchEvent[][] = [];
  readonly listener = (events: WatchEvent[]) => {
    this.batches.push(events);
  };
  get events(): WatchEvent[] {
    return this.batches.flat();
  }
  async waitForEvents(n: number, what = `${n} watch events`): Promise<WatchEvent[]> {
    await waitFor(() => this.events.length >= n, what, LEASE_WAIT_MS);
    return this.events;
  }
}

const summary = (e: WatchEvent) => `${e.type} ${e.kv.key}@${e.kv.modRevision}`;
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const flush = () => new Promise((r) => setTimeout(r, 50));

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: { code?: string }) => {
    assert.equal(err.code, code);
    return true;
  });
}

export function storeConformance(name: string, open: () => Promise<Store>, cleanup: () => Promise<void>): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    let seq = 0;
    let p = '';
    beforeEach(async () => {
      store = await open();
      p = `/conformance/${process.pid}-${++seq}/`;
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    test('put and get: revisions and versions', async () => {
      const r0 = await store.revision();
      assert.equal(await store.get(`${p}k`), undefined);
      const { revision: r1 } = await store.put(`${p}k`, 'v1');
      assert.ok(r1 > r0, 'a put bumps the revision');
      assert.equal(await store.revision(), r1);
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'v1', createRevision: r1, modRevision: r1, version: 1 });
      const { revision: r2 } = await store.put(`${p}k`, 'v2');
      assert.equal(r2, r1 + 1);
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'v2', createRevision: r1, modRevision: r2, version: 2 });
    });

    test('delete: count, revision, and a re-created key starts over', async () => {
      const { revision: r1 } = await store.put(`${p}k`, 'v');
      await store.put(`${p}k`, 'v');
      const del = await store.delete(`${p}k`);
      assert.equal(del.deleted, 1);
      assert.equal(del.revision, r1 + 2);
      assert.equal(await store.get(`${p}k`), undefined);
      const missing = await store.delete(`${p}k`);
      assert.deepEqual(missing, { revision: del.revision, deleted: 0 }, 'deleting a missing key changes nothing');
      const { revision: r4 } = await store.put(`${p}k`, 'again');
      assert.deepEqual(await store.get(`${p}k`), { key: `${p}k`, value: 'again', createRevision: r4, modRevision: r4, version: 1 });
    });

    test('one revision per write txn; read-only and failed txns do not bump it', async () => {
      const r0 = await store.revision();
      const res = await store.txn({
        compare: [],
        success: [
          { type: 'put', key: `${p}a`, value: '1' },
          { type: 'put', key: `${p}b`, value: '2' },
          { type: 'put', key: `${p}c`, value: '3' },
        ],
      });
      assert.equal(res.succeeded, true);
      assert.equal(res.revision, r0 + 1, 'three puts, one revision');
      for (const k of ['a', 'b', 'c']) assert.equal((await store.get(`${p}${k}`))!.modRevision, r0 + 1);
      const ro = await store.txn({ compare: [], success: [{ type: 'get', key: `${p}a` }, { type: 'range', prefix: p }] });
      assert.equal(ro.revision, r0 + 1, 'a read-only txn does not bump the revision');
      assert.equal(ro.results[0]![0]!.value, '1');
      assert.equal(ro.results[1]!.length, 3);
      const failed = await store.txn({ compare: [{ key: `${p}a`, target: 'value', op: '=', value: 'nope' }], success: [{ type: 'put', key: `${p}a`, value: 'x' }] });
      assert.equal(failed.succeeded, false);
      assert.equal(failed.revision, r0 + 1, 'a failed compare without failure ops does not bump the revision');
      assert.equal(await store.revision(), r0 + 1);
      assert.equal((await store.get(`${p}a`))!.value, '1');
    });

    test('CAS create-if-absent with createRevision = 0', async () => {
      const claim = (owner: string) =>
        store.txn({
          compare: [{ key: `${p}ip`, target: 'createRevision', op: '=', value: 0 }],
          success: [{ type: 'put', key: `${p}ip`, value: owner }],
          failure: [{ type: 'get', key: `${p}ip` }],
        });
      const first = await claim('ep1');
      assert.equal(first.succeeded, true);
      const second = await claim('ep2');
      assert.equal(second.succeeded, false);
      assert.equal(second.revision, first.revision);
      assert.equal(second.results[0]![0]!.value, 'ep1', 'the failure branch reads the holder');
      assert.equal((await store.get(`${p}ip`))!.value, 'ep1');
    });

    test('CAS update with modRevision', async () => {
      const { revision: seen } = await store.put(`${p}rec`, 'v1');
      await store.put(`${p}rec`, 'v2'); // someone else's update
      const stale = await store.txn({
        compare: [{ key: `${p}rec`, target: 'modRevision', op: '=', value: seen }],
        success: [{ type: 'put', key: `${p}rec`, value: 'mine' }],
      });
      assert.equal(stale.succeeded, false);
      const current = (await store.get(`${p}rec`))!.modRevision;
      const fresh = await store.txn({
        compare: [{ key: `${p}rec`, target: 'modRevision', op: '=', value: current }],
        success: [{ type: 'put', key: `${p}rec`, value: 'mine' }],
      });
      assert.equal(fresh.succeeded, true);
      assert.equal((await store.get(`${p}rec`))!.value, 'mine');
    });

    test('compare semantics: missing keys, operators, value bytes', async () => {
      await store.put(`${p}k`, 'm');
      await store.put(`${p}k`, 'm');
      const holds = async (c: { key: string; target: 'version' | 'createRevision' | 'modRevision' | 'value'; op: '=' | '!=' | '<' | '>'; value: number | string }) =>
        (await store.txn({ compare: [c], success: [] })).succeeded;
      const missing = `${p}missing`;
      assert.equal(await holds({ key: missing, target: 'version', op: '=', value: 0 }), true);
      assert.equal(await holds({ key: missing, target: 'modRevision', op: '=', value: 0 }), true);
      assert.equal(await holds({ key: missing, target: 'createRevision', op: '<', value: 1 }), true);
      assert.equal(await holds({ key: missing, target: 'value', op: '=', value: '' }), false, 'a value compare on a missing key is false');
      assert.equal(await holds({ key: missing, target: 'value', op: '!=', value: 'x' }), false, 'even with !=');
      assert.equal(await holds({ key: `${p}k`, target: 'version', op: '=', value: 2 }), true);
      assert.equal(await holds({ key: `${p}k`, target: 'version', op: '>', value: 1 }), true);
      assert.equal(await holds({ key: `${p}k`, target: 'version', op: '<', value: 2 }), false);
      assert.equal(await holds({ key: `${p}k`, target: 'version', op: '!=', value: 2 }), false);
      assert.equal(await holds({ key: `${p}k`, target: 'value', op: '>', value: 'a' }), true);
      assert.equal(await holds({ key: `${p}k`, target: 'value', op: '<', value: 'n' }), true);
      assert.equal(await holds({ key: `${p}k`, target: 'value', op: '!=', value: 'm' }), false);
      // All compares must hold.
      const both = await store.txn({
        compare: [
          { key: `${p}k`, target: 'value', op: '=', value: 'm' },
          { key: missing, target: 'version', op: '>', value: 0 },
        ],
        success: [],
      });
      assert.equal(both.succeeded, false);
    });

    test('the failure branch runs and writes in one revision', async () => {
      const r0 = await store.revision();
      const res = await store.txn({
        compare: [{ key: `${p}flag`, target: 'version', op: '>', value: 0 }],
        success: [{ type: 'put', key: `${p}ok`, value: 'success' }],
        failure: [
          { type: 'put', key: `${p}flag`, value: 'set' },
          { type: 'put', key: `${p}why`, value: 'failure' },
          { type: 'get', key: `${p}flag` },
        ],
      });
      assert.equal(res.succeeded, false);
      assert.equal(res.revision, r0 + 1);
      assert.equal(res.results.length, 3);
      assert.equal(res.results[0], undefined);
      assert.equal(res.results[2]![0]!.value, 'set', 'reads in a txn see its earlier writes');
      assert.equal(res.results[2]![0]!.modRevision, r0 + 1);
      assert.equal(await store.get(`${p}ok`), undefined);
      assert.equal((await store.get(`${p}why`))!.value, 'failure');
    });

    test('a txn that fails part-way leaves nothing behind', async () => {
      await store.put(`${p}a`, 'before');
      const r0 = await store.revision();
      await rejectsWithCode(
        store.txn({
          compare: [],
          success: [
            { type: 'put', key: `${p}a`, value: 'after' },
            { type: 'delete', key: `${p}zzz` },
            { type: 'put', key: `${p}b`, value: 'x', lease: 'no-such-lease' },
          ],
        }),
        'STORE_LEASE_NOT_FOUND',
      );
      assert.equal(await store.revision(), r0);
      assert.equal((await store.get(`${p}a`))!.value, 'before');
      assert.equal(await store.get(`${p}b`), undefined);
    });

    test('a txn branch may not write a key twice', async () => {
      await rejectsWithCode(
        store.txn({ compare: [], success: [{ type: 'put', key: `${p}a`, value: '1' }, { type: 'put', key: `${p}a`, value: '2' }] }),
        'STORE_TXN_DUPLICATE_KEY',
      );
      await rejectsWithCode(
        store.txn({ compare: [], success: [{ type: 'deletePrefix', prefix: p }, { type: 'put', key: `${p}a`, value: '2' }] }),
        'STORE_TXN_DUPLICATE_KEY',
      );
      const ok = await store.txn({ compare: [], success: [{ type: 'delete', key: `${p}a` }, { type: 'delete', key: `${p}a` }] });
      assert.equal(ok.succeeded, true, 'deleting a key twice is allowed');
    });

    test('range: prefix bounds and byte order', async () => {
      const keys = [`${p}b`, `${p}a/2`, `${p}a`, `${p}a/10`, `${p}a/1`, `${p}é`, `${p}Z`, `${p}a0`, `${p}~`, `${p}a/`];
      for (const k of keys) await store.put(k, k);
      await store.put(p.slice(0, -1), 'outside'); // the prefix without its slash
      await store.put(`${p.slice(0, -1)}0`, 'outside');
      const all = await store.range(p);
      assert.deepEqual(all.map((kv) => kv.key), [...keys].sort(byteOrder));
      const a = await store.range(`${p}a/`);
      assert.deepEqual(a.map((kv) => kv.key), [`${p}a/`, `${p}a/1`, `${p}a/10`, `${p}a/2`]);
      assert.deepEqual(await store.range(`${p}nothing`), []);
      const everything = await store.range('');
      assert.ok(everything.length >= keys.length + 2);
      for (let i = 1; i < everything.length; i++) assert.ok(byteOrder(everything[i - 1]!.key, everything[i]!.key) < 0, 'range("") is sorted');
      const viaTxn = await store.txn({ compare: [], success: [{ type: 'range', prefix: `${p}a/` }] });
      assert.deepEqual(viaTxn.results[0], a);
    });

    test('deletePrefix: only the prefix, one revision, and never the empty prefix', async () => {
      for (const k of ['x/1', 'x/2', 'x/3', 'y']) await store.put(`${p}${k}`, k);
      const r0 = await store.revision();
      const res = await store.deletePrefix(`${p}x/`);
      assert.deepEqual(res, { revision: r0 + 1, deleted: 3 });
      assert.deepEqual((await store.range(p)).map((kv) => kv.key), [`${p}y`]);
      assert.deepEqual(await store.deletePrefix(`${p}x/`), { revision: r0 + 1, deleted: 0 });
      await rejectsWithCode(store.deletePrefix(''), 'STORE_PREFIX_EMPTY');
      assert.equal((await store.get(`${p}y`))!.value, 'y');
    });

    test('watch: per-revision batches in order, prefix filter, prevKv and delete kvs', async () => {
      const rec = new Recorder();
      const w = await store.watch(`${p}w/`, {}, rec.listener);
      const { revision: r1 } = await store.put(`${p}w/a`, '1');
      await store.put(`${p}other`, 'not watched');
      const multi = await store.txn({ compare: [], success: [{ type: 'put', key: `${p}w/a`, value: '2' }, { type: 'put', key: `${p}w/b`, value: '1' }] });
      const del = await store.delete(`${p}w/a`);
      await store.deletePrefix(`${p}w/`);
      await rec.waitForEvents(5);
      assert.deepEqual(rec.batches.map((b) => b.map(summary)), [
        [`put ${p}w/a@${r1}`],
        [`put ${p}w/a@${multi.revision}`, `put ${p}w/b@${multi.revision}`],
        [`delete ${p}w/a@${del.revision}`],
        [`delete ${p}w/b@${del.revision + 1}`],
      ]);
      const [first, update, , deletion] = rec.events;
      assert.equal(first!.prevKv, undefined);
      assert.deepEqual(update!.prevKv, { key: `${p}w/a`, value: '1', createRevision: r1, modRevision: r1, version: 1 });
      assert.equal(update!.kv.version, 2);
      assert.equal(deletion!.kv.value, '');
      assert.equal(deletion!.kv.version, 0);
      assert.equal(deletion!.prevKv!.value, '2');
      await w.close();
      await store.put(`${p}w/c`, 'after close');
      await flush();
      assert.equal(rec.events.length, 5, 'a closed watcher gets nothing more');
    });

    test('watch from a revision replays history, then continues live without gaps', async () => {
      const { revision: r1 } = await store.put(`${p}h/a`, '1');
      const { revision: r2 } = await store.put(`${p}h/b`, '1');
      await store.put(`${p}h/a`, '2');
      const rec = new Recorder();
      const w = await store.watch(`${p}h/`, { fromRevision: r2 }, rec.listener);
      const { revision: r4 } = await store.put(`${p}h/c`, '1');
      await rec.waitForEvents(3);
      await flush();
      assert.deepEqual(rec.events.map(summary), [`put ${p}h/b@${r2}`, `put ${p}h/a@${r2 + 1}`, `put ${p}h/c@${r4}`]);
      await w.close();
      const all = new Recorder();
      const w2 = await store.watch(`${p}h/`, { fromRevision: r1 }, all.listener);
      await all.waitForEvents(4);
      assert.deepEqual(all.events.map((e) => e.kv.modRevision), [r1, r2, r2 + 1, r4]);
      await w2.close();
    });

    test('compaction: history before the compact revision is gone', async () => {
      const { revision: r1 } = await store.put(`${p}c`, '1');
      const { revision: r2 } = await store.put(`${p}c`, '2');
      await store.put(`${p}c`, '3');
      await store.compact(r2);
      await rejectsWithCode(store.watch(`${p}`, { fromRevision: r1 }, () => {}), 'STORE_REVISION_COMPACTED');
      const rec = new Recorder();
      const w = await store.watch(p, { fromRevision: r2 }, rec.listener);
      await rec.waitForEvents(2);
      assert.deepEqual(rec.events.map((e) => e.kv.value), ['2', '3']);
      await w.close();
      await store.compact(r1); // already compacted: success
      await rejectsWithCode(store.compact((await store.revision()) + 10), 'STORE_REVISION_INVALID');
    });

    test('lease expiry deletes its keys with delete events', async () => {
      const lease = await store.grantLease(1);
      const rec = new Recorder();
      const w = await store.watch(`${p}l/`, {}, rec.listener);
      await store.put(`${p}l/a`, '1', { lease });
      await store.put(`${p}l/b`, '1', { lease });
      await store.put(`${p}l/keep`, 'no lease');
      assert.equal((await store.get(`${p}l/a`))!.lease, lease);
      const events = await rec.waitForEvents(5, 'the lease to expire');
      const deletes = events.filter((e) => e.type === 'delete');
      assert.deepEqual(deletes.map((e) => e.kv.key).sort(), [`${p}l/a`, `${p}l/b`]);
      assert.equal(deletes[0]!.kv.modRevision, deletes[1]!.kv.modRevision, 'one revision for the whole lease');
      assert.equal(deletes[0]!.prevKv!.lease, lease);
      assert.deepEqual((await store.range(`${p}l/`)).map((kv) => kv.key), [`${p}l/keep`]);
      await rejectsWithCode(store.keepAlive(lease), 'STORE_LEASE_NOT_FOUND');
      await rejectsWithCode(store.put(`${p}l/c`, '1', { lease }), 'STORE_LEASE_NOT_FOUND');
      await w.close();
    });

    test('keepAlive holds a lease past its TTL; revoke deletes its keys', async () => {
      const lease = await store.grantLease(1);
      await store.put(`${p}k/a`, '1', { lease });
      await store.put(`${p}k/b`, '1', { lease });
      await store.put(`${p}k/detached`, '1', { lease });
      await store.put(`${p}k/detached`, '2'); // a put without lease detaches the key
      assert.equal((await store.get(`${p}k/detached`))!.lease, undefined);
      const until = Date.now() + 2_500;
      while (Date.now() < until) {
        await store.keepAlive(lease);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal((await store.range(`${p}k/`)).length, 3, 'kept alive past its 1 s TTL');
      const rec = new Recorder();
      const w = await store.watch(`${p}k/`, {}, rec.listener);
      const r0 = await store.revision();
      await store.revokeLease(lease);
      const events = await rec.waitForEvents(2);
      assert.deepEqual(events.map((e) => `${e.type} ${e.kv.key}`).sort(), [`delete ${p}k/a`, `delete ${p}k/b`]);
      assert.equal(rec.batches.length, 1, 'one revision');
      assert.equal(events[0]!.kv.modRevision, r0 + 1);
      assert.deepEqual((await store.range(`${p}k/`)).map((kv) => kv.key), [`${p}k/detached`]);
      await rejectsWithCode(store.keepAlive(lease), 'STORE_LEASE_NOT_FOUND');
      await store.revokeLease(lease); // already gone: success
      await w.close();
    });

    test('reopen: data, revision, leases and history persist', async () => {
      const lease = await store.grantLease(60);
      const { revision: r1 } = await store.put(`${p}persist`, 'v1');
      await store.txn({ compare: [], success: [{ type: 'put', key: `${p}persist`, value: 'v2' }, { type: 'put', key: `${p}leased`, value: 'x', lease }] });
      const before = await store.range(p);
      const rev = await store.revision();
      await store.close();
      store = await open();
      assert.equal(await store.revision(), rev);
      assert.deepEqual(await store.range(p), before);
      await store.keepAlive(lease);
      const rec = new Recorder();
      const w = await store.watch(p, { fromRevision: r1 }, rec.listener);
      await rec.waitForEvents(3);
      assert.deepEqual(rec.events.map((e) => e.kv.value), ['v1', 'v2', 'x']);
      await w.close();
      await store.revokeLease(lease);
      assert.equal(await store.get(`${p}leased`), undefined);
    });

    test('invalid requests are rejected with their codes', async () => {
      await rejectsWithCode(store.put('', 'v'), 'STORE_KEY_INVALID');
      await rejectsWithCode(store.get(''), 'STORE_KEY_INVALID');
      await rejectsWithCode(store.put(`${p}k`, 42 as unknown as string), 'STORE_VALUE_INVALID');
      await rejectsWithCode(store.grantLease(0), 'STORE_LEASE_TTL_INVALID');
      await rejectsWithCode(store.grantLease(1.5), 'STORE_LEASE_TTL_INVALID');
      await rejectsWithCode(
        store.txn({ compare: [{ key: `${p}k`, target: 'version', op: '=', value: 'one' }], success: [] }),
        'STORE_TXN_INVALID',
      );
      await rejectsWithCode(store.txn({ compare: [], success: [{ type: 'frobnicate' } as never] }), 'STORE_TXN_INVALID');
    });

    test('a closed store refuses work', async () => {
      await store.close();
      await rejectsWithCode(store.get(`${p}k`), 'STORE_CLOSED');
      await rejectsWithCode(store.put(`${p}k`, 'v'), 'STORE_CLOSED');
      await store.close(); // idempotent
    });
  });
}

