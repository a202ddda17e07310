/**
 * The cluster's hosts on a real etcd (src/engine/cluster-nodes.ts): three ClusterNodes, as
 * three daemons would run them, each on its own etcd client. Names are unique cluster-wide,
 * a node is ready while its lease lives and down within the TTL after its daemon stops
 * renewing it, a lost lease is replaced, `node rm` refuses self and (without force) a ready
 * node and releases a gone node's global endpoints and address claims in one txn, and an
 * unreachable etcd fails fast with STORE_UNREACHABLE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Op, Store } from '../../src/store/contract.js';
import { ClusterNodes, CLUSTER_KEY } from '../../src/engine/cluster-nodes.js';
import type { SwitchyardError } from '../../src/errors.js';
import { httpStatusOf } from '../../src/api/http-status.js';
import { etcdPerFile, tcpCut } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const etcd = etcdPerFile();
let seq = 0;

interface Bench {
  stores: Store[];
  nodes: ClusterNodes[];
  prefix: string;
}

const self = (i: number, name = `host${i}`) => ({ id: `${'abcdef'[i]!.repeat(8)}${String(i).padStart(24, '0')}`, name, address: `10.9.0.${i + 1}`, dataPathAddress: `10.9.0.${i + 1}`, dataPathPort: 4789 });

async function bench(n: number, body: (b: Bench) => Promise<void>, endpoints?: (i: number) => string[]): Promise<void> {
  const prefix = `/swy-nodes-${process.pid}-${seq++}`;
  const b: Bench = { stores: [], nodes: [], prefix };
  try {
    for (let i = 0; i < n; i++) {
      const store = await openEtcdStore({ endpoints: endpoints?.(i) ?? etcd().endpoints, prefix, requestTimeoutMs: 1000 });
      b.stores.push(store);
      const node = new ClusterNodes(store, self(i), { ttlSeconds: 3, keepAliveMs: 500 });
      b.nodes.push(node);
      await node.join();
    }
    await body(b);
  } finally {
    for (const node of b.nodes) await node.close({ leave: true });
    const admin = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
    await admin.deletePrefix('/');
    await admin.close();
    for (const s of b.stores) await s.close();
  }
}

test('node ls on every host: every node ready, SELF right; inspect by name, id and id prefix', async () => {
  await bench(3, async ({ nodes }) => {
    for (let i = 0; i < 3; i++) {
      const list = await nodes[i]!.list();
      assert.deepEqual(list.map((v) => [v.node.name, v.status, v.self]), [0, 1, 2].map((j) => [`host${j}`, 'ready', j === i]));
      assert.equal(list[1]!.node.address, '10.9.0.2');
      assert.equal(list[1]!.node.dataPathPort, 4789);
    }
    assert.equal((await nodes[0]!.find('host2')).node.id, self(2).id);
    assert.equal((await nodes[0]!.find(self(2).id)).node.name, 'host2');
    assert.equal((await nodes[0]!.find(self(2).id.slice(0, 6))).node.name, 'host2');
    await assert.rejects(nodes[0]!.find('nope'), (e: SwitchyardError) => e.code === 'NODE_NOT_FOUND' && httpStatusOf(e) === 404);
  });
});

test('node names are unique cluster-wide; a restart (same id) keeps its name; a rename gives the old one back', async () => {
  await bench(2, async ({ stores, nodes }) => {
    const intruder = new ClusterNodes(stores[1]!, { ...self(2), name: 'host0' }, { ttlSeconds: 3, keepAliveMs: 500 });
    await assert.rejects(intruder.join(), (e: SwitchyardError) => e.code === 'NODE_NAME_IN_USE' && httpStatusOf(e) === 409 && /--node-name/.test(e.message) && /host0/.test(e.message));
    await intruder.close();
    assert.equal((await nodes[0]!.list()).length, 2, 'the refused node left nothing behind');
    // Restart of host1: same id, same name.
    await nodes[1]!.close();
    const again = new ClusterNodes(stores[1]!, self(1), { ttlSeconds: 3, keepAliveMs: 500 });
    nodes[1] = again;
    await again.join();
    assert.deepEqual((await again.list()).map((v) => [v.node.name, v.status]), [['host0', 'ready'], ['host1', 'ready']]);
    // Renamed: host1 → hostB; the name host1 is free again.
    await again.close();
    const renamed = new ClusterNodes(stores[1]!, { ...self(1), name: 'hostB' }, { ttlSeconds: 3, keepAliveMs: 500 });
    nodes[1] = renamed;
    await renamed.join();
    assert.deepEqual((await renamed.list()).map((v) => v.node.name), ['host0', 'hostB']);
    assert.equal(await stores[0]!.get(CLUSTER_KEY.nodeName('host1')), undefined);
  });
});

test('two hosts racing for one name: exactly one joins', async () => {
  await bench(0, async ({ prefix }) => {
    const a = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
    const b = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
    const na = new ClusterNodes(a, { ...self(0), name: 'twin' }, { ttlSeconds: 3 });
    const nb = new ClusterNodes(b, { ...self(1), name: 'twin' }, { ttlSeconds: 3 });
    const results = await Promise.allSettled([na.join(), nb.join()]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((lost.reason as SwitchyardError).code, 'NODE_NAME_IN_USE');
    assert.equal((await na.list()).length, 1);
    await na.close({ leave: true });
    await nb.close({ leave: true });
    await a.close();
    await b.close();
  });
});

test('a daemon that stops renewing (kill -9) goes down within the TTL; node rm: self refused, ready refused without -f, releases the endpoints of a gone node', async () => {
  await bench(3, async ({ stores, nodes }) => {
    const [s0] = stores as [Store];
    // Global endpoints (the layout of docs/STORE.md): one of host2 and one of host1 on network N.
    const ep = (id: string, node: string, ip: string) => JSON.stringify({ v: 1, id, networkId: 'N', node, ipv4: `${ip}/24` });
    await s0.txn({
      compare: [],
      success: [
        { type: 'put', key: '/endpoints/N/e2', value: ep('e2', self(2).id, '10.50.0.2') },
        { type: 'put', key: CLUSTER_KEY.address('N', '10.50.0.2'), value: 'e2' },
        { type: 'put', key: '/endpoints/N/e1', value: ep('e1', self(1).id, '10.50.0.3') },
        { type: 'put', key: CLUSTER_KEY.address('N', '10.50.0.3'), value: 'e1' },
      ],
    });
    await assert.rejects(nodes[0]!.remove('host0', true), (e: SwitchyardError) => e.code === 'NODE_IS_SELF' && httpStatusOf(e) === 409);
    await assert.rejects(nodes[0]!.remove('host2', false), (e: SwitchyardError) => e.code === 'NODE_READY' && httpStatusOf(e) === 409 && /-f/.test(e.message));

    // kill -9: the keep-alives stop, the lease (TTL 3 s) runs out.
    const t0 = Date.now();
    await nodes[2]!.close();
    await waitFor(async () => (await nodes[0]!.find('host2')).status === 'down', 'host2 down', 8000, 100);
    const downAfter = Date.now() - t0;
    assert.ok(downAfter <= 3000 + 1500, `down after ${downAfter} ms (TTL 3 s)`);
    assert.equal((await nodes[1]!.find('host2')).status, 'down');

    const removed = await nodes[1]!.remove('host2', false);
    assert.equal(removed.endpoints, 1);
    const left = (await s0.range('/')).map((kv) => kv.key);
    assert.ok(!left.some((k) => k.includes(self(2).id) || k.endsWith('/host2') || k.endsWith('10.50.0.2') || k.endsWith('/e2')), left.join(' '));
    assert.ok(left.includes('/endpoints/N/e1') && left.includes(CLUSTER_KEY.address('N', '10.50.0.3')), 'the other host\'s endpoint stays');
    assert.deepEqual((await nodes[0]!.list()).map((v) => v.node.name), ['host0', 'host1']);
    // -f removes a ready node.
    await nodes[0]!.remove('host1', true);
    assert.deepEqual((await nodes[0]!.list()).map((v) => v.node.name), ['host0']);
    assert.equal(await s0.get('/endpoints/N/e1'), undefined);
  });
});

test('a lost lease is replaced: the node is ready again within two keep-alive periods', async () => {
  await bench(2, async ({ stores, nodes }) => {
    const lease = nodes[1]!.currentLease!;
    await stores[0]!.revokeLease(lease);
    assert.equal((await nodes[0]!.find('host1')).status, 'down');
    await waitFor(async () => (await nodes[0]!.find('host1')).status === 'ready', 'host1 ready again', 3000, 50);
    // Its txn is committed (host0 sees it ready) a moment before host1 takes the new lease as its own.
    await waitFor(() => nodes[1]!.currentLease !== lease || undefined, 'host1 on its new lease', 1000, 5);
    assert.notEqual(nodes[1]!.currentLease, undefined);
  });
});

test('etcd unreachable from one host: its calls fail fast with STORE_UNREACHABLE (503); it goes down, and is ready again soon after etcd is back', async (t) => {
  const cut = await tcpCut(etcd().endpoints[0]!);
  try {
    await bench(
      2,
      async ({ nodes }) => {
        await cut.cut();
        const t0 = Date.now();
        await assert.rejects(nodes[1]!.list(), (e: SwitchyardError) => e.code === 'STORE_UNREACHABLE' && httpStatusOf(e) === 503);
        assert.ok(Date.now() - t0 < 2500, `failed after ${Date.now() - t0} ms`);
        await waitFor(async () => (await nodes[0]!.find('host1')).status === 'down', 'host1 down', 8000, 100);
        await cut.restore();
        const t1 = Date.now();
        await waitFor(async () => (await nodes[0]!.find('host1')).status === 'ready', 'host1 ready again', 5000, 50);
        t.diagnostic(`ready again ${Date.now() - t1} ms after etcd was reachable again`);
        await nodes[1]!.list();
      },
      (i) => (i === 1 ? [cut.url] : etcd().endpoints),
    );
  } finally {
    await cut.close();
  }
});

test('node rm of a down host with 150 endpoints: released in batches within etcd\'s 128 ops per txn; a remover that dies between batches leaves a node that node rm again finishes', async (t) => {
  await bench(2, async ({ stores, nodes }) => {
    const [s0] = stores as [Store];
    const ep = (i: number, node: string) => JSON.stringify({ v: 1, id: `b${i}`, networkId: 'N', node, ipv4: `10.60.${i >> 8}.${i & 255}/16`, ipv6: `fd60::${i.toString(16)}/64` });
    const down = self(2, 'big');
    // The big host's records (as its daemon would have written them), 40 endpoints per txn.
    await s0.put(CLUSTER_KEY.node(down.id), JSON.stringify({ v: 1, ...down, started: new Date().toISOString() }));
    await s0.put(CLUSTER_KEY.nodeName('big'), down.id);
    for (let from = 0; from < 150; from += 40) {
      const success: Op[] = [];
      for (let i = from; i < Math.min(150, from + 40); i++) {
        success.push({ type: 'put', key: `/endpoints/N/b${i}`, value: ep(i, down.id) });
        success.push({ type: 'put', key: CLUSTER_KEY.address('N', `10.60.${i >> 8}.${i & 255}`), value: `b${i}` });
        success.push({ type: 'put', key: CLUSTER_KEY.address('N', `fd60::${i.toString(16)}`), value: `b${i}` });
      }
      await s0.txn({ compare: [], success });
    }
    await s0.put('/endpoints/N/keep', JSON.stringify({ v: 1, id: 'keep', networkId: 'N', node: self(1).id, ipv4: '10.60.9.9/16' }));
    await s0.put(CLUSTER_KEY.address('N', '10.60.9.9'), 'keep');
    assert.equal((await nodes[0]!.find('big')).status, 'down');
    // Control: the same release in one txn is refused by etcd (--max-txn-ops 128).
    const all = (await s0.range('/endpoints/N/b')).flatMap((kv): Op[] => [{ type: 'delete', key: kv.key }]);
    assert.equal(all.length, 150);
    await assert.rejects(s0.txn({ compare: [], success: all }), (e: SwitchyardError) => e.code === 'STORE_TXN_INVALID' && /too many operations/.test(e.message));

    // A remover whose daemon dies after its first batch (the store fails every later call).
    let writes = 0;
    const dying = new Proxy(s0, {
      get(target, prop, receiver) {
        if (prop !== 'txn') return Reflect.get(target, prop, receiver) as unknown;
        return async (txn: Parameters<Store['txn']>[0]) => {
          if (txn.success.some((op) => op.type === 'delete') && ++writes > 1) throw new Error('the daemon died here');
          return target.txn(txn);
        };
      },
    });
    await assert.rejects(new ClusterNodes(dying, self(0)).remove('big', false), /the daemon died here/);
    const between = (await s0.range('/endpoints/N/b')).length;
    t.diagnostic(`after the first batch: ${150 - between} of 150 endpoints released`);
    assert.ok(between > 0 && between < 150, `${between} left`);
    assert.equal((await nodes[0]!.find('big')).status, 'down', 'the node is still listed: its record goes last');
    for (const kv of await s0.range('/endpoints/N/b')) {
      const { ipv4, ipv6 } = JSON.parse(kv.value) as { ipv4: string; ipv6: string };
      assert.ok(await s0.get(CLUSTER_KEY.address('N', ipv4.split('/')[0]!)), `an endpoint left keeps its claims (${kv.key})`);
      assert.ok(await s0.get(CLUSTER_KEY.address('N', ipv6.split('/')[0]!)));
    }

    const removed = await nodes[1]!.remove('big', false);
    assert.equal(removed.endpoints, between);
    const left = (await s0.range('/')).map((kv) => kv.key);
    assert.deepEqual(left.filter((k) => k.includes('/N/b') || k.includes('10.60.0.') || k.includes('fd60::') || k.includes(down.id) || k.endsWith('/big')), [], 'nothing of the big host left');
    assert.ok(left.includes('/endpoints/N/keep') && left.includes(CLUSTER_KEY.address('N', '10.60.9.9')), 'the other host\'s endpoint stays');
    assert.deepEqual((await nodes[0]!.list()).map((v) => v.node.name), ['host0', 'host1']);
  });
});
