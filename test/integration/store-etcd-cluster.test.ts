/**
 * The etcd backend on a three-member etcd cluster (test/helpers/etcd.ts, all on 127.0.0.1)
 * with one member killed (SIGKILL) under a steady stream of attach- and detach-shaped txns
 * from several clients, and a watcher: what the store user sees.
 *
 * - A killed follower: nothing. A call in flight on it has an unknown outcome; the store
 *   settles it (src/store/etcd-settle.ts): the attach (claims create-only) and the detach
 *   (compares its endpoint present) are sent again, and a resend that fails its compare
 *   shows the original applied. The control run (settling off, the store's behaviour before
 *   it) shows such calls exist: it fails some.
 * - A killed leader: calls wait for the new one; a call fails only once its deadline
 *   (`requestTimeoutMs`) passed, with STORE_UNREACHABLE. The window without any completed
 *   write is measured.
 * - Always: every acknowledged write is there, an unacknowledged one is whole or absent, and
 *   the watcher's replay of events equals the final state (no gap, no repeat, in order).
 *
 * SWY_ETCD_KILL_RUNS=N repeats the follower test N times (docs/RELIABILITY.md "Cluster").
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore, type SettledHow } from '../../src/store/etcd-store.js';
import type { KeyValue, WatchEvent } from '../../src/store/contract.js';
import type { SwitchyardError } from '../../src/errors.js';
import { etcdPerFile, type EtcdMember } from '../helpers/etcd.js';
import { waitFor } from '../helpers/netns.js';

const etcd = etcdPerFile({ size: 3 });
// Whatever a test killed is back before the next one: each starts with three members.
afterEach(async () => {
  for (const m of etcd().members) if (m.pid() === undefined) await m.start();
});

interface Call {
  kind: 'attach' | 'detach';
  /** ms after the kill (negative: before it). */
  start: number;
  end: number;
  error?: SwitchyardError;
}

interface Outcome {
  calls: Call[];
  failures: Call[];
  settled: Map<SettledHow, number>;
  /** Longest time without a completed call anywhere, ms (the unavailability window). */
  window: number;
  killedAt: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `workers` clients (each its own store) run attach/detach txns back to back for `ms`;
 * `victim` is killed after `killAfterMs`. Attach: claim an address create-only (value: the
 * endpoint), put the endpoint, bump the network's usage key. Detach (every other attach):
 * delete both, bump the usage key; it compares that the network and the endpoint exist (the
 * engine's txns, src/engine/state.ts commitShared).
 */
async function workload(
  t: { diagnostic(msg: string): void },
  prefix: string,
  victim: () => Promise<EtcdMember>,
  opts: { ms: number; killAfterMs: number; workers: number; settle?: boolean; requestTimeoutMs?: number },
): Promise<Outcome> {
  const settled = new Map<SettledHow, number>();
  const open = () =>
    openEtcdStore({
      endpoints: etcd().endpoints,
      prefix,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1_000,
      settle: opts.settle,
      onSettled: (how) => settled.set(how, (settled.get(how) ?? 0) + 1),
    });
  const stores = await Promise.all(Array.from({ length: opts.workers }, open));
  const watcher = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
  await stores[0]!.put('/networks/net', 'n');
  const seen: WatchEvent[][] = [];
  const watchErrors: SwitchyardError[] = [];
  const w = await watcher.watch('/ipam/', { onError: (e) => watchErrors.push(e) }, (events) => seen.push(events));
  const calls: Call[] = [];
  const attached = new Map<string, number>(); // acknowledged attach: claim key → revision
  const detached = new Set<string>(); // acknowledged detach
  const undecided = new Set<string>(); // detach failed: the claim is there or not
  let killedAt = 0;
  const t0 = Date.now();
  const kill = (async () => {
    await pause(opts.killAfterMs);
    const m = await victim();
    killedAt = Date.now();
    await m.kill();
  })();
  const end = t0 + opts.ms;
  const run = async (store: (typeof stores)[number], wi: number) => {
    for (let i = 0; Date.now() < end; i++) {
      const key = `/ipam/net/10.${wi}.${i >> 8}.${i & 255}`;
      const ep = `/endpoints/w${wi}e${i}`;
      const call = async (kind: Call['kind'], fn: () => Promise<void>) => {
        const c: Call = { kind, start: Date.now(), end: 0 };
        calls.push(c);
        try {
          await fn();
          return true;
        } catch (err) {
          c.error = err as SwitchyardError;
          return false;
        } finally {
          c.end = Date.now();
        }
      };
      const ok = await call('attach', async () => {
        const res = await store.txn({
          compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
          success: [
            { type: 'get', key },
            { type: 'put', key, value: ep },
            { type: 'put', key: ep, value: key },
            { type: 'put', key: '/usage/net', value: `w${wi}e${i}+` },
          ],
        });
        assert.equal(res.succeeded, true);
        assert.deepEqual(res.results[0], [], 'the get saw the state before the txn');
        attached.set(key, res.revision);
      });
      if (!ok) {
        await pause(20);
        continue;
      }
      if (i % 2 === 0) continue;
      const gone = await call('detach', async () => {
        const res = await store.txn({
          compare: [
            { key: '/networks/net', target: 'createRevision', op: '>', value: 0 },
            { key: ep, target: 'createRevision', op: '>', value: 0 },
          ],
          success: [
            { type: 'get', key: ep },
            { type: 'delete', key: ep },
            { type: 'delete', key },
            { type: 'put', key: '/usage/net', value: `w${wi}e${i}-` },
          ],
        });
        assert.equal(res.succeeded, true);
        assert.equal(res.results[0]?.[0]?.value, key, 'the get saw the endpoint before the txn');
      });
      if (gone) detached.add(key);
      else {
        undecided.add(key);
        await pause(20);
      }
    }
  };
  await Promise.all(stores.map((s, i) => run(s, i)));
  await kill;
  for (const c of calls) {
    c.start -= killedAt;
    c.end -= killedAt;
  }
  const failed = calls.filter((c) => c.error);
  if (failed.length) t.diagnostic(`failed calls:${failed.map((c) => `\n  ${c.kind} started ${c.start} ms after the kill, failed after ${c.end - c.start} ms: ${c.error!.message}`).join('')}`);
  // Every acknowledged write is there, whole; an unacknowledged one is whole or absent.
  const store = stores[0]!;
  const ipam = new Map((await store.range('/ipam/')).map((kv) => [kv.key, kv]));
  const endpoints = new Map((await store.range('/endpoints/')).map((kv) => [kv.value, kv]));
  for (const [key, rev] of attached) {
    if (detached.has(key)) {
      assert.equal(ipam.get(key), undefined, `acknowledged release of ${key}`);
      assert.equal(endpoints.get(key), undefined, `acknowledged removal of its endpoint`);
    } else if (!undecided.has(key)) {
      assert.equal(ipam.get(key)?.createRevision, rev, `acknowledged claim ${key}`);
      assert.equal(endpoints.get(key)?.createRevision, rev, `its endpoint`);
    }
  }
  for (const [key, kv] of ipam) assert.equal(endpoints.get(key)?.createRevision, kv.createRevision, `claim ${key} and its endpoint together`);
  assert.equal(endpoints.size, ipam.size, 'no endpoint without its claim');
  // The watcher saw every change, each revision once, in order, across the member's death:
  // replaying its events gives the final state exactly.
  const rev = await store.revision();
  await waitFor(() => (seen.at(-1)?.[0]?.kv.modRevision ?? 0) >= Math.max(0, ...[...ipam.values()].map((kv) => kv.modRevision)), 'the watcher to catch up', 10_000);
  await pause(200);
  const revs = seen.map((b) => b[0]!.kv.modRevision);
  assert.deepEqual(revs, [...revs].sort((x, y) => x - y), 'in order');
  assert.equal(new Set(revs).size, revs.length, 'no repeats');
  const replay = new Map<string, KeyValue>();
  for (const e of seen.flat()) {
    if (e.type === 'put') replay.set(e.kv.key, e.kv);
    else replay.delete(e.kv.key);
  }
  assert.deepEqual(new Map([...replay].map(([k, kv]) => [k, kv.modRevision])), new Map([...ipam].map(([k, kv]) => [k, kv.modRevision])), `no gaps (at revision ${rev})`);
  assert.deepEqual(watchErrors, []);
  await w.close();
  await store.deletePrefix('/');
  await Promise.all(stores.map((s) => s.close()));
  await watcher.close();
  // The longest stretch without any call completing, from the kill on.
  const ends = calls.filter((c) => !c.error).map((c) => c.end).filter((e) => e >= 0).sort((a, b) => a - b);
  let window = ends[0] ?? opts.ms;
  for (let i = 1; i < ends.length; i++) window = Math.max(window, ends[i]! - ends[i - 1]!);
  return { calls, failures: calls.filter((c) => c.error), settled, window, killedAt };
}

const describe = (out: Outcome) =>
  `${out.calls.length - out.failures.length} calls acknowledged, ${out.failures.length} failed, settled: ${JSON.stringify(Object.fromEntries(out.settled))}, longest gap ${out.window} ms`;

const followerRuns = Number(process.env.SWY_ETCD_KILL_RUNS ?? 1);

for (let run = 1; run <= followerRuns; run++) {
  test(`three members, a follower killed under load: no call fails${followerRuns > 1 ? ` (run ${run})` : ''}`, async (t) => {
    const leader = await etcd().leader();
    const follower = etcd().members.find((m) => m !== leader)!;
    const out = await workload(t, `/swy-cluster-f-${process.pid}-${run}`, async () => follower, { ms: 3_000, killAfterMs: 1_000, workers: 6 });
    t.diagnostic(`follower killed: ${describe(out)}`);
    assert.deepEqual(out.failures.map((c) => c.error!.message), [], 'no call failed');
    assert.ok(out.calls.length > 100);
  });
}

test('control: with settling off, the same kill fails the calls in flight on the follower', async (t) => {
  // Six clients each pick a member at random per call: a kill finds a call in flight on the
  // follower (1 - (2/3)^6 ≈ 91 %); up to three kills are tried.
  let out: Outcome | undefined;
  for (let k = 0; k < 3 && !out?.failures.length; k++) {
    for (const m of etcd().members) if (m.pid() === undefined) await m.start();
    const leader = await etcd().leader();
    const follower = etcd().members.find((m) => m !== leader)!;
    out = await workload(t, `/swy-cluster-c-${process.pid}-${k}`, async () => follower, { ms: 1_500, killAfterMs: 700, workers: 6, settle: false });
    t.diagnostic(`control, kill ${k + 1}: ${describe(out)}`);
  }
  assert.ok(out!.failures.length > 0, 'without settling a call in flight on the killed follower fails');
  for (const c of out!.failures) assert.equal(c.error!.code, 'STORE_UNREACHABLE', c.error!.message);
  assert.deepEqual([...out!.settled.keys()], [], 'nothing settled with settling off');
});

test('three members, the leader killed under load: a call fails only past its deadline', async (t) => {
  const requestTimeoutMs = 2_000; // the daemon's default
  const out = await workload(t, `/swy-cluster-l-${process.pid}`, () => etcd().leader(), { ms: 6_000, killAfterMs: 1_000, workers: 6, requestTimeoutMs });
  t.diagnostic(`leader killed: ${describe(out)}`);
  for (const c of out.failures) {
    assert.equal(c.error!.code, 'STORE_UNREACHABLE', c.error!.message);
    assert.ok(c.end - c.start >= requestTimeoutMs - 50, `a failed call waited for its deadline (${c.end - c.start} ms)`);
  }
  assert.ok(out.window < 5_000, `writes resumed within 5 s (${out.window} ms)`);
});
