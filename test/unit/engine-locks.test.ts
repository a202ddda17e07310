/**
 * The engine's locks, as deterministic interleavings over the harness
 * (test/helpers/engine-harness.ts): an operation is held at one of its store commits
 * (HarnessStore.pauseAt) while another arrives.
 *
 * - Firewall reload vs start (audit M1): the reload rebuilds the tables from the committed
 *   records, so a reload between a start's kernel change and its commit used to flush the
 *   started sandbox's anti-spoofing and port elements for good. The engine's reload waits
 *   for it; the control runs the same interleaving with the rebuild alone (the daemon's old
 *   composition, without the lock) and shows the elements lost.
 * - Network removal vs create and start (audit M3).
 * - The engine-wide lock itself: shared holders run together, an exclusive one waits for
 *   them and goes before later arrivals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, type Harness } from '../helpers/engine-harness.js';
import { validateNetworkCreate, type NetworkSpec } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { rebuildFirewall } from '../../src/engine/firewall-reload.js';
import { KeyedMutex } from '../../src/engine/locks.js';
import { SwitchyardError } from '../../src/errors.js';

async function network(h: Harness, name: string, subnet: string): Promise<string> {
  const spec = { ...validateNetworkCreate({ Name: name, IPAM: { Config: [{ Subnet: subnet }] } }), driver: 'fake' as NetworkSpec['driver'] };
  return (await h.engine.createNetwork(spec)).id;
}

async function created(h: Harness, name: string, net: string, publish = true): Promise<string> {
  const { id } = await h.engine.createSandbox(sandboxSpecOf({
    Name: name, Cmd: ['sleep', '1'], NetworkMode: net, ...(publish ? { PortSpecs: ['8080:80'] } : {}),
  }));
  return id;
}

/** The firewall elements a running sandbox must have: its endpoints' anti-spoofing and its ports. */
function wanted(h: Harness, id: string): string[] {
  return [...h.ctx.state.endpointsOfSandbox(id).map((e) => `spoof:${e.id}`), `port:${id}`];
}
const tick = () => new Promise((r) => setTimeout(r, 5));
const missing = (h: Harness, id: string) => wanted(h, id).filter((e) => !h.elements.has(e));

// The start's commits: 1 = running (after the join added the anti-spoofing elements),
// 2 = its ports (after they were published), 3 = its pid.
for (const commit of [1, 2, 3]) {
  test(`firewall reload while a start awaits commit ${commit}: the started sandbox keeps its anti-spoofing and port elements`, async () => {
    const h = await makeHarness();
    await network(h, 'n', '192.0.2.0/24');
    const id = await created(h, 'sb1', 'n');
    const pause = h.store.pauseAt(commit);
    const start = h.engine.startSandbox(id);
    await pause.reached;
    let reloaded = false;
    const reload = h.engine.firewallReload().then(() => (reloaded = true));
    await tick();
    assert.equal(reloaded, false, 'the reload waits for the start in flight');
    assert.equal(h.driver.reloads, 0);
    pause.release();
    await start;
    await reload;
    assert.equal(h.driver.reloads, 1, 'the reload ran');
    assert.equal(h.ctx.state.sandboxes.get(id)!.state.status, 'running');
    assert.deepEqual(missing(h, id), []);
  });
}

test('control: the same interleaving with the rebuild outside the locks (the old composition) loses the elements', async () => {
  const lost: string[][] = [];
  for (const commit of [1, 2]) {
    const h = await makeHarness();
    await network(h, 'n', '192.0.2.0/24');
    const id = await created(h, 'sb1', 'n');
    const pause = h.store.pauseAt(commit);
    const start = h.engine.startSandbox(id);
    await pause.reached;
    rebuildFirewall(h.ctx);
    pause.release();
    await start;
    assert.equal(h.driver.reloads, 1);
    lost.push(missing(h, id).map((e) => e.split(':')[0]!));
  }
  assert.deepEqual(lost, [['spoof'], ['port']], 'at commit 1 the anti-spoofing elements are lost, at commit 2 the ports');
});

test('firewall reload while a stop awaits its commit: the stopped sandbox gets no ports back', async () => {
  const h = await makeHarness();
  await network(h, 'n', '192.0.2.0/24');
  const id = await created(h, 'sb1', 'n');
  await h.engine.startSandbox(id);
  assert.deepEqual(missing(h, id), []);
  const pause = h.store.pauseAt(1); // tearDown: unpublished, awaiting the exited commit
  const stop = h.engine.stopSandbox(id, 0);
  await pause.reached;
  const reload = h.engine.firewallReload();
  await tick();
  pause.release();
  await stop;
  await reload;
  assert.equal(h.driver.reloads, 1);
  assert.deepEqual(wanted(h, id).filter((e) => h.elements.has(e)), [], 'no element of the stopped sandbox is left');
});

test('create vs network rm: a create that resolved a network removed meanwhile fails cleanly and commits nothing', async () => {
  const h = await makeHarness();
  const netId = await network(h, 'n', '192.0.2.0/24');
  const pause = h.store.pauseAt(1); // the removal's commit
  const rm = h.engine.removeNetwork('n');
  await pause.reached;
  const create = h.engine.createSandbox(sandboxSpecOf({ Name: 'sb1', Cmd: ['true'], NetworkMode: 'n' }));
  await tick();
  pause.release();
  await rm;
  await assert.rejects(create, (e: SwitchyardError) => e.code === 'NETWORK_GONE' && e.kind === 'conflict' && /network n was removed/.test(e.message));
  assert.equal(h.ctx.state.networks.has(netId), false);
  assert.equal(h.ctx.state.sandboxByName('sb1'), undefined, 'no sandbox committed');
  assert.deepEqual([...h.store.data.keys()].filter((k) => k.includes(netId)), [], 'no endpoint or claim on the removed network');
  for (const ep of h.ctx.state.endpoints.values()) assert.ok(h.ctx.state.networks.has(ep.networkId), `endpoint ${ep.id} points at a missing network`);
});

test('start vs network rm: the removal waits for the start, then refuses (active endpoint); nothing points at a missing network', async () => {
  const h = await makeHarness();
  const netId = await network(h, 'n', '192.0.2.0/24');
  const id = await created(h, 'sb1', 'n', false);
  const pause = h.store.pauseAt(1); // the start's running commit, after the join
  const start = h.engine.startSandbox(id);
  await pause.reached;
  const rm = h.engine.removeNetwork('n');
  await tick(); // the removal gets as far as it can
  pause.release();
  await start;
  await assert.rejects(rm, (e: SwitchyardError) => e.code === 'NETWORK_IN_USE');
  assert.equal(h.ctx.state.networks.has(netId), true);
  assert.ok(h.driver.networks.has(netId), 'the network kernel state is still there');
  const eps = h.ctx.state.endpointsOfSandbox(id);
  assert.equal(eps.length, 1);
  assert.equal(eps[0]!.networkId, netId);
  assert.equal(h.ctx.state.sandboxes.get(id)!.state.status, 'running');
});

test('start of a stopped sandbox whose network goes: removal before the start wins, the start has nothing left to join', async () => {
  const h = await makeHarness();
  await network(h, 'n', '192.0.2.0/24');
  const id = await created(h, 'sb1', 'n', false);
  const pause = h.store.pauseAt(1); // the removal's commit
  const rm = h.engine.removeNetwork('n');
  await pause.reached;
  const start = h.engine.startSandbox(id);
  await tick();
  pause.release();
  await rm;
  await start;
  assert.deepEqual(h.ctx.state.endpointsOfSandbox(id), [], 'its reservation went with the network');
  for (const ep of h.ctx.state.endpoints.values()) assert.ok(h.ctx.state.networks.has(ep.networkId));
});

test('engine-wide lock: shared holders overlap, the exclusive one waits for them and goes before later arrivals', async () => {
  const locks = new KeyedMutex();
  const events: string[] = [];
  let releaseA!: () => void;
  const a = locks.withLocks(['sb:a'], async () => {
    events.push('a in');
    await new Promise<void>((r) => (releaseA = r));
    events.push('a out');
  });
  const b = locks.withLocks(['sb:b'], async () => void events.push('b'));
  await b;
  const x = locks.exclusive(() => void events.push('reload'));
  const c = locks.withLocks(['sb:c'], async () => void events.push('c'));
  await tick();
  assert.deepEqual(events, ['a in', 'b'], 'b ran while a held its lock; the reload and c wait');
  releaseA();
  await Promise.all([a, x, c]);
  assert.deepEqual(events, ['a in', 'b', 'a out', 'reload', 'c']);
});

test('resource locks: two starts on one network hold its lock shared and overlap; a network removal (exclusive) waits for both', async () => {
  const locks = new KeyedMutex();
  const events: string[] = [];
  const gates: (() => void)[] = [];
  const start = (sb: string) => locks.withLocks([`sb:${sb}`], async () => {
    events.push(`start ${sb} in`);
    await new Promise<void>((r) => gates.push(r));
    events.push(`start ${sb} out`);
  }, { shared: ['net:x'] });
  const a = start('a');
  const b = start('b');
  await tick();
  const rm = locks.withLocks(['networks', 'net:x'], async () => void events.push('rm'));
  await tick();
  assert.deepEqual(events, ['start a in', 'start b in'], 'both starts run; the removal waits');
  gates[0]!();
  await tick();
  assert.deepEqual(events, ['start a in', 'start b in', 'start a out'], 'the removal still waits for b');
  gates[1]!();
  await Promise.all([a, b, rm]);
  assert.deepEqual(events, ['start a in', 'start b in', 'start a out', 'start b out', 'rm']);
});
