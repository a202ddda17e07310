/**
 * Cluster mode at engine level: two or three engines (the engine harness: fake kernel,
 * per-host memory store) sharing one real etcd, each with a global FakeDriver (named
 * `bridge` so the record codec reads its networks back). Global networks appear on every
 * host through the watch, names and static addresses raced from two hosts have exactly one
 * winner, rm is refused while any host has an endpoint, peers are handed to the drivers of
 * the hosts that take part (join, leave, a full resync after a compacted watch), and with
 * etcd unreachable global operations fail at once with 503 while local ones work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store } from '../../src/store/contract.js';
import { validateNetworkCreate, type NetworkSpec } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { httpStatusOf } from '../../src/api/http-status.js';
import { makeRegistry } from '../../src/drivers/registry.js';
import { ClusterNodes } from '../../src/engine/cluster-nodes.js';
import { startClusterSync, type ClusterSync } from '../../src/engine/cluster-sync.js';
import { EngineDnsDirectory } from '../../src/engine/dns-directory.js';
import type { SwitchyardError } from '../../src/errors.js';
import { FakeDriver, makeHarness, type Harness } from '../helpers/engine-harness.js';
import { etcdPerFile, tcpCut } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';
import { inspectNetwork as inspectFromMemory } from '../../src/engine/network-ops.js';
import { EngineState } from '../../src/engine/state.js';
import { reconcile } from '../../src/engine/reconcile.js';
import { KeyedMutex } from '../../src/engine/locks.js';
import type { Txn } from '../../src/store/contract.js';

const etcd = etcdPerFile();
let seq = 0;

interface Host {
  h: Harness;
  store: Store;
  nodes: ClusterNodes;
  sync: ClusterSync;
  nodeId: string;
  driver: FakeDriver;
}

const seeded = (tag: string) => {
  let i = 0;
  return (n: number) => {
    const out = Buffer.alloc(n);
    let filled = 0;
    while (filled < n) filled += createHash('sha256').update(`${tag}-${i++}`).digest().copy(out, filled);
    return out;
  };
};

async function host(prefix: string, i: number, endpoints?: string[], wrap?: (s: Store) => Store): Promise<Host> {
  const opened = await openEtcdStore({ endpoints: endpoints ?? etcd().endpoints, prefix, requestTimeoutMs: 1000 });
  const store = wrap ? wrap(opened) : opened;
  const nodeId = String(i + 1).repeat(32).slice(0, 32);
  const nodes = new ClusterNodes(store, { id: nodeId, name: `host${i}`, address: `10.7.0.${i + 1}`, dataPathAddress: `10.8.0.${i + 1}`, dataPathPort: 4789 }, { ttlSeconds: 6 });
  await nodes.join();
  const h = await makeHarness({ shared: { store, nodeId }, hostId: nodeId });
  h.ctx.random = seeded(`${prefix}-host${i}`);
  const sync = await startClusterSync(h.ctx, { retryMs: 100 });
  return { h, store, nodes, sync, nodeId, driver: h.globalDriver! };
}

async function cluster(
  n: number,
  body: (hosts: Host[], prefix: string) => Promise<void>,
  endpointsOf?: (i: number) => string[] | undefined,
  wrapOf?: (i: number) => ((s: Store) => Store) | undefined,
): Promise<void> {
  const prefix = `/swy-cleng-${process.pid}-${seq++}`;
  const hosts: Host[] = [];
  try {
    for (let i = 0; i < n; i++) hosts.push(await host(prefix, i, endpointsOf?.(i), wrapOf?.(i)));
    await body(hosts, prefix);
  } finally {
    for (const x of hosts) {
      await x.sync.close();
      await x.nodes.close({ leave: true });
    }
    const admin = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
    await admin.deletePrefix('/');
    await admin.close();
    for (const x of hosts) await x.store.close();
  }
}

/** Every global network of a test gets a subnet of its own (10.60.N.0/24); `same` names a shared one (the name race). */
let subnetSeq = 0;
const globalSpec = (name: string, extra: Record<string, unknown> = {}, same?: number): NetworkSpec =>
  validateNetworkCreate({ Name: name, Driver: 'bridge', Attachable: true, IPAM: { Config: [{ Subnet: `10.60.${same ?? subnetSeq++ % 200}.0/24` }] }, ...extra });
const localSpec = (name: string, subnet: string): NetworkSpec => ({ ...validateNetworkCreate({ Name: name, IPAM: { Config: [{ Subnet: subnet }] } }), driver: 'fake' as NetworkSpec['driver'] });

/** A running sandbox on the host's local network `base` (made at first use), then connected to `net`. */
async function running(x: Host, name: string, net?: string, ip?: string): Promise<string> {
  if (!x.h.ctx.state.networkByName('base')) await x.h.engine.createNetwork(localSpec('base', `10.70.${x.nodeId.charCodeAt(0) - 48}.0/24`));
  const { id } = await x.h.engine.createSandbox(sandboxSpecOf({ Name: name, Cmd: ['sleep', '1'], NetworkMode: 'base' }));
  await x.h.engine.startSandbox(id);
  if (net) await x.h.engine.connect(net, id, ip ? { ipv4: ip } : {});
  return id;
}

/** A sandbox with only a global network: created on it directly (not `none`). */
async function runningOn(x: Host, name: string, net: string, ip?: string): Promise<string> {
  const { id } = await x.h.engine.createSandbox(sandboxSpecOf({ Name: name, Cmd: ['sleep', '1'], NetworkMode: net, ...(ip ? { EndpointsConfig: { [net]: { IPAMConfig: { IPv4Address: ip } } } } : {}) }));
  await x.h.engine.startSandbox(id);
  return id;
}

const ipOn = (x: Host, sbId: string, netId: string) => x.h.ctx.state.endpointsOfSandbox(sbId).find((e) => e.networkId === netId)?.ipv4?.split('/')[0];

test('a global network created on one host appears on every host (scope global), and goes with its rm', async () => {
  await cluster(3, async ([a, b, c]) => {
    const { id } = await a!.h.engine.createNetwork(globalSpec('g1'));
    for (const x of [b!, c!]) {
      await waitFor(() => x.h.ctx.state.networks.get(id), 'g1 on the other host', 3000, 10);
      const d = await x.h.engine.inspectNetwork('g1');
      assert.equal(d.network.scope, 'global');
      assert.equal(d.network.name, 'g1');
    }
    assert.ok((await c!.h.engine.listNetworks()).some((n) => n.network.id === id));
    // Names are unique across local and global networks.
    await assert.rejects(b!.h.engine.createNetwork(localSpec('g1', '10.61.0.0/24')), (e: SwitchyardError) => e.code === 'NETWORK_EXISTS' && httpStatusOf(e) === 409);
    await b!.h.engine.removeNetwork('g1');
    for (const x of [a!, c!]) await waitFor(() => !x.h.ctx.state.networks.has(id), 'g1 gone on the other host', 3000, 10);
    assert.equal((await a!.store.range('/')).filter((kv) => !kv.key.startsWith('/node')).length, 0, 'nothing of g1 left in etcd');
  });
});

/** The store as it is, except that its watches hand each batch of events on `lag.ms` late (a slow watch). */
const laggingWatch = (lag: { ms: number }) => (inner: Store): Store =>
  new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'watch') {
        return (prefix: string, opts: Parameters<Store['watch']>[1], onEvents: Parameters<Store['watch']>[2]) =>
          target.watch(prefix, opts, (events) => void setTimeout(() => onEvents(events), lag.ms));
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });

test('read-your-writes across hosts: a network just created on one host is found on another whose watch lags 400 ms (control: memory alone does not have it yet)', async () => {
  const lag = { ms: 0 };
  await cluster(
    2,
    async ([a, b]) => {
      lag.ms = 400;
      // Control: right after the create returns, the lagging host's memory does not hold it.
      await a!.h.engine.createNetwork(globalSpec('ryw0'));
      assert.throws(() => inspectFromMemory(b!.h.ctx, 'ryw0'), (e: SwitchyardError) => e.code === 'NETWORK_NOT_FOUND');
      // The engine's calls wait for the watch to apply the record instead of answering 404.
      await a!.h.engine.createNetwork(globalSpec('ryw1'));
      const t0 = performance.now();
      assert.equal((await b!.h.engine.inspectNetwork('ryw1')).network.name, 'ryw1');
      const waited = performance.now() - t0;
      assert.ok(waited > 100, `inspect waited for the lagging watch (${waited.toFixed(0)} ms)`);
      await a!.h.engine.createNetwork(globalSpec('ryw2'));
      const sb = await runningOn(b!, 'ryw-sb', 'ryw2');
      assert.ok(ipOn(b!, sb, b!.h.ctx.state.networkByName('ryw2')!.id), 'the sandbox has an address on ryw2');
      await a!.h.engine.createNetwork(globalSpec('ryw3'));
      await b!.h.engine.connect('ryw3', sb, {});
      // A name that no host has: one read of the shared store, then 404 at once (nothing newer to wait for).
      await waitFor(() => b!.h.ctx.state.networkByName('ryw3'), 'ryw3 applied on b', 3000, 10);
      const t1 = performance.now();
      await assert.rejects(b!.h.engine.inspectNetwork('nope'), (e: SwitchyardError) => e.code === 'NETWORK_NOT_FOUND');
      assert.ok(performance.now() - t1 < 300, 'an unknown name is answered without waiting');
      lag.ms = 0;
      await b!.h.engine.removeSandbox(sb, true);
    },
    undefined,
    (i) => (i === 1 ? laggingWatch(lag) : undefined),
  );
});

test('the same name created on two hosts at once: exactly one wins, the other gets 409', async () => {
  await cluster(2, async ([a, b]) => {
    for (let round = 0; round < 5; round++) {
      const name = `race${round}`;
      const subnet = 200 + round;
      const results = await Promise.allSettled([a!.h.engine.createNetwork(globalSpec(name, {}, subnet)), b!.h.engine.createNetwork(globalSpec(name, {}, subnet))]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as SwitchyardError).code, 'NETWORK_EXISTS');
      assert.equal(httpStatusOf(lost.reason as SwitchyardError), 409);
      const names = (await a!.store.range('/names/')).map((kv) => kv.key);
      assert.equal(names.filter((k) => k === `/names/${name}`).length, 1);
      await waitFor(() => b!.h.ctx.state.networkByName(name) && a!.h.ctx.state.networkByName(name), 'both hosts see the winner', 3000, 10);
      assert.equal(a!.h.ctx.state.networkByName(name)!.id, b!.h.ctx.state.networkByName(name)!.id);
      assert.equal((await a!.store.range('/networks/')).filter((kv) => kv.value.includes(`"name":"${name}"`)).length, 1, 'one record');
    }
  });
});

test('a driver claim (the overlay VNI) is held once cluster-wide; a global driver without a cluster store: CLUSTER_STORE_REQUIRED', async () => {
  await cluster(2, async ([a, b]) => {
    await a!.h.engine.createNetwork(globalSpec('v1', { Labels: { vni: '42' } }));
    await assert.rejects(b!.h.engine.createNetwork(globalSpec('v2', { Labels: { vni: '42' } })), (e: SwitchyardError) => e.code === 'CLAIM_IN_USE' && httpStatusOf(e) === 409 && /vni\/42/.test(e.message));
    assert.equal(await a!.store.get('/names/v2'), undefined, 'nothing of the refused network was written');
    assert.equal((await a!.store.get('/claims/bridge/vni/42'))?.value, a!.h.ctx.state.networkByName('v1')!.id);
    await a!.h.engine.removeNetwork('v1');
    assert.equal(await a!.store.get('/claims/bridge/vni/42'), undefined, 'rm frees the claim');
    await b!.h.engine.createNetwork(globalSpec('v2', { Labels: { vni: '42' } }));
  });
  const single = await makeHarness();
  single.ctx.drivers = makeRegistry([...single.ctx.drivers.all(), new FakeDriver(new Set(), { name: 'bridge', scope: 'global' })]);
  await assert.rejects(single.engine.createNetwork(globalSpec('g')), (e: SwitchyardError) => e.code === 'CLUSTER_STORE_REQUIRED' && httpStatusOf(e) === 400 && /--cluster-store/.test(e.message) && /bridge driver/.test(e.message));
});

test('attach: one etcd txn; only --attachable global networks take sandboxes (403); peers go to the hosts that take part', async () => {
  await cluster(3, async ([a, b, c]) => {
    const { id: closed } = await a!.h.engine.createNetwork(globalSpec('closed', { Attachable: false }));
    const sbA = await running(a!, 'sa');
    await assert.rejects(a!.h.engine.connect('closed', sbA, {}), (e: SwitchyardError) => e.code === 'NETWORK_NOT_ATTACHABLE_MANUALLY' && httpStatusOf(e) === 403 && e.message === 'network closed not manually attachable');
    assert.ok(closed);

    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net) && c!.h.ctx.state.networks.get(net), 'g everywhere', 3000, 10);
    const rev0 = await a!.store.revision();
    await a!.h.engine.connect('g', sbA, {});
    assert.equal((await a!.store.revision()) - rev0, 1, 'the attach is one etcd revision (one txn)');
    const ipA = ipOn(a!, sbA, net)!;
    assert.ok((await a!.store.get(`/ipam/${net}/${ipA}`))?.value);
    assert.deepEqual(a!.driver.calls.filter((x) => !x.startsWith('endpointPresent')), ['ensureNetwork g', `syncPeers g []`, 'join g eth1 held', 'release g eth1']);
    assert.equal(b!.driver.calls.length, 0, 'a host without a local endpoint does not take part');

    const sbB = await runningOn(b!, 'sb', 'g');
    const ipB = ipOn(b!, sbB, net)!;
    assert.notEqual(ipA, ipB);
    assert.deepEqual(b!.driver.calls.slice(0, 2), ['ensureNetwork g', `syncPeers g [${ipA}@10.8.0.1]`]);
    await waitFor(() => a!.driver.calls.includes(`peerJoin g ${ipB}@10.8.0.2`), 'A hears of B', 3000, 10);
    assert.equal(c!.driver.calls.length, 0);
    // Remote endpoints are not local ones; Containers shows local sandboxes only; -v Peers lists both hosts.
    assert.equal(a!.h.ctx.state.remoteEndpointsOf(net).length, 1);
    const d = await a!.h.engine.inspectNetwork('g');
    assert.deepEqual(d.endpoints.map((e) => e.sandboxName), ['sa']);
    assert.deepEqual(d.peers, [{ name: 'host0', ip: '10.7.0.1' }, { name: 'host1', ip: '10.7.0.2' }]);

    // DNS across hosts: A's embedded DNS answers for B's sandbox (name, short id) on g, and back.
    const dirA = new EngineDnsDirectory(a!.h.ctx);
    assert.deepEqual(dirA.lookup(sbA, 'sb'), { v4: [ipB], v6: [] });
    assert.deepEqual(dirA.lookup(sbA, 'sb.g'), { v4: [ipB], v6: [] });
    assert.deepEqual(dirA.lookup(sbA, sbB.slice(0, 12)), { v4: [ipB], v6: [] });
    assert.equal(dirA.reverse(sbA, ipB), 'sb.g');
    assert.deepEqual(new EngineDnsDirectory(b!.h.ctx).lookup(sbB, 'sa'), { v4: [ipA], v6: [] });

    // A rename on B reaches A's DNS: the new name answers, the old one no longer does.
    await b!.h.engine.renameSandbox(sbB, 'sb-renamed');
    await waitFor(() => dirA.lookup(sbA, 'sb-renamed') !== null, 'A answers for the new name', 3000, 10);
    assert.deepEqual(dirA.lookup(sbA, 'sb-renamed'), { v4: [ipB], v6: [] });
    assert.equal(dirA.lookup(sbA, 'sb'), null, 'the old name is gone on A');
    assert.equal(dirA.reverse(sbA, ipB), 'sb-renamed.g');
    assert.equal(JSON.parse((await a!.store.get(`/endpoints/${net}/${b!.h.ctx.state.endpointsOfSandbox(sbB).find((e) => e.networkId === net)!.id}`))!.value).sandboxName, 'sb-renamed', 'the shared record carries the new name');

    await b!.h.engine.disconnect('g', sbB, false);
    await waitFor(() => a!.driver.calls.includes(`peerLeave g ${ipB}@10.8.0.2`), 'A hears B left', 3000, 10);
    assert.ok(b!.driver.calls.includes('deleteNetwork g'), 'B no longer takes part');
    assert.equal(await a!.store.get(`/ipam/${net}/${ipB}`), undefined, 'its address is free again');
    assert.equal(dirA.lookup(sbA, 'sb'), null, 'and its name is gone');
  });
});

test('the same static address on two hosts at once: exactly one wins; dynamic allocations racing get different addresses', async () => {
  await cluster(2, async ([a, b]) => {
    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net), 'g on B', 3000, 10);
    const [sa, sb] = [await running(a!, 'sa'), await running(b!, 'sb')];
    const sub = a!.h.ctx.state.networks.get(net)!.pools[0]!.subnet.replace(/\.0\/24$/, '');
    const results = await Promise.allSettled([a!.h.engine.connect('g', sa, { ipv4: `${sub}.77` }), b!.h.engine.connect('g', sb, { ipv4: `${sub}.77` })]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((lost.reason as SwitchyardError).code, 'ADDRESS_IN_USE');
    assert.ok((lost.reason as SwitchyardError).message.includes(`${sub}.77`));
    const loser = results[0]!.status === 'rejected' ? a! : b!;
    const loserSb = loser === a ? sa : sb;
    assert.equal(ipOn(loser, loserSb, net), undefined, 'the loser kept nothing');
    // Dynamic: both hosts plan the same next free address; the loser retries with the next one.
    const [da, db] = [await running(a!, 'da'), await running(b!, 'db')];
    await Promise.all([a!.h.engine.connect('g', da, {}), b!.h.engine.connect('g', db, {})]);
    assert.notEqual(ipOn(a!, da, net), ipOn(b!, db, net));
    const claims = (await a!.store.range(`/ipam/${net}/`)).map((kv) => kv.key);
    assert.equal(claims.length, 3);
  });
});

test('an endpoint whose records were removed under its running host (node rm -f): its disconnect succeeds and leaves the address another host claimed since', async () => {
  await cluster(2, async ([a, b]) => {
    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net), 'g on B', 3000, 10);
    const sub = a!.h.ctx.state.networks.get(net)!.pools[0]!.subnet.replace(/\.0\/24$/, '');
    const sa = await running(a!, 'sa', 'g', `${sub}.50`);
    const epA = a!.h.ctx.state.endpointsOfSandbox(sa).find((e) => e.networkId === net)!;
    await waitFor(() => b!.h.ctx.state.remoteEndpointsOf(net).length === 1, 'B sees A\'s endpoint', 3000, 10);
    // What `node rm -f` of A does to A's records while A runs on.
    await a!.store.txn({ compare: [], success: [{ type: 'delete', key: `/endpoints/${net}/${epA.id}` }, { type: 'delete', key: `/ipam/${net}/${sub}.50` }] });
    await waitFor(() => b!.h.ctx.state.remoteEndpointsOf(net).length === 0, 'B dropped it', 3000, 10);
    const sb = await running(b!, 'sb', 'g', `${sub}.50`);
    const epB = b!.h.ctx.state.endpointsOfSandbox(sb).find((e) => e.networkId === net)!;
    await a!.h.engine.disconnect('g', sa, false);
    assert.equal(a!.h.ctx.state.endpointsOfSandbox(sa).filter((e) => e.networkId === net).length, 0, 'A is disconnected');
    assert.deepEqual((await a!.store.range(`/ipam/${net}/`)).map((kv) => `${kv.key}=${kv.value}`), [`/ipam/${net}/${sub}.50=${epB.id}`], 'B\'s claim on the address is left');
    assert.deepEqual((await a!.store.range(`/endpoints/${net}/`)).map((kv) => kv.key), [`/endpoints/${net}/${epB.id}`]);
  });
});

/**
 * A store whose next attach txn (one that puts an endpoint key) never answers: `unsent` drops
 * it, `applied` sends it and drops etcd's answer. The attach then stops where a crash would.
 */
function attachCutter(): { arm: (how: 'unsent' | 'applied') => void; wrap: (s: Store) => Store } {
  let armed: 'unsent' | 'applied' | undefined;
  const isAttach = (t: Txn) => t.success.some((op) => op.type === 'put' && op.key.startsWith('/endpoints/'));
  return {
    arm: (how) => void (armed = how),
    wrap: (s) =>
      new Proxy(s, {
        get(target, k) {
          if (k === 'txn') {
            return async (t: Txn) => {
              const how = isAttach(t) ? armed : undefined;
              if (!how) return target.txn(t);
              armed = undefined;
              if (how === 'applied') await target.txn(t);
              return new Promise(() => {}); // the daemon died waiting
            };
          }
          const v = Reflect.get(target, k) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }),
  };
}

/** What a start after a crash does: a fresh state over the same local store, its load, then reconcile (the kernel, here the fake driver's, stays as it was). */
async function restartAfterCrash(x: Host): Promise<void> {
  const state = new EngineState(x.h.store, x.h.ctx.state.shared);
  (x.h.ctx as { state: EngineState }).state = state;
  (x.h.ctx as { locks: KeyedMutex }).locks = new KeyedMutex(); // the cut call holds its locks for ever
  const { strayClaims } = await state.load();
  await reconcile(x.h.ctx, x.h.engine.runtime, { links: () => [], deleteLink: async () => {}, pinNetnsFromProcess: () => {} }, strayClaims);
}

for (const how of ['unsent', 'applied'] as const) {
  test(`an attach cut by a crash between its held join and its txn's answer (${how === 'unsent' ? 'the txn never applied: the next start removes the port' : 'the txn applied: the next start keeps the port and brings it up'})`, async () => {
    const cutter = attachCutter();
    await cluster(
      1,
      async ([a]) => {
        const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
        const sa = await running(a!, 'sa');
        cutter.arm(how);
        void a!.h.engine.connect('g', sa, {}); // never returns: the daemon "dies" in it
        await waitFor(() => a!.driver.held.size === 1, 'the port made, held', 3000, 5);
        const [port] = [...a!.driver.held];
        const epId = port!.split('|')[1]!;
        const intents = await a!.h.store.range('/joining/');
        assert.deepEqual(intents.map((kv) => kv.key), [`/joining/${epId}`], 'its intent is on disk before the port exists');
        const inEtcd = async () => (await a!.store.range(`/endpoints/${net}/`)).map((kv) => kv.key.split('/').pop());
        if (how === 'applied') await waitFor(async () => (await inEtcd()).length === 1, 'the txn applied', 3000, 10);
        await restartAfterCrash(a!);
        assert.deepEqual(await a!.h.store.range('/joining/'), [], 'the intent is settled');
        assert.equal(a!.driver.held.size, 0, 'no port left held');
        if (how === 'unsent') {
          assert.deepEqual(await inEtcd(), []);
          assert.ok(!a!.driver.endpoints.has(port!), 'the port is removed');
          assert.equal(a!.h.ctx.state.endpointsOfSandbox(sa).filter((e) => e.networkId === net).length, 0);
          await a!.h.engine.connect('g', sa, {}); // and the same attach works
          assert.deepEqual(await inEtcd(), [a!.h.ctx.state.endpointsOfSandbox(sa).find((e) => e.networkId === net)!.id]);
        } else {
          assert.deepEqual(await inEtcd(), [epId]);
          assert.ok(a!.driver.endpoints.has(port!), 'the port is kept');
          assert.equal(a!.h.ctx.state.endpointsOfSandbox(sa).find((e) => e.networkId === net)?.id, epId, 'the endpoint is this host\'s');
          const joins = a!.driver.calls.filter((c) => c.startsWith('join g eth1'));
          assert.equal(joins.length, 2, `held, then joined again by reconcile (a held port is not present): ${JSON.stringify(a!.driver.calls)}`);
          assert.ok(joins[0]!.endsWith(' held') && !joins[1]!.endsWith(' held'));
        }
      },
      undefined,
      () => cutter.wrap,
    );
  });
}

test('network rm is refused while any host has an endpoint (403, Docker wording), and an attach racing it never leaves an endpoint on a removed network', async () => {
  await cluster(2, async ([a, b]) => {
    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net), 'g on B', 3000, 10);
    const sa = await running(a!, 'sa', 'g');
    await assert.rejects(b!.h.engine.removeNetwork('g'), (e: SwitchyardError) => e.code === 'NETWORK_IN_USE' && httpStatusOf(e) === 403 && /network g has active endpoints \(sa on host0\)/.test(e.message));
    await a!.h.engine.disconnect('g', sa, true);
    // Race an attach on A against the rm on B, many times: either the attach wins (rm refused or
    // conflicts) or the rm wins (the attach fails): never both.
    for (let round = 0; round < 5; round++) {
      const name = `r${round}`;
      const { id } = await b!.h.engine.createNetwork(globalSpec(name));
      await waitFor(() => a!.h.ctx.state.networks.get(id), `${name} on A`, 3000, 10);
      const sb = await running(a!, `s${round}`);
      const [att, rm] = await Promise.allSettled([a!.h.engine.connect(name, sb, {}), b!.h.engine.removeNetwork(name)]);
      const eps = await a!.store.range(`/endpoints/${id}/`);
      const exists = !!(await a!.store.get(`/networks/${id}`));
      assert.ok(!(att.status === 'fulfilled' && rm.status === 'fulfilled'), `round ${round}: both succeeded`);
      if (att.status === 'fulfilled') assert.ok(exists && eps.length === 1);
      else assert.equal(eps.length, 0);
    }
  });
});

test('peers after a compacted watch: a full re-read and syncPeers on every network the host takes part in', async () => {
  await cluster(2, async ([a, b]) => {
    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net), 'g on B', 3000, 10);
    await running(a!, 'sa', 'g');
    // A stops following (as a daemon that was away); B attaches; the history is compacted.
    await a!.sync.close();
    const sb = await runningOn(b!, 'sb', 'g');
    const ipB = ipOn(b!, sb, net)!;
    await b!.h.engine.createNetwork(globalSpec('later')); // history moves past B's attach
    await a!.store.compact(await a!.store.revision());
    a!.driver.calls.length = 0;
    a!.sync = await startClusterSync(a!.h.ctx, { retryMs: 100 });
    await waitFor(() => a!.driver.calls.includes(`syncPeers g [${ipB}@10.8.0.2]`), `A resynced its peers (calls: ${JSON.stringify(a!.driver.calls)})`, 3000, 10).catch((e) => { throw new Error(`${String(e)} calls=${JSON.stringify(a!.driver.calls)} remote=${a!.h.ctx.state.remoteEndpointsOf(net).length}`); });
    assert.equal(a!.h.ctx.state.remoteEndpointsOf(net).length, 1);
  });
});

test('etcd unreachable: global operations fail at once with 503 and change nothing; local ones work; the host converges when it is back', async (t) => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await cluster(
      2,
      async ([a, b]) => {
        const { id: net } = await b!.h.engine.createNetwork(globalSpec('g'));
        await waitFor(() => a!.h.ctx.state.networks.get(net), 'g on A', 3000, 10);
        const sa = await running(a!, 'sa');
        await cut.cut();
        const t0 = Date.now();
        await assert.rejects(a!.h.engine.connect('g', sa, {}), (e: SwitchyardError) => e.code === 'STORE_UNREACHABLE' && httpStatusOf(e) === 503);
        await assert.rejects(a!.h.engine.createNetwork(globalSpec('g2')), (e: SwitchyardError) => httpStatusOf(e) === 503);
        assert.ok(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms`);
        assert.equal(ipOn(a!, sa, net), undefined, 'nothing half-applied');
        assert.equal(a!.driver.endpoints.size, 0, 'no port left (the held join was undone)');
        assert.ok(!a!.driver.calls.includes('release g eth1'), 'never released');
        // Local work does not wait on etcd.
        const t1 = Date.now();
        await a!.h.engine.createNetwork(localSpec('l1', '10.62.0.0/24'));
        await a!.h.engine.connect('l1', sa, {});
        assert.ok(Date.now() - t1 < 500, `local ops took ${Date.now() - t1} ms`);
        // Meanwhile B attaches; when etcd is back A hears of it.
        const sb = await runningOn(b!, 'sb', 'g');
        const ipB = ipOn(b!, sb, net)!;
        await cut.restore();
        const t2 = Date.now();
        await waitFor(() => a!.h.ctx.state.remoteEndpointsOf(net).some((r) => r.endpoint.ipv4?.startsWith(`${ipB}/`)), 'A converged', 5000, 10);
        t.diagnostic(`A converged ${Date.now() - t2} ms after etcd was reachable again`);
        await a!.h.engine.connect('g', sa, {});
      },
      (i) => (i === 0 ? [cut.url] : undefined),
    );
  } finally {
    await cut.close();
  }
});

test('node rm of a gone host releases its endpoints and addresses; every other host drops them (peerLeave) and can reuse the address', async () => {
  await cluster(3, async ([a, b, c]) => {
    const { id: net } = await a!.h.engine.createNetwork(globalSpec('g'));
    await waitFor(() => b!.h.ctx.state.networks.get(net) && c!.h.ctx.state.networks.get(net), 'g everywhere', 3000, 10);
    await running(a!, 'sa', 'g');
    const sc = await runningOn(c!, 'sc', 'g');
    const ipC = ipOn(c!, sc, net)!;
    await waitFor(() => a!.driver.calls.includes(`peerJoin g ${ipC}@10.8.0.3`), 'A hears of C', 3000, 10);
    // Host 2 is gone for good: its lease ends (revoked here, as a graceful stop does).
    await c!.sync.close();
    await c!.nodes.close({ leave: true });
    const removed = await b!.nodes.remove('host2', false);
    assert.equal(removed.endpoints, 1);
    await waitFor(() => a!.driver.calls.includes(`peerLeave g ${ipC}@10.8.0.3`), 'A dropped C', 3000, 10);
    assert.equal(a!.h.ctx.state.remoteEndpointsOf(net).length, 0);
    assert.equal(await a!.store.get(`/ipam/${net}/${ipC}`), undefined);
    const sb = await running(b!, 'sb');
    await b!.h.engine.connect('g', sb, { ipv4: ipC });
    assert.equal(ipOn(b!, sb, net), ipC, 'the released address is handed out again');
  });
});
