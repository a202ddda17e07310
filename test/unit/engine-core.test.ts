/**
 * The engine's middle, without root: real engine operations over the harness
 * (test/helpers/engine-harness.ts) with a recording FakeDriver, an in-memory store and
 * fakes for the host, DNS, ports, processes and files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, type Harness } from '../helpers/engine-harness.js';
import { validateNetworkCreate, type NetworkSpec } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { reconcile } from '../../src/engine/reconcile.js';
import { tearDown } from '../../src/engine/sandbox-ops.js';
import { SwitchyardError } from '../../src/errors.js';

async function network(h: Harness, name: string, subnet: string): Promise<string> {
  // The fake driver's name is not one of the option parsers' (model/driver-options.ts): built directly.
  const spec = { ...validateNetworkCreate({ Name: name, IPAM: { Config: [{ Subnet: subnet }] } }), driver: 'fake' as NetworkSpec['driver'] };
  return (await h.engine.createNetwork(spec)).id;
}

async function runningSandbox(h: Harness, name: string, nets: string[]): Promise<string> {
  const { id } = await h.engine.createSandbox(sandboxSpecOf({
    Name: name, Cmd: ['sleep', '1'], NetworkMode: nets[0], EndpointsConfig: Object.fromEntries(nets.slice(1).map((n) => [n, {}])),
  }));
  await h.engine.startSandbox(id);
  return id;
}

const storeKeys = (h: Harness, prefix: string) => [...h.store.data.keys()].filter((k) => k.startsWith(prefix));

test('sandbox planning: endpoints in connect order (eth0 = NetworkMode), distinct addresses, one commit for the create', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  await network(h, 'b', '198.51.100.0/24');
  const before = h.store.txns;
  const { id } = await h.engine.createSandbox(sandboxSpecOf({ Name: 's1', Cmd: ['true'], NetworkMode: 'b', EndpointsConfig: { a: { Aliases: ['web'] } } }));
  assert.equal(h.store.txns - before, 1, 'the sandbox, its endpoints and their claims are one transaction');
  const eps = h.ctx.state.endpointsOfSandbox(id);
  assert.deepEqual(eps.map((e) => [e.ifname, h.ctx.state.networks.get(e.networkId)!.name]), [['eth0', 'b'], ['eth1', 'a']]);
  assert.match(eps[0]!.ipv4!, /^198\.51\.100\.\d+\/24$/);
  assert.deepEqual(eps[1]!.aliases, ['web']);
  assert.ok(eps.every((e) => e.hostLink?.startsWith('fkv')), 'the driver named the host links');
  assert.equal(storeKeys(h, '/ipam/').length, 2);
  assert.deepEqual(h.driver.calls.filter((c) => c.startsWith('join')), [], 'not joined before it starts');
  await h.engine.startSandbox(id);
  assert.deepEqual(h.driver.calls.filter((c) => c.startsWith('join')), ['join b eth0 gw', 'join a eth1']);
});

test('connect rollback: a failing join leaves no endpoint, no claim and no kernel state', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  await network(h, 'b', '198.51.100.0/24');
  const id = await runningSandbox(h, 's1', ['a']);
  const keys = [...h.store.data.keys()].sort();
  h.driver.failAt('join', 1);
  await assert.rejects(h.engine.connect('b', 's1', {}), /fake join failed/);
  assert.deepEqual([...h.store.data.keys()].sort(), keys, 'the store is as before');
  assert.equal(h.ctx.state.endpointsOfSandbox(id).length, 1);
  assert.deepEqual(h.driver.calls.slice(-2), ['join b eth1', 'leave b eth1'], 'the half-made join was undone');
  // And the address it planned is free again: the next connect gets a working endpoint.
  await h.engine.connect('b', 's1', {});
  assert.equal(h.ctx.state.endpointsOfSandbox(id).length, 2);
});

test('disconnect of the gateway endpoint hands the default route to the next one', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  await network(h, 'b', '198.51.100.0/24');
  await runningSandbox(h, 's1', ['a', 'b']);
  await h.engine.disconnect('a', 's1', false);
  assert.deepEqual(h.driver.calls.slice(-2), ['leave a eth0', 'setGateway b eth1 true']);
  // Disconnecting a non-gateway endpoint moves nothing.
  await h.engine.connect('a', 's1', {});
  await h.engine.disconnect('a', 's1', false);
  assert.deepEqual(h.driver.calls.slice(-1), ['leave a eth0']);
});

test('reconcile: a dead sandbox is marked exited, a gone external namespace is dropped, only marked stray links go', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  const live = await runningSandbox(h, 'live', ['a']);
  const dead = await runningSandbox(h, 'dead', ['a']);
  h.netns.add('/ext/ns1');
  h.netns.add('/ext/ns2');
  await h.engine.attach({ sandbox: { id: 'keep', nsPath: '/ext/ns1' }, network: 'a', ifname: 'eth0' });
  await h.engine.attach({ sandbox: { id: 'gone', nsPath: '/ext/ns2' }, network: 'a', ifname: 'eth0' });
  h.alive.delete(h.ctx.state.sandboxes.get(dead)!.state.pid);
  h.netns.delete('/ext/ns2');
  // The kernel lost the live sandbox's endpoint; two stray links exist, one of them marked.
  h.driver.endpoints.clear();
  const deleted: string[] = [];
  const links = [
    ...h.driver.links.values(),
    { name: 'fkvstray', alias: 'switchyard:fake-port:000000000000' },
    { name: 'sy-uplink' },
  ];
  const report = await reconcile(h.ctx, h.engine.runtime, {
    links: () => links,
    deleteLink: async (n) => void deleted.push(n),
    pinNetnsFromProcess: () => {},
  }, []);
  assert.equal(h.ctx.state.sandboxes.get(dead)!.state.status, 'exited');
  assert.equal(h.ctx.state.sandboxes.get(live)!.state.status, 'running');
  assert.equal(report.externalDropped, 1);
  await h.engine.checkAttachment({ sandboxId: 'keep', network: 'a', ifname: 'eth0' });
  await assert.rejects(h.engine.checkAttachment({ sandboxId: 'gone', network: 'a', ifname: 'eth0' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'ATTACHMENT_NOT_FOUND');
  assert.ok(report.endpointsRejoined >= 2, 'the live sandbox and the kept external one were rejoined');
  assert.ok(deleted.includes('fkvstray'), 'a marked stray link is collected');
  assert.ok(!deleted.includes('sy-uplink'), 'an unmarked link named like ours stays');
  const kept = [...h.ctx.state.endpointsOfSandbox(live), ...h.ctx.state.endpoints.values()]
    .filter((e) => h.ctx.state.sandboxes.get(e.sandboxId)?.state.status === 'running').map((e) => e.hostLink!);
  assert.ok(kept.length >= 2 && kept.every((l) => !deleted.includes(l)), 'links of live endpoints stay');
  assert.ok(deleted.every((l) => l === 'fkvstray' || !kept.includes(l)), 'what goes is unexplained: the dead and the dropped sandboxes\' links');
});

test('attach is idempotent per (sandbox id, network, ifname); detach is repeatable; gc keeps what it is told', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  h.netns.add('/ext/1');
  const req = { sandbox: { id: 'ctr', nsPath: '/ext/1' }, network: 'a', ifname: 'net0' };
  const first = await h.engine.attach(req);
  const txns = h.store.txns;
  const again = await h.engine.attach(req);
  assert.deepEqual(again, first);
  assert.equal(h.store.txns, txns, 'a repeat writes nothing');
  assert.equal(h.driver.calls.filter((c) => c.startsWith('join')).length, 1, 'and joins nothing');
  await assert.rejects(h.engine.attach({ ...req, ifname: 'net1' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'ALREADY_ATTACHED');
  // A failing join is undone: no records, no claim.
  h.netns.add('/ext/2');
  h.driver.failAt('join', 1);
  await assert.rejects(h.engine.attach({ sandbox: { id: 'ctr2', nsPath: '/ext/2' }, network: 'a', ifname: 'eth0' }), /fake join failed/);
  assert.equal(storeKeys(h, '/ipam/').length, 1);
  assert.equal(storeKeys(h, '/sandboxes/').length, 1);
  assert.deepEqual((await h.engine.detach({ sandboxId: 'ctr', network: 'a', ifname: 'net0' })).errors, []);
  assert.deepEqual((await h.engine.detach({ sandboxId: 'ctr', network: 'a', ifname: 'net0' })).errors, []);
  assert.equal(storeKeys(h, '/sandboxes/').length, 0, 'the external sandbox goes with its last attachment');
  // GC scoped to a network leaves the attachments to other networks alone; a network that does
  // not exist has nothing to collect.
  await network(h, 'b', '198.51.100.0/24');
  await h.engine.attach(req);
  h.netns.add('/ext/3');
  await h.engine.attach({ sandbox: { id: 'ctr3', nsPath: '/ext/3' }, network: 'b', ifname: 'eth0' });
  assert.deepEqual((await h.engine.gcAttachments([], 'no-such-network')).errors, []);
  assert.equal(storeKeys(h, '/endpoints/').length, 2);
  assert.deepEqual((await h.engine.gcAttachments([], 'b')).errors, []);
  await h.engine.checkAttachment({ sandboxId: 'ctr', network: 'a', ifname: 'net0' });
  await assert.rejects(h.engine.checkAttachment({ sandboxId: 'ctr3', network: 'b', ifname: 'eth0' }), (e: unknown) => e instanceof SwitchyardError && e.code === 'ATTACHMENT_NOT_FOUND');
  assert.deepEqual((await h.engine.detach({ sandboxId: 'ctr', network: 'a', ifname: 'net0' })).errors, []);
  // A leave that fails is reported, coded, and the records still go.
  await h.engine.attach(req);
  h.driver.failAt('leave', 1);
  const report = await h.engine.gcAttachments([]);
  assert.equal(report.errors.length, 1);
  assert.ok(report.errors[0] instanceof SwitchyardError);
  assert.equal(storeKeys(h, '/endpoints/').length, 0);
});

test('a sandbox teardown reports what failed as coded errors, and still records the exit', async () => {
  const h = await makeHarness();
  await network(h, 'a', '192.0.2.0/24');
  const id = await runningSandbox(h, 's1', ['a']);
  const logged: string[] = [];
  h.ctx.log = (m) => void logged.push(m);
  h.ctx.dns.detach = () => {
    throw new SwitchyardError('unavailable', 'DNS_DOWN', 'the resolver is gone');
  };
  h.ctx.host.deleteSandboxNetns = () => {
    throw new Error('busy');
  };
  const report = await tearDown(h.ctx, h.engine.runtime, h.ctx.state.sandboxes.get(id)!, 0);
  assert.deepEqual(report.errors.map((e) => e.code), ['DNS_DOWN', 'INTERNAL']);
  assert.match(report.errors[0]!.message, /tear down s1: dns: the resolver is gone/);
  assert.equal(h.ctx.state.sandboxes.get(id)!.state.status, 'exited');
  assert.deepEqual(logged, [], 'the report is returned, not logged, by tearDown');
});
