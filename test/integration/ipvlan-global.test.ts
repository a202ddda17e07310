/**
 * ipvlan L3 networks that span hosts (docs/drivers/ipvlan.md "Across hosts"), the parts this
 * machine's kernel can run (it has no ipvlan: the traffic is the VM lane's,
 * test/vm/ipvlan-cluster.test.ts): the real engine on a real etcd (test/helpers/
 * ipvlan-cluster.ts) in a host namespace whose parent `sywan0` is a veth on an underlay
 * segment, a second node registered with its data-path address and holding a block.
 *
 * - `--scope global` through the engine: the record is shared, scope global; refusals name
 *   the field (no cluster store: `Scope`).
 * - Taking part routes the other node's block via its data-path address out of the parent
 *   (protocol 83); its release removes the route, a new claim brings it back; leaving
 *   removes it.
 * - Transactional: a connect whose join fails undoes the endpoint, releases the block it
 *   claimed, and removes the routes it installed; so does a start whose join fails.
 * Ends with a leak check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateNetworkCreate, type NetworkSpec } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { blockClaimKey } from '../../src/model/ip-blocks.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/block-routes.js';
import { leavePartIfIdle, takePart } from '../../src/engine/cluster-peers.js';
import { ClusterNodes } from '../../src/engine/cluster-nodes.js';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import { SwitchyardError } from '../../src/errors.js';
import { makeHarness } from '../helpers/engine-harness.js';
import { makeRegistry } from '../../src/drivers/registry.js';
import { IpvlanDriver } from '../../src/drivers/ipvlan.js';
import { MacvlanDriver } from '../../src/drivers/macvlan.js';
import type { Rtnl } from '../../src/kernel/netlink/index.js';
import { etcdPerFile } from '../helpers/etcd.js';
import { RoutedLab } from '../helpers/routed-lab.js';
import { ipvlanClusterHost, type IpvlanClusterHost } from '../helpers/ipvlan-cluster.js';
import { assertNoLeaks, inNs, linksIn, waitFor } from '../helpers/netns.js';

const etcd = etcdPerFile();
const NODE_B = '2'.repeat(32);

const l3x = (extra: Record<string, unknown> = {}, options: Record<string, string> = {}) =>
  validateNetworkCreate({
    Name: 'l3x', Driver: 'ipvlan', Scope: 'global', Attachable: true,
    Options: { parent: 'sywan0', ipvlan_mode: 'l3', ...options },
    IPAM: { Config: [{ Subnet: '10.30.0.0/24' }] }, ...extra,
  });

const routes = (ns: string) => inNs(ns, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout.trim();

function code(c: string, field?: string) {
  return (e: unknown) => e instanceof SwitchyardError && e.code === c && (field === undefined || e.field === field);
}

test('--scope global ipvlan L3 through the engine: shared record, block routes out of the parent, undo of a failed connect and start', async () => {
  const lab = new RoutedLab();
  const prefix = `/swy-ipvx-${process.pid}`;
  let a: IpvlanClusterHost | undefined;
  const bStore = await openEtcdStore({ endpoints: etcd().endpoints, prefix, requestTimeoutMs: 5000 });
  const bNodes = new ClusterNodes(bStore, { id: NODE_B, name: 'host1', address: '10.99.0.2', dataPathAddress: '10.99.0.2', dataPathPort: 4789 }, { ttlSeconds: 10 });
  try {
    const seg = lab.segment();
    const hA = lab.ns('ipa');
    lab.plug(hA, seg, 'sywan0', ['10.99.0.1/24']);
    a = await ipvlanClusterHost({ endpoints: etcd().endpoints, prefix, index: 0, ns: hA, dataPath: '10.99.0.1' });
    await bNodes.join();
    await waitFor(() => a!.h.ctx.state.aliveNodes.has(NODE_B), 'node B seen alive by A', 5000, 20);

    // Refusals (the pure rules are test/unit/model-network-scope.test.ts): no cluster store names Scope.
    const single = await makeHarness();
    single.ctx.drivers = makeRegistry([...single.ctx.drivers.all(), new IpvlanDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} })]);
    await assert.rejects(single.engine.createNetwork(l3x()), code('CLUSTER_STORE_REQUIRED', 'Scope'));
    await assert.rejects(a.h.engine.createNetwork(l3x({}, { ipvlan_mode: 'l2' })), code('SCOPE_NOT_SUPPORTED', 'Scope'));
    a.h.ctx.drivers = makeRegistry([...a.h.ctx.drivers.all(), new MacvlanDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, log: () => {} })]);
    await assert.rejects(a.h.engine.createNetwork(validateNetworkCreate({ Name: 'mv', Driver: 'macvlan', Scope: 'global', Options: { parent: 'sywan0' } })), code('SCOPE_NOT_SUPPORTED', 'Scope'));
    assert.equal(a.h.ctx.state.networks.size, single.ctx.state.networks.size, 'nothing made by a refusal');

    const { id } = await a.h.engine.createNetwork(l3x({ Scope: 'swarm' }));
    const rec = JSON.parse((await bStore.get(`/networks/${id}`))!.value) as { scope: string; driver: string };
    assert.deepEqual([rec.driver, rec.scope], ['ipvlan', 'global'], 'the record is shared, global');
    const net = a.h.ctx.state.networks.get(id)!;
    assert.deepEqual(routes(hA.name), '', 'no route before this host takes part');

    // Node B holds a block: taking part routes it via B's data-path address out of the parent.
    await bStore.put(blockClaimKey(id, '10.30.0.64/26'), NODE_B);
    await waitFor(() => a!.h.ctx.state.blocks.of(id).get('10.30.0.64/26') === NODE_B, 'A sees B\'s block', 5000, 20);
    takePart(a.h.ctx, net);
    assert.match(routes(hA.name), /^10\.30\.0\.64\/26 via 10\.99\.0\.2 dev sywan0\b/, 'B\'s block via B out of the parent');
    // B releases it: the route goes; B claims another: it comes.
    await bStore.delete(blockClaimKey(id, '10.30.0.64/26'));
    await waitFor(() => routes(hA.name) === '', 'route gone with the block', 5000, 20);
    await bStore.put(blockClaimKey(id, '10.30.0.128/26'), NODE_B);
    await waitFor(() => /^10\.30\.0\.128\/26 via 10\.99\.0\.2 dev sywan0\b/.test(routes(hA.name)), 'the new block routed', 5000, 20);
    await leavePartIfIdle(a.h.ctx, id);
    assert.equal(routes(hA.name), '', 'leaving the network removes its routes');

    // A connect whose join fails: endpoint, block claim and routes undone.
    // s1 runs on a local network of the harness's fake driver first.
    await a.h.engine.createNetwork({ ...validateNetworkCreate({ Name: 'base', IPAM: { Config: [{ Subnet: '10.70.0.0/24' }] } }), driver: 'fake' as NetworkSpec['driver'] });
    const { id: s1 } = await a.h.engine.createSandbox(sandboxSpecOf({ Name: 's1', Cmd: ['sleep', '1'], NetworkMode: 'base' }));
    await a.h.engine.startSandbox(s1);
    a.failJoin = true;
    await assert.rejects(a.h.engine.connect('l3x', 's1', {}), /injected join failure/);
    assert.equal(a.h.ctx.state.endpointsOfNetwork(id).length, 0, 'no endpoint left');
    assert.equal(a.h.ctx.state.participating.has(id), false, 'not taking part');
    assert.equal(routes(hA.name), '', 'the routes installed at takePart are gone');
    await waitFor(async () => (await bStore.range(`/blocks/${id}/`)).every((kv) => kv.value === NODE_B), 'the block A claimed is released', 5000, 20);
    assert.deepEqual((await bStore.range(`/blocks/${id}/`)).map((kv) => kv.key.split('/').slice(-2).join('/')), ['10.30.0.128/26'], 'B\'s block stays');

    // A start whose join fails: routes undone (the stopped sandbox keeps its address, as on every network).
    const { id: s2 } = await a.h.engine.createSandbox(sandboxSpecOf({ Name: 's2', Cmd: ['sleep', '1'], NetworkMode: 'l3x' }));
    const ep = a.h.ctx.state.endpointsOfSandbox(s2)[0]!;
    assert.match(ep.ipv4!, /^10\.30\.0\.2\/24$/, 'the first address of A\'s own block, the gateway reserved');
    assert.equal(ep.mac, linksMac(hA.name), 'the endpoint records the parent\'s MAC');
    await assert.rejects(a.h.engine.startSandbox(s2), /injected join failure/);
    assert.equal(a.h.ctx.state.participating.has(id), false, 'not taking part after the failed start');
    assert.equal(routes(hA.name), '', 'no route left after the failed start');
    a.failJoin = false;
    await a.h.engine.removeSandbox(s2, true);
    await a.h.engine.removeSandbox(s1, true);
    await waitFor(async () => (await bStore.range(`/blocks/${id}/`)).every((kv) => kv.value === NODE_B), 'A\'s blocks released after rm', 5000, 20);
    await bStore.delete(blockClaimKey(id, '10.30.0.128/26'));
    await a.h.engine.removeNetwork('l3x');
    await a.h.engine.removeNetwork('base');
    assert.equal(await bStore.get(`/networks/${id}`), undefined, 'the shared record is gone');
    assert.deepEqual(linksIn(hA.name).filter((l) => l !== 'lo').sort(), ['sywan0'], 'the host namespace holds its parent only');
  } finally {
    await a?.close();
    await bNodes.close({ leave: true }).catch(() => {});
    await bStore.close();
    await lab.destroy();
  }
  assertNoLeaks([...lab.names(), ...(a ? [...a.sandboxes.values()].map((n) => n.name) : [])]);
});

function linksMac(ns: string): string {
  return /link\/ether ([0-9a-f:]+)/.exec(inNs(ns, 'ip', ['link', 'show', 'sywan0']).stdout)![1]!;
}
