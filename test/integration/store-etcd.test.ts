/**
 * The etcd backend against a real etcd (Debian's etcd-server, started by the test on
 * 127.0.0.1 with free ports and a private data dir): the shared conformance suite, then
 * what only a networked store has to survive: etcd stopped or hung mid-test, a watch
 * across a reconnect, a watch whose resume revision was compacted meanwhile.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore, leaseFromHex, prefixRangeEnd } from '../../src/store/etcd-store.js';
import type { Store, WatchEvent } from '../../src/store/contract.js';
import type { SwitchyardError } from '../../src/errors.js';
import { httpStatusOf } from '../../src/api/http-status.js';
import { storeConformance } from '../helpers/store-conformance.js';
import { etcdPerFile, tcpCut, type TcpCut } from '../helpers/etcd.js';
import { waitFor } from '../helpers/netns.js';

const etcd = etcdPerFile();
const PREFIX = `/swy-test-${process.pid}`;

/** A watching store and a writer on one prefix, and what the watcher received or reported. */
interface WatchBench {
  store: Store;
  writer: Store;
  /** The cuttable link between the watching store and etcd (the writer goes direct); set only on a cuttable bench. */
  proxy: TcpCut;
  seen: WatchEvent[][];
  errors: SwitchyardError[];
}

/** Runs body on a fresh WatchBench under `${PREFIX}-${tag}`, then empties the prefix and closes everything. */
async function withWatchBench(tag: string, cuttable: boolean, body: (b: WatchBench) => Promise<void>): Promise<void> {
  const proxy = cuttable ? await tcpCut(etcd().endpoints[0]!) : undefined;
  const store = await openEtcdStore({ endpoints: proxy ? [proxy.url] : etcd().endpoints, prefix: `${PREFIX}-${tag}` });
  const writer = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-${tag}` });
  try {
    await body({ store, writer, proxy: proxy!, seen: [], errors: [] });
  } finally {
    await writer.deletePrefix('/');
    await writer.close();
    await store.close();
    await proxy?.close();
  }
}

storeConformance(
  'etcd',
  () => openEtcdStore({ endpoints: etcd().endpoints, prefix: PREFIX }),
  async () => {
    const s = await openEtcdStore({ endpoints: etcd().endpoints, prefix: PREFIX });
    await s.deletePrefix('/');
    await s.close();
  },
);

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<SwitchyardError> {
  let caught: SwitchyardError | undefined;
  await assert.rejects(p, (err: SwitchyardError) => {
    caught = err;
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    return true;
  });
  return caught!;
}

/** How long `fn` takes to settle, in ms, and how it settled. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: SwitchyardError }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error: error as SwitchyardError };
  }
}

describe('etcd backend: encoding', () => {
  test('prefix range ends and lease ids', () => {
    assert.deepEqual(prefixRangeEnd(Buffer.from('/a/')), Buffer.from('/a0'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]));
    assert.equal(leaseFromHex('694d7b1b4b1c2a05'), BigInt('0x694d7b1b4b1c2a05').toString());
    assert.equal(leaseFromHex('no-such-lease'), undefined);
    assert.equal(leaseFromHex('ffffffffffffffff'), undefined, 'beyond int64');
  });

  test('bad options are refused with STORE_OPTION_INVALID', async () => {
    await rejectsWithCode(openEtcdStore({ endpoints: [] }), 'STORE_OPTION_INVALID');
    await rejectsWithCode(openEtcdStore({ endpoints: ['127.0.0.1:2379'] }), 'STORE_OPTION_INVALID');
    await rejectsWithCode(openEtcdStore({ endpoints: etcd().endpoints, requestTimeoutMs: 0 }), 'STORE_OPTION_INVALID');
  });

  test('keys live under the prefix, and nothing outside it is seen', async () => {
    const a = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-a` });
    const b = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-b` });
    try {
      await a.put('/k', 'from a');
      await b.put('/k', 'from b');
      assert.equal((await a.get('/k'))!.value, 'from a');
      assert.deepEqual((await b.range('')).map((kv) => kv.key), ['/k']);
      await b.deletePrefix('/');
      assert.equal((await a.get('/k'))!.value, 'from a');
    } finally {
      await a.deletePrefix('/');
      await a.close();
      await b.close();
    }
  });
});

describe('etcd backend: etcd limits', () => {
  test("a txn beyond etcd's --max-txn-ops or --max-request-bytes is refused as invalid, and changes nothing", async () => {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-limits` });
    try {
      const r0 = await store.revision();
      const many = Array.from({ length: 129 }, (_, i) => ({ type: 'put' as const, key: `/k/${i}`, value: 'v' }));
      await rejectsWithCode(store.txn({ compare: [], success: many }), 'STORE_TXN_INVALID');
      const big = 'x'.repeat(1024 * 1024); // each value within the contract's 1 MiB, the request not within etcd's 1.5 MiB
      await rejectsWithCode(
        store.txn({ compare: [], success: [{ type: 'put', key: '/big/a', value: big }, { type: 'put', key: '/big/b', value: big }] }),
        'STORE_VALUE_INVALID',
      );
      const over = 'x'.repeat(800 * 1024); // 1.6 MiB in all: past etcd's limit, within gRPC's
      await rejectsWithCode(
        store.txn({ compare: [], success: [{ type: 'put', key: '/big/a', value: over }, { type: 'put', key: '/big/b', value: over }] }),
        'STORE_VALUE_INVALID',
      );
      assert.equal(await store.revision(), r0);
      await store.put('/big/a', big); // one 1 MiB value is fine
      assert.equal((await store.get('/big/a'))!.value.length, big.length);
    } finally {
      await store.deletePrefix('/');
      await store.close();
    }
  });
});

describe('etcd backend: failures', () => {
  test('etcd killed: calls fail fast with STORE_UNREACHABLE, and work again once it is back', async () => {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-down` });
    const member = etcd().members[0]!;
    try {
      await store.put('/before', '1');
      const lease = await store.grantLease(60);
      await member.kill();
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get('/before')],
        ['put', () => store.put('/during', '1')],
        ['txn', () => store.txn({ compare: [{ key: '/ip', target: 'createRevision', op: '=', value: 0 }], success: [{ type: 'put', key: '/ip', value: 'e' }] })],
        ['keepAlive', () => store.keepAlive(lease)],
        ['grantLease', () => store.grantLease(5)],
        ['watch', () => store.watch('/', {}, () => {})],
      ];
      const took: string[] = [];
      for (const [name, call] of calls) {
        const r = await timed(call);
        assert.equal(r.error?.code, 'STORE_UNREACHABLE', `${name}: ${r.error?.message ?? 'succeeded'}`);
        assert.equal(r.error?.kind, 'unavailable');
        assert.equal(httpStatusOf(r.error!), 503, 'the API answers 503');
        took.push(`${name} ${r.ms.toFixed(1)} ms`);
        assert.ok(r.ms < 1_000, `${name} failed fast (${r.ms.toFixed(0)} ms)`);
      }
      console.log(`# etcd down, time to fail: ${took.join(', ')}`);
      await member.start();
      const back = await timed(() => waitFor(() => store.put('/after', '1'), 'a put to succeed again', 10_000, 20));
      console.log(`# etcd answering again → first successful put after ${back.ms.toFixed(0)} ms`);
      assert.ok(back.ms < 2_000, `recovered within 2 s (${back.ms.toFixed(0)} ms)`);
      assert.equal((await store.get('/before'))!.value, '1');
      assert.equal(await store.get('/during'), undefined, 'the failed put did not happen');
      assert.equal(await store.get('/ip'), undefined, 'the failed txn did not happen');
      await store.keepAlive(lease);
      await store.revokeLease(lease);
    } finally {
      await member.start();
      await store.deletePrefix('/');
      await store.close();
    }
  });

  test('etcd hung (SIGSTOP): calls fail with STORE_UNREACHABLE at the request deadline', async () => {
    const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix: `${PREFIX}-hung`, requestTimeoutMs: 500 });
    const member = etcd().members[0]!;
    try {
      await store.put('/before', '1');
      await member.pause();
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get('/before')],
        ['put', () => store.put('/during', '1')],
      ];
      for (const [name, call] of calls) {
        const r = await timed(call);
        assert.equal(r.error?.code, 'STORE_UNREACHABLE', `${name}: ${r.error?.message ?? 'succeeded'}`);
        assert.ok(r.ms >= 450 && r.ms < 2_000, `${name} failed at the 500 ms deadline, give or take a loaded event loop (${r.ms.toFixed(0)} ms)`);
      }
      member.resume();
      await waitFor(() => store.get('/before'), 'etcd to answer again', 10_000);
    } finally {
      member.resume();
      await store.deletePrefix('/');
      await store.close();
    }
  });

  test('a watch resumes after etcd restarts without losing or repeating events', async () => {
    const member = etcd().members[0]!;
    await withWatchBench('resume', false, async ({ store, writer, seen, errors }) => {
      const w = await store.watch('/w/', { onError: (e) => errors.push(e) }, (events) => seen.push(events));
      const revs: number[] = [];
      for (let i = 0; i < 5; i++) revs.push((await writer.put(`/w/${i}`, 'a')).revision);
      await waitFor(() => seen.length === 5, 'the first 5 events');
      await member.stop();
      await member.start();
      // Written while the watcher's stream is still re-connecting (its backoff is running).
      const writes = (await waitFor(() => writer.txn({ compare: [], success: [{ type: 'put', key: '/w/5', value: 'b' }, { type: 'put', key: '/w/6', value: 'b' }] }), 'etcd back', 10_000)).revision;
      revs.push(writes);
      for (let i = 7; i < 10; i++) revs.push((await writer.put(`/w/${i}`, 'c')).revision);
      await waitFor(() => seen.length === 9, 'every event after the restart', 10_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen.map((b) => b[0]!.kv.modRevision), revs, 'each revision once, in order');
      assert.deepEqual(seen[5]!.map((e) => e.kv.key), ['/w/5', '/w/6'], 'one batch per revision after the resume too');
      assert.deepEqual(errors, []);
      await w.close();
    });
  });

  test('a watch cut off from etcd resumes from its next revision: nothing lost, nothing repeated', async () => {
    await withWatchBench('cut', true, async ({ store, writer, proxy, seen, errors }) => {
      const w = await store.watch('/w/', { onError: (e) => errors.push(e) }, (events) => seen.push(events));
      const revs = [(await writer.put('/w/a', '1')).revision];
      await waitFor(() => seen.length === 1, 'the first event');
      await proxy.cut();
      for (let i = 0; i < 5; i++) revs.push((await writer.put(`/w/${i}`, 'while away')).revision);
      await writer.delete('/w/a');
      revs.push(await writer.revision());
      await new Promise((r) => setTimeout(r, 300)); // the watcher retries and is refused meanwhile
      assert.equal(seen.length, 1, 'nothing arrives while cut off');
      await proxy.restore();
      await waitFor(() => seen.length === revs.length, 'the events written while away', 5_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen.map((b) => b[0]!.kv.modRevision), revs, 'each revision once, in order');
      assert.equal(seen.at(-1)![0]!.type, 'delete');
      assert.equal(seen.at(-1)![0]!.prevKv!.value, '1');
      assert.deepEqual(errors, []);
      await w.close();
    });
  });

  test('a watch with prevKv: false gets no previous state from etcd, also after a reconnect; the default still does', async () => {
    await withWatchBench('noprev', true, async ({ store, writer, proxy, seen, errors }) => {
      const withPrev: WatchEvent[][] = [];
      const w = await store.watch('/p/', { prevKv: false, onError: (e) => errors.push(e) }, (events) => seen.push(events));
      const control = await writer.watch('/p/', {}, (events) => withPrev.push(events));
      await writer.put('/p/a', '1');
      await writer.put('/p/a', '2');
      await waitFor(() => seen.length === 2 && withPrev.length === 2, 'the two puts');
      await proxy.cut();
      await writer.delete('/p/a');
      await proxy.restore();
      await waitFor(() => seen.length === 3 && withPrev.length === 3, 'the delete, after the reconnect', 5_000);
      assert.deepEqual(seen.map((b) => [b[0]!.type, b[0]!.kv.value]), [['put', '1'], ['put', '2'], ['delete', '']]);
      assert.deepEqual(seen.map((b) => b[0]!.prevKv), [undefined, undefined, undefined], 'no previous state asked for, none sent');
      // Control: the same events on a default watch carry it, so the assertion above is not vacuous.
      assert.deepEqual(withPrev.map((b) => b[0]!.prevKv?.value), [undefined, '1', '2']);
      await rejectsWithCode(store.watch('/p/', { prevKv: 'no' as unknown as boolean }, () => undefined), 'STORE_OPTION_INVALID');
      assert.deepEqual(errors, []);
      await w.close();
      await control.close();
    });
  });

  test('a watch whose resume revision was compacted while it was away ends with STORE_REVISION_COMPACTED', async () => {
    await withWatchBench('compact', true, async ({ store, writer, proxy, seen, errors }) => {
      await store.watch('/c/', { onError: (e) => errors.push(e) }, (events) => seen.push(events));
      const { revision: r1 } = await writer.put('/c/a', '1');
      await waitFor(() => seen.length === 1, 'the first event');
      await proxy.cut();
      await writer.put('/c/b', '2');
      await writer.put('/c/b', '3');
      await writer.compact(await writer.revision());
      await proxy.restore();
      const err = await waitFor(() => errors[0], 'the resync error', 5_000);
      assert.equal(err.code, 'STORE_REVISION_COMPACTED');
      assert.equal(err.kind, 'conflict');
      assert.match(err.message, new RegExp(`revision ${r1 + 1} has been compacted`));
      await writer.put('/c/c', '4');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(seen.length, 1, 'an ended watch delivers nothing more (no silent gap)');
      assert.equal(errors.length, 1);
      // The caller's resync: a full read and a watch from its revision + 1.
      const snap = await store.txn({ compare: [], success: [{ type: 'range', prefix: '/c/' }] });
      assert.deepEqual(snap.results[0]!.map((kv) => kv.value), ['1', '3', '4']);
      const again: WatchEvent[][] = [];
      const w = await store.watch('/c/', { fromRevision: snap.revision + 1 }, (events) => again.push(events));
      const { revision: r5 } = await writer.put('/c/d', '5');
      await waitFor(() => again.length === 1, 'the resynced watch');
      assert.equal(again[0]![0]!.kv.modRevision, r5);
      await w.close();
      // Asking for compacted history up front is refused at once.
      await rejectsWithCode(store.watch('/c/', { fromRevision: r1 }, () => {}), 'STORE_REVISION_COMPACTED');
    });
  });
});
