/**
 * Encrypted global networks' keys at engine level (engine/cluster-keys.ts): two engines (the
 * engine harness: fake kernel, per-host memory store) sharing one real etcd, each with a
 * global FakeDriver given the optional contract members `newSecret`/`syncSecret`/
 * `secretReport`/`rotateSecret` (the last two the overlay driver's own functions; the
 * overlay's kernel side is the VM lane's). The secret (a real key ring) is written in the
 * create txn under /overlay-keys/<id>, never in the network record; each host gets it through
 * the watch and hands it to its driver before ensureNetwork; both hosts report; the leader's
 * timer (startKeyRotation, 1 s interval) rotates it through receive → send → prune, each host
 * applying every step; `network rm` deletes the ring and the reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store } from '../../src/store/contract.js';
import { validateNetworkCreate } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { ClusterNodes } from '../../src/engine/cluster-nodes.js';
import { startClusterSync, type ClusterSync } from '../../src/engine/cluster-sync.js';
import { startKeyRotation } from '../../src/engine/cluster-keys.js';
import { decodeKeyRing, encodeKeyRing, newKeyRing, rotationPhase } from '../../src/drivers/overlay-crypto-plan.js';
import type { NetworkRecord } from '../../src/model/records.js';
import type { SecretRotationInput } from '../../src/drivers/contract.js';
import { keyRingReport, rotateKeyRing } from '../../src/drivers/overlay-encryption.js';
import { makeHarness, type FakeDriver, type Harness } from '../helpers/engine-harness.js';
import { etcdPerFile } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const etcd = etcdPerFile();

interface Host {
  h: Harness;
  store: Store;
  nodes: ClusterNodes;
  sync: ClusterSync;
  nodeId: string;
  driver: FakeDriver;
  /** Rings (encoded) the driver was handed, in order, with whether it had ensured the network then. */
  handed: { epochs: string; ensured: boolean }[];
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

async function host(prefix: string, i: number): Promise<Host> {
  const store = await openEtcdStore({ endpoints: etcd().endpoints, prefix, requestTimeoutMs: 1000 });
  const nodeId = String(i + 1).repeat(32).slice(0, 32);
  const nodes = new ClusterNodes(store, { id: nodeId, name: `host${i}`, address: `10.7.0.${i + 1}`, dataPathAddress: `10.8.0.${i + 1}`, dataPathPort: 4789 }, { ttlSeconds: 6 });
  await nodes.join();
  const h = await makeHarness({ shared: { store, nodeId }, hostId: nodeId });
  h.ctx.random = seeded(`${prefix}-host${i}`);
  h.ctx.now = () => new Date(); // the harness's clock is fixed; key ages need a real one
  const driver = h.globalDriver!;
  const handed: Host['handed'] = [];
  // The two optional members, as the overlay driver has them (a real ring; no kernel).
  Object.assign(driver, {
    newSecret: (net: NetworkRecord) => encodeKeyRing(newKeyRing(net.id, 4096, h.ctx.now())),
    secretReport: (_net: NetworkRecord, secret: string, nodeId: string) => keyRingReport(secret, nodeId),
    rotateSecret: (_net: NetworkRecord, secret: string, input: SecretRotationInput) => rotateKeyRing(secret, input),
    syncSecret: (net: NetworkRecord, secret: string) => {
      const ensured = driver.calls.includes(`ensureNetwork ${net.name}`);
      handed.push({ epochs: `${decodeKeyRing(secret).keys.map((k) => k.epoch).join(',')}/tx${decodeKeyRing(secret).txEpoch}`, ensured });
      return ensured;
    },
  });
  const sync = await startClusterSync(h.ctx, { retryMs: 100 });
  return { h, store, nodes, sync, nodeId, driver, handed };
}

test('the key ring: in the create txn apart from the record, to each host before ensureNetwork, reports, a rotation by the leader applied on every host, deleted with the network', async () => {
  const prefix = `/swy-enckeys-${process.pid}`;
  const hosts: Host[] = [];
  const rotations: { close(): void }[] = [];
  try {
    for (let i = 0; i < 2; i++) hosts.push(await host(prefix, i));
    const [a, b] = hosts as [Host, Host];
    const spec = validateNetworkCreate({ Name: 'g', Driver: 'bridge', Attachable: true, IPAM: { Config: [{ Subnet: '10.61.0.0/24' }] } });
    const { id } = await a.h.engine.createNetwork(spec);
    const ringKv = await a.store.get(`/overlay-keys/${id}`);
    assert.ok(ringKv, 'the ring is in the shared store');
    const ring = decodeKeyRing(ringKv.value);
    assert.equal(ring.networkId, id);
    const record = (await a.store.get(`/networks/${id}`))!.value;
    assert.ok(!record.includes(ring.keys[0]!.secret), 'not in the network record');
    await waitFor(() => b.h.ctx.state.secrets.get(id)?.value === ringKv.value, 'host b got the ring through the watch', 5000, 10);

    for (const [i, x] of hosts.entries()) {
      const { id: sb } = await x.h.engine.createSandbox(sandboxSpecOf({ Name: `s${i}`, Cmd: ['sleep', '1'], NetworkMode: 'g' }));
      await x.h.engine.startSandbox(sb);
      assert.deepEqual(x.handed[0], { epochs: '1/tx1', ensured: false }, `host ${i}: the ring before ensureNetwork`);
    }
    await waitFor(async () => (await a.store.range(`/overlay-key-reports/${id}/`)).length === 2, 'both hosts reported', 5000, 20);

    // The leader (lowest node id: host a) rotates; every step reaches both drivers.
    for (const x of hosts) rotations.push(startKeyRotation(x.h.ctx, { intervalMs: 1000, checkMs: 100, graceMs: 200 }));
    await waitFor(async () => {
      const r = decodeKeyRing((await a.store.get(`/overlay-keys/${id}`))!.value);
      return r.keys.length === 1 && r.keys[0]!.epoch >= 2 && rotationPhase(r) === 'steady';
    }, 'a whole rotation', 15_000, 50);
    for (const [i, x] of hosts.entries()) {
      const steps = x.handed.filter((s) => s.ensured).map((s) => s.epochs);
      for (const want of ['1,2/tx1', '1,2/tx2', '2/tx2']) assert.ok(steps.includes(want), `host ${i} applied ${want} (got ${steps.join(' ')})`);
    }
    const reports = (await a.store.range(`/overlay-key-reports/${id}/`)).map((kv) => JSON.parse(kv.value) as { host: string; tx: number });
    assert.deepEqual(reports.map((r) => r.host).sort(), [a.nodeId, b.nodeId].sort());
    assert.ok(reports.every((r) => r.tx >= 2));

    for (const r of rotations.splice(0)) r.close();
    for (const x of hosts) for (const sb of [...x.h.ctx.state.sandboxes.values()]) await x.h.engine.removeSandbox(sb.id, true);
    await b.h.engine.removeNetwork('g');
    assert.ok(!(await a.store.get(`/overlay-keys/${id}`)), 'the ring goes with the network');
    assert.deepEqual(await a.store.range(`/overlay-key-reports/${id}/`), [], 'and the reports');
  } finally {
    for (const r of rotations) r.close();
    for (const x of hosts) {
      await x.sync.close();
      await x.nodes.close({ leave: true });
    }
    const admin = await openEtcdStore({ endpoints: etcd().endpoints, prefix });
    await admin.deletePrefix('/');
    await admin.close();
    for (const x of hosts) await x.store.close();
  }
});
