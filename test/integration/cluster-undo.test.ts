/**
 * A call told it failed leaves nothing in the shared store (engine/pending-undo.ts,
 * engine/undo-settler.ts), against a real three-member etcd. Engines from the engine harness
 * (fake kernel, memory local store), as in cluster-engine.test.ts.
 *
 * The outcome is made unknown for real: host A talks only to a follower, the leader is
 * stopped (SIGSTOP) so the follower forwards A's attach to it and the 2 s deadline passes
 * (503 STORE_UNREACHABLE), then the leader runs again, still leader (the election timeout is
 * longer than the pause), and commits what it was sent: the write lands after the caller
 * was told it failed. With the undo, the orphan goes and the same connect succeeds, also
 * after a full re-read; the control (`undo: false`, the engine before) keeps the orphan and
 * the re-read makes the retry fail with ENDPOINT_EXISTS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store } from '../../src/store/contract.js';
import { validateNetworkCreate, type NetworkSpec } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { httpStatusOf } from '../../src/api/http-status.js';
import { ClusterNodes } from '../../src/engine/cluster-nodes.js';
import { EngineState } from '../../src/engine/state.js';
import { startClusterSync, type ClusterSync } from '../../src/engine/cluster-sync.js';
import type { UndoOutcome, UndoSettlerOptions } from '../../src/engine/undo-settler.js';
import type { PendingUndo } from '../../src/engine/pending-undo.js';
import type { SwitchyardError } from '../../src/errors.js';
import { makeHarness, type Harness } from '../helpers/engine-harness.js';
import { etcdPerFile, tcpCut } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

// Heartbeats every 200 ms, an election only after 8 s without one: a leader paused ~3 s stays leader.
const etcd = etcdPerFile({ size: 3, args: ['--heartbeat-interval', '200', '--election-timeout', '8000'] });
let seq = 0;

interface Host {
  h: Harness;
  store: Store;
  nodes: ClusterNodes;
  sync: ClusterSync;
  settled: { p: PendingUndo; how: UndoOutcome; at: number }[];
  looks: { id: string; found: string }[];
}

async function host(prefix: string, i: number, endpoints: string[], undo: boolean | UndoSettlerOptions): Promise<Host> {
  const store = await openEtcdStore({ endpoints, prefix, requestTimeoutMs: 2000 });
  const nodeId = String(i + 1).repeat(32).slice(0, 32);
  const nodes = new ClusterNodes(store, { id: nodeId, name: `host${i}`, address: `10.7.0.${i + 1}`, dataPathAddress: `10.8.0.${i + 1}`, dataPathPort: 4789 }, { ttlSeconds: 30 });
  await nodes.join();
  const h = await makeHarness({ shared: { store, nodeId }, hostId: nodeId });
  const settled: Host['settled'] = [];
  const looks: Host['looks'] = [];
  const sync = await startClusterSync(h.ctx, { retryMs: 100, undo: undo ? { ...(undo === true ? {} : undo), onSettled: (p, how) => settled.push({ p, how, at: Date.now() }), onLook: (p, found) => looks.push({ id: p.id, found }) } : false });
  return { h, store, nodes, sync, settled, looks };
}

async function withHost(undo: boolean | UndoSettlerOptions, endpointsOf: () => Promise<string[]>, body: (a: Host, admin: Store) => Promise<void>): Promise<void> {
  const prefix = `/swy-undo-${process.pid}-${seq++}`;
  const admin = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
  let a: Host | undefined;
  try {
    a = await host(prefix, 0, await endpointsOf(), undo);
    await body(a, admin);
  } finally {
    for (const m of etcd().members) if (m.pid() !== undefined) m.resume();
    if (a) {
      await a.sync.close();
      await a.nodes.close({ leave: true });
      await a.store.close();
    }
    await admin.deletePrefix('/');
    await admin.close();
  }
}

let subnet = 0;
const globalSpec = (name: string): NetworkSpec => validateNetworkCreate({ Name: name, Driver: 'bridge', Attachable: true, IPAM: { Config: [{ Subnet: `10.64.${subnet++}.0/24` }] } });

async function runningSandbox(x: Host, name: string): Promise<string> {
  if (!x.h.ctx.state.networkByName('base')) await x.h.engine.createNetwork({ ...validateNetworkCreate({ Name: 'base', IPAM: { Config: [{ Subnet: '10.71.0.0/24' }] } }), driver: 'fake' as NetworkSpec['driver'] });
  const { id } = await x.h.engine.createSandbox(sandboxSpecOf({ Name: name, Cmd: ['sleep', '1'], NetworkMode: 'base' }));
  await x.h.engine.startSandbox(id);
  return id;
}

/** A follower's client URL: the host talks only to it, so its calls go through the leader. */
async function followerOnly(): Promise<string[]> {
  const leader = await etcd().leader();
  return [etcd().members.find((m) => m !== leader)!.clientUrl];
}

const is503 = (e: SwitchyardError) => e.code === 'STORE_UNREACHABLE' && httpStatusOf(e) === 503;

/** Connects with the leader paused past the call's deadline; resumes it 500 ms after the failure. */
async function connectWhileLeaderPaused(a: Host, net: string, sb: string): Promise<{ failedAfter: number; resumedAt: number }> {
  const leader = await etcd().leader();
  await leader.pause();
  const t0 = Date.now();
  try {
    await assert.rejects(a.h.engine.connect(net, sb, {}), is503);
    return { failedAfter: Date.now() - t0, resumedAt: Date.now() + 500 };
  } finally {
    await new Promise((r) => setTimeout(r, 500));
    leader.resume();
  }
}

for (const undo of [true, false]) {
  test(`connect told 503 whose write etcd applied late: ${undo ? 'the orphan is undone and the same connect succeeds' : 'control, no undo: the orphan stays and the retry gets ENDPOINT_EXISTS'}`, async (t) => {
    await withHost(undo, followerOnly, async (a, admin) => {
      const { id: net } = await a.h.engine.createNetwork(globalSpec('g'));
      const sb = await runningSandbox(a, 's1');
      const { failedAfter, resumedAt } = await connectWhileLeaderPaused(a, 'g', sb);
      t.diagnostic(`connect failed after ${failedAfter} ms`);
      assert.ok(failedAfter >= 1900, `failed only at the deadline (${failedAfter} ms)`);
      assert.equal(a.h.ctx.state.endpointsOfSandbox(sb).filter((e) => e.networkId === net).length, 0, 'not connected in memory');
      assert.equal(a.h.globalDriver!.endpoints.size, 0, 'no kernel work left (the held join was undone)');
      assert.ok(!a.h.globalDriver!.calls.some((c) => c.startsWith('release')), 'never released');
      if (undo) {
        const s = await waitFor(() => a.settled.find((x) => x.p.kind === 'endpoint'), 'the intent settled', 20_000, 20);
        t.diagnostic(`settled (${s.how}) ${s.at - resumedAt} ms after the leader resumed`);
        assert.equal(s.how, 'undone', 'the write had landed (the scenario is not vacuous) and was undone');
        assert.deepEqual((await admin.range(`/endpoints/${net}/`)).map((kv) => kv.key), [], 'no endpoint record left');
        assert.deepEqual((await admin.range(`/ipam/${net}/`)).map((kv) => kv.key), [], 'no address claim left');
        assert.deepEqual(await a.h.ctx.state.pendingUndos(), [], 'the intent is gone');
      } else {
        await waitFor(async () => (await admin.range(`/endpoints/${net}/`)).length === 1, 'the late write', 10_000, 20);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal((await admin.range(`/endpoints/${net}/`)).length, 1, 'the orphan stays');
      }
      // A full re-read (what a compacted watch or a restart does) takes what etcd holds.
      await a.sync.resync();
      if (!undo) {
        await assert.rejects(a.h.engine.connect('g', sb, {}), (e: SwitchyardError) => e.code === 'ENDPOINT_EXISTS');
        return;
      }
      await a.h.engine.connect('g', sb, {});
      const eps = await admin.range(`/endpoints/${net}/`);
      assert.equal(eps.length, 1, 'one endpoint: the retry');
      assert.equal(eps[0]!.key, `/endpoints/${net}/${a.h.ctx.state.endpointsOfSandbox(sb).find((e) => e.networkId === net)!.id}`);
      assert.equal((await admin.range(`/ipam/${net}/`)).length, 1, 'one address claim');
    });
  });
}

for (const undo of [true, false]) {
  test(`disconnect told 503 whose delete etcd applied late: ${undo ? 'the sandbox stays connected and its records are put back; a later disconnect leaves nothing' : 'control, no undo: the host keeps the endpoint and etcd has lost it'}`, async (t) => {
    await withHost(undo, followerOnly, async (a, admin) => {
      const { id: net } = await a.h.engine.createNetwork(globalSpec('g'));
      const sb = await runningSandbox(a, 's1');
      await a.h.engine.connect('g', sb, {});
      const ep = a.h.ctx.state.endpointsOfSandbox(sb).find((e) => e.networkId === net)!;
      const kvs = async () => [...(await admin.range(`/endpoints/${net}/`)), ...(await admin.range(`/ipam/${net}/`))].map((kv) => `${kv.key}=${kv.value}`);
      const before = await kvs();
      assert.equal(before.length, 2, 'an endpoint record and its address claim');
      const calls = a.h.globalDriver!.calls.length;
      const leader = await etcd().leader();
      await leader.pause();
      const t0 = Date.now();
      let resumedAt = 0;
      try {
        await assert.rejects(a.h.engine.disconnect('g', sb, false), is503);
        t.diagnostic(`disconnect failed after ${Date.now() - t0} ms`);
        resumedAt = Date.now() + 500;
      } finally {
        await new Promise((r) => setTimeout(r, 500));
        leader.resume();
      }
      assert.ok(a.h.ctx.state.endpointsOfSandbox(sb).some((e) => e.id === ep.id), 'still connected in memory');
      assert.deepEqual(a.h.globalDriver!.calls.slice(calls).filter((c) => /^(join|leave) /.test(c)), ['leave g eth1', 'join g eth1'], 'left, then joined again when the commit failed');
      if (!undo) {
        await waitFor(async () => (await kvs()).length === 0, 'the late delete', 10_000, 20);
        await new Promise((r) => setTimeout(r, 1000));
        assert.deepEqual(await kvs(), [], 'etcd has lost the endpoint this host still has');
        return;
      }
      const s = await waitFor(() => a.settled.find((x) => x.p.kind === 'restore'), 'the intent settled', 20_000, 20);
      t.diagnostic(`settled (${s.how}) ${s.at - resumedAt} ms after the leader resumed`);
      assert.equal(s.how, 'undone', 'the delete had landed (the scenario is not vacuous) and was put back');
      assert.deepEqual(await kvs(), before, 'the endpoint record and its claim, as they were');
      assert.deepEqual(await a.h.ctx.state.pendingUndos(), [], 'the intent is gone');
      await a.h.engine.disconnect('g', sb, false);
      assert.deepEqual(await kvs(), [], 'a later disconnect leaves nothing');
    });
  });
}

test('global network create told 503 whose write landed late: removed, and the name can be created again', async (t) => {
  await withHost(true, followerOnly, async (a, admin) => {
    const leader = await etcd().leader();
    await leader.pause();
    const t0 = Date.now();
    try {
      await assert.rejects(a.h.engine.createNetwork(globalSpec('gc')), is503);
    } finally {
      t.diagnostic(`create failed after ${Date.now() - t0} ms`);
      await new Promise((r) => setTimeout(r, 500));
      leader.resume();
    }
    const s = await waitFor(() => a.settled.find((x) => x.p.kind === 'network'), 'the intent settled', 20_000, 20);
    assert.equal(s.how, 'undone');
    assert.deepEqual((await admin.range('/names/')).map((kv) => kv.key), [], 'no name claim left');
    assert.deepEqual((await admin.range('/networks/')).map((kv) => kv.key), [], 'no network record left');
    assert.deepEqual((await admin.range('/usage/')).map((kv) => kv.key), [], 'no usage key left');
    await waitFor(() => !a.h.ctx.state.networkByName('gc'), 'gc gone from memory', 5000, 20);
    await a.h.engine.createNetwork(globalSpec('gc'));
  });
});

test('unfenced (an older version\'s intent): a write that lands after the first look (absent then) is undone when the watch shows it; nothing another call wrote is deleted', async () => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await withHost(true, async () => [cut.url], async (a, admin) => {
      a.h.ctx.state.fenceWrites = false;
      const { id: net } = await a.h.engine.createNetwork(globalSpec('gl'));
      const sb = await runningSandbox(a, 's2');
      await cut.cut();
      await assert.rejects(a.h.engine.connect('gl', sb, {}), is503);
      const [kv] = await a.h.ctx.state.pendingUndos();
      const p = JSON.parse(kv!.value) as PendingUndo;
      await cut.restore();
      // The settler looks (nothing there) and keeps the intent for its late window.
      await waitFor(() => a.looks.some((l) => l.id === p.id && l.found === 'absent'), 'a look that found nothing', 10_000, 20);
      assert.equal(a.settled.length, 0);
      assert.ok(a.sync.undo!.pending().includes(p.id));
      // Another call's claim of one of the same keys, with its own value: never deleted.
      const [claim, ...rest] = p.keys.filter((k) => k.key.startsWith('/ipam/'));
      assert.ok(claim && rest.length === 0);
      // The late write lands (the exact keys and values the failed txn wrote), then a second
      // write by someone else takes the claim key.
      await admin.txn({ compare: [], success: p.keys.filter((k) => k !== claim).map((k) => ({ type: 'put' as const, key: k.key, value: k.value })) });
      await admin.put(claim.key, 'someone-else');
      await waitFor(() => a.settled.find((x) => x.p.id === p.id), 'the late write undone', 10_000, 20);
      assert.equal(a.settled[0]!.how, 'undone');
      assert.deepEqual((await admin.range(`/endpoints/${net}/`)).map((x) => x.key), [], 'the orphan endpoint is gone');
      assert.equal((await admin.get(claim.key))?.value, 'someone-else', "another call's write stays");
    });
  } finally {
    await cut.close();
  }
});

/** The load at a daemon's start, once etcd answers again (the client reconnects). */
async function loadAtStart(state: EngineState): Promise<void> {
  await waitFor(async () => {
    state.sharedLoadError = undefined;
    await state.load();
    return !state.sharedLoadError;
  }, 'the load at start (the client reconnects)', 10_000, 50);
}

test('an intent left by a host that stopped before settling it is settled at its next start; the full read meanwhile does not take the orphan for its own', async () => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await withHost(true, async () => [cut.url], async (a, admin) => {
      const { id: net } = await a.h.engine.createNetwork(globalSpec('gr'));
      const sb = await runningSandbox(a, 's3');
      await cut.cut();
      await assert.rejects(a.h.engine.connect('gr', sb, {}), is503);
      const p = JSON.parse((await a.h.ctx.state.pendingUndos())[0]!.value) as PendingUndo;
      // The host stops following the cluster (a daemon stopping) before etcd answers again.
      await a.sync.close();
      await cut.restore();
      // Meanwhile the write lands.
      await admin.txn({ compare: [], success: p.keys.map((k) => ({ type: 'put' as const, key: k.key, value: k.value })) });
      // Start: the full read does not take the endpoint for this host's own although its
      // sandbox is here (reconcile would join it), and counts its address as used...
      const state = a.h.ctx.state;
      state.pendingUndoIds.clear(); // what a new process starts with: load() reads them back from the local store
      await loadAtStart(state);
      assert.ok(state.pendingUndoIds.has(p.id), 'the intent read back at load');
      assert.ok(!a.h.ctx.state.endpoints.has(p.id), "the orphan is not this host's endpoint");
      const ip = p.keys.find((k) => k.key.startsWith('/ipam/'))!.key.split('/').pop()!;
      assert.equal(a.h.ctx.state.usedAddresses(net).get(ip), p.id, 'its address counts as used');
      // ... and the settler, started with the cluster sync, undoes it.
      a.sync = await startClusterSync(a.h.ctx, { retryMs: 100, undo: { onSettled: (q, how) => a.settled.push({ p: q, how, at: Date.now() }) } });
      await waitFor(() => a.settled.find((x) => x.p.id === p.id), 'settled at start', 10_000, 20);
      assert.equal(a.settled.at(-1)!.how, 'undone');
      assert.ok(!a.h.ctx.state.usedAddresses(net).has(ip), 'its address is free again');
      assert.deepEqual((await admin.range(`/endpoints/${net}/`)).map((x) => x.key), []);
      await a.h.engine.connect('gr', sb, {});
      assert.equal((await admin.range(`/endpoints/${net}/`)).length, 1);
    });
  } finally {
    await cut.close();
  }
});

test('a failed disconnect whose delete landed while the host was away: the load at the next start keeps the endpoint from the intent, and the settler puts its records back', async () => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await withHost(true, async () => [cut.url], async (a, admin) => {
      const { id: net } = await a.h.engine.createNetwork(globalSpec('gd'));
      const sb = await runningSandbox(a, 's4');
      await a.h.engine.connect('gd', sb, {});
      const ep = a.h.ctx.state.endpointsOfSandbox(sb).find((e) => e.networkId === net)!;
      const ip = ep.ipv4!.split('/')[0]!;
      const kvs = async () => [...(await admin.range(`/endpoints/${net}/`)), ...(await admin.range(`/ipam/${net}/`))].map((kv) => `${kv.key}=${kv.value}`);
      const before = await kvs();
      await cut.cut();
      await assert.rejects(a.h.engine.disconnect('gd', sb, false), is503);
      const p = JSON.parse((await a.h.ctx.state.pendingUndos())[0]!.value) as PendingUndo;
      assert.equal(p.kind, 'restore');
      // The host stops following the cluster (a daemon stopping) before etcd answers again.
      await a.sync.close();
      await cut.restore();
      // Meanwhile the delete lands.
      await admin.txn({ compare: [], success: p.keys.map((k) => ({ type: 'delete' as const, key: k.key })) });
      // The next start (a new process: a fresh state over the same local store) keeps the
      // endpoint, from the intent, and its address as used.
      const next = new EngineState(a.h.store as unknown as Store, a.h.ctx.state.shared);
      await loadAtStart(next);
      assert.ok(next.endpoints.has(ep.id), 'the endpoint is still this host\'s');
      assert.equal(next.usedAddresses(net).get(ip), ep.id, 'its address counts as used');
      // The settler, started with the cluster sync, puts the records back as they were.
      a.sync = await startClusterSync(a.h.ctx, { retryMs: 100, undo: { onSettled: (q, how) => a.settled.push({ p: q, how, at: Date.now() }) } });
      await waitFor(() => a.settled.find((x) => x.p.id === p.id), 'settled at start', 10_000, 20);
      assert.equal(a.settled.at(-1)!.how, 'undone');
      assert.deepEqual(await kvs(), before);
    });
  } finally {
    await cut.close();
  }
});

test('unfenced: a call that never reached etcd: its intent is dropped after two looks that found nothing (late window 300 ms, second look 200 ms after the first in this test)', async () => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await withHost({ lateMs: 300, confirmMs: 200 }, async () => [cut.url], async (a, admin) => {
      a.h.ctx.state.fenceWrites = false;
      const { id: net } = await a.h.engine.createNetwork(globalSpec('ga'));
      const sb = await runningSandbox(a, 's4');
      await cut.cut();
      await assert.rejects(a.h.engine.connect('ga', sb, {}), is503);
      await cut.restore();
      const s = await waitFor(() => a.settled[0], 'the intent dropped', 10_000, 20);
      assert.equal(s.how, 'absent');
      assert.ok(a.looks.filter((l) => l.found === 'absent').length >= 2, 'two looks');
      assert.deepEqual(await a.h.ctx.state.pendingUndos(), []);
      assert.equal(a.h.ctx.state.pendingUndoIds.size, 0);
      assert.deepEqual((await admin.range(`/endpoints/${net}/`)).map((x) => x.key), []);
    });
  } finally {
    await cut.close();
  }
});

for (const fenced of [true, false]) {
  test(`${fenced ? 'fenced: the settler moves the host\'s fence first, so the failed txn, arriving late, is refused by etcd, and the intent goes at its first look (late window 10 min)' : 'control, unfenced: the same late txn lands after the first look'}`, async () => {
    const cut = await tcpCut(etcd().endpoints[0]!);
    try {
      await withHost({ lateMs: 600_000 }, async () => [cut.url], async (a, admin) => {
        a.h.ctx.state.fenceWrites = fenced;
        const { id: net } = await a.h.engine.createNetwork(globalSpec(fenced ? 'gf' : 'gu'));
        const sb = await runningSandbox(a, fenced ? 's5' : 's6');
        const fenceKey = `/fences/${a.h.ctx.state.shared!.nodeId}`;
        await cut.cut();
        await assert.rejects(a.h.engine.connect(fenced ? 'gf' : 'gu', sb, {}), is503);
        const p = JSON.parse((await a.h.ctx.state.pendingUndos())[0]!.value) as PendingUndo;
        assert.equal(p.fence !== undefined, fenced, 'the intent records the fence its txn compared');
        await cut.restore();
        await waitFor(() => a.looks.some((l) => l.id === p.id && l.found === 'absent'), 'a look that found nothing', 10_000, 20);
        // The txn the call sent, as etcd would apply it had a member held it until now: its
        // compares (the fence, when fenced) and its writes.
        const late = await admin.txn({
          compare: p.fence !== undefined ? [{ key: fenceKey, target: 'modRevision', op: '=', value: p.fence }] : [],
          success: p.keys.map((k) => ({ type: 'put' as const, key: k.key, value: k.value })),
        });
        if (!fenced) {
          assert.ok(late.succeeded, 'without a fence the late write lands');
          assert.equal((await admin.range(`/endpoints/${net}/`)).length, 1, 'the orphan is in the store after the first look');
          assert.equal(a.settled.length, 0, 'still waiting for its window when it landed');
          return;
        }
        assert.ok(!late.succeeded, 'the late txn is refused: the fence moved before the look');
        assert.ok(((await admin.get(fenceKey))?.modRevision ?? 0) > p.fence!, 'the fence moved');
        const s = await waitFor(() => a.settled.find((x) => x.p.id === p.id), 'the intent settled', 10_000, 20);
        assert.equal(s.how, 'absent');
        assert.equal(a.looks.filter((l) => l.id === p.id).length, 1, 'one look was enough');
        assert.deepEqual(await a.h.ctx.state.pendingUndos(), []);
        assert.deepEqual((await admin.range(`/endpoints/${net}/`)).map((x) => x.key), [], 'nothing of the call in the store');
        // The same connect now succeeds, with the fence as it is.
        await a.h.engine.connect('gf', sb, {});
        assert.equal((await admin.range(`/endpoints/${net}/`)).length, 1);
      });
    } finally {
      await cut.close();
    }
  });
}

test('a txn refused only because this host\'s fence moved meanwhile (its memory stale) applied nothing and is sent once more', async () => {
  await withHost(true, async () => etcd().endpoints, async (a, admin) => {
    const { id: net } = await a.h.engine.createNetwork(globalSpec('gs'));
    const sb = await runningSandbox(a, 's7');
    const fenceKey = `/fences/${a.h.ctx.state.shared!.nodeId}`;
    await admin.put(fenceKey, 'moved');
    const now = (await admin.get(fenceKey))!.modRevision;
    a.h.ctx.state.fenceRevision = now - 1; // as if the watch had not brought the move yet
    await a.h.engine.connect('gs', sb, {});
    assert.equal(a.h.ctx.state.fenceRevision, now, 'learnt from the refused txn');
    assert.equal((await admin.range(`/endpoints/${net}/`)).length, 1, 'one endpoint');
    assert.equal((await admin.range(`/ipam/${net}/`)).length, 1, 'one address claim');
    assert.deepEqual(await a.h.ctx.state.pendingUndos(), [], 'no intent: the refusal was certain');
  });
});
