/**
 * The etcd backend on a three-member etcd cluster (test/helpers/etcd.ts, all on 127.0.0.1)
 * with one member killed (SIGKILL) under a steady stream of attach-shaped txns and a
 * watcher: what the store user sees. A killed follower: nothing (every call succeeds). A
 * killed leader: calls fail with STORE_UNREACHABLE until the survivors elect a new leader
 * (the window is measured), never half-applied; the watcher misses nothing.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { WatchEvent } from '../../src/store/contract.js';
import type { SwitchyardError } from '../../src/errors.js';
import { etcdPerFile, type EtcdMember } from '../helpers/etcd.js';
import { waitFor } from '../helpers/netns.js';

const etcd = etcdPerFile({ size: 3 });
// Whatever a test killed is back before the next one: each starts with three members.
afterEach(async () => {
  for (const m of etcd().members) if (m.pid() === undefined) await m.start();
});
interface Outcome {
  acked: Map<string, number>;
  failures: SwitchyardError[];
  /** When each failed call started, ms after the victim's exit was seen (negative: before it). */
  failedAt: number[];
  /** From the first failed call to the next success, ms (0 if none failed). */
  window: number;
}

/** Runs attach-shaped txns back to back for `ms`, killing `victim` after `killAfterMs`. */
async function workload(prefix: string, victim: () => Promise<EtcdMember>, ms: number, killAfterMs: number): Promise<Outcome> {
  const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, requestTimeoutMs: 1_000 });
  const watcher = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
  const seen: WatchEvent[][] = [];
  const watchErrors: SwitchyardError[] = [];
  const w = await watcher.watch('/ipam/', { onError: (e) => watchErrors.push(e) }, (events) => seen.push(events));
  const acked = new Map<string, number>();
  const failures: SwitchyardError[] = [];
  const failedAt: number[] = [];
  let killedAt = 0;
  let firstFailure = 0;
  let window = 0;
  const kill = (async () => {
    await new Promise((r) => setTimeout(r, killAfterMs));
    const m = await victim();
    await m.kill();
    // The member is dead from here: its exit has been reaped. (SIGKILL is not instant: the
    // kernel tears the process down, and its connections break, a few ms after the signal.)
    killedAt = Date.now();
  })();
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const key = `/ipam/net/10.0.${i >> 8}.${i & 255}`;
    const started = Date.now();
    try {
      const res = await store.txn({
        compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
        success: [{ type: 'put', key, value: `ep${i}` }, { type: 'put', key: `/endpoints/ep${i}`, value: key }],
      });
      assert.equal(res.succeeded, true);
      acked.set(key, res.revision);
      if (firstFailure && !window) window = Date.now() - firstFailure;
    } catch (err) {
      const e = err as SwitchyardError;
      failures.push(e);
      failedAt.push(killedAt ? started - killedAt : -1);
      if (!firstFailure) firstFailure = Date.now();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await kill;
  // Every acknowledged txn is there, whole; an unacknowledged one is whole or absent.
  const ipam = new Map((await store.range('/ipam/')).map((kv) => [kv.key, kv]));
  const endpoints = new Map((await store.range('/endpoints/')).map((kv) => [kv.value, kv]));
  for (const [key, rev] of acked) {
    assert.equal(ipam.get(key)?.modRevision, rev, `acknowledged claim ${key}`);
    assert.equal(endpoints.get(key)?.modRevision, rev, `its endpoint`);
  }
  for (const [key, kv] of ipam) assert.equal(endpoints.get(key)?.modRevision, kv.modRevision, `claim ${key} and its endpoint together`);
  // The watcher saw every claim, each revision once, in order, across the member's death.
  await waitFor(() => seen.flat().length >= ipam.size, 'the watcher to catch up', 10_000);
  const revs = seen.map((b) => b[0]!.kv.modRevision);
  assert.deepEqual(revs, [...revs].sort((x, y) => x - y), 'in order');
  assert.equal(new Set(revs).size, revs.length, 'no repeats');
  assert.deepEqual(new Set(seen.flat().map((e) => e.kv.key)), new Set(ipam.keys()), 'no gaps');
  assert.deepEqual(watchErrors, []);
  await w.close();
  await store.deletePrefix('/');
  await store.close();
  await watcher.close();
  return { acked, failures, failedAt, window };
}

const IN_FLIGHT_GRACE_MS = 25;

test('three members, a follower killed under load: at most the call in flight on it fails', async (t) => {
  const leader = await etcd().leader();
  const follower = etcd().members.find((m) => m !== leader)!;
  const out = await workload(`/swy-cluster-f-${process.pid}`, async () => follower, 3_000, 1_000);
  t.diagnostic(`follower killed: ${out.acked.size} txns acknowledged, ${out.failures.length} failed${out.failures.map((e, i) => ` (${out.failedAt[i]} ms after the kill: ${e.message})`).join('')}`);
  // A call already sent to the member when it dies may or may not have been applied: it is
  // reported (STORE_UNREACHABLE), never retried blindly. Every later call goes elsewhere.
  assert.ok(out.failures.length <= 1, `${out.failures.length} failed calls`);
  for (const [i, e] of out.failures.entries()) {
    assert.equal(e.code, 'STORE_UNREACHABLE', e.message);
    // In flight at the death: started before the exit was reaped, or in the same few ms, before
    // the client had processed the broken connection (both reach it through one event loop).
    assert.ok(out.failedAt[i]! <= IN_FLIGHT_GRACE_MS, `the failed call was in flight at the kill (started ${out.failedAt[i]} ms after the exit was seen)`);
  }
  assert.ok(out.acked.size > 50);
});

test('three members, the leader killed under load: STORE_UNREACHABLE only until a new leader is elected', async (t) => {
  const out = await workload(`/swy-cluster-l-${process.pid}`, () => etcd().leader(), 5_000, 1_000);
  const codes = [...new Set(out.failures.map((e) => e.code))];
  t.diagnostic(`leader killed: ${out.acked.size} txns acknowledged, ${out.failures.length} failed (${codes.join(', ') || 'none'}), unavailable for ${out.window} ms`);
  for (const e of new Set(out.failures.map((e) => e.message))) t.diagnostic(`  ${e}`);
  for (const e of out.failures) assert.equal(e.code, 'STORE_UNREACHABLE', e.message);
  assert.ok(out.window < 5_000, `writes resumed within 5 s (${out.window} ms)`);
});
