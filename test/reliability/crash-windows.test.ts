/**
 * The defects the chaos runner found, each reproduced on purpose (no luck needed):
 *   1. a disconnect moved the gateway but left the published ports on the released address;
 *   2. a crash between creating an endpoint's veth and configuring its sandbox end left it
 *      down and bare, and reconcile took it for present;
 *   3. an address reused right after its previous holder went was black-holed by the
 *      host's neighbour cache (no gratuitous ARP);
 *   4. a crash between spawning a sandbox's process and recording its pid left an orphan
 *      process (and its namespace) running for a sandbox marked exited.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { killDaemon, SERVER_CMD } from './chaos.js';
import { settledProblems } from './invariants.js';

let d: TestDaemon;
before(async () => {
  d = await startDaemon({ tag: 'crashw' });
  await d.client.createNetwork({ Name: 'wa', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.94.0.0/24' }] } });
  await d.client.createNetwork({ Name: 'wb', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.93.0.0/24' }] } });
});
after(async () => {
  await d?.stop();
});

const httpVia = (gateway: string, port: string | number): string =>
  d.onHost('socat', ['-T2', '-', `TCP:${gateway}:${port},connect-timeout=2`], { allowFail: true }).stdout.trim();

const dnatAny = (): string => d.onHost('nft', ['list', 'map', 'inet', 'switchyard', 'dnat4-any']).stdout;

test('1. published ports follow the gateway endpoint when it is disconnected', async () => {
  const c = d.client;
  await c.createSandbox({ Name: 'p1', Cmd: SERVER_CMD, NetworkMode: 'wa', PortSpecs: ['21500:80'] });
  await c.startSandbox('p1');
  await c.connectNetwork('wb', 'p1');
  let s = await c.inspectSandbox('p1');
  const ipA = s.NetworkSettings.Networks.wa!.IPAddress;
  assert.match(dnatAny(), new RegExp(`tcp . 21500 : ${ipA.replace(/\./g, '\\.')} . 80`));
  await c.disconnectNetwork('wa', 'p1');
  s = await c.inspectSandbox('p1');
  const ipB = s.NetworkSettings.Networks.wb!.IPAddress;
  assert.match(dnatAny(), new RegExp(`tcp . 21500 : ${ipB.replace(/\./g, '\\.')} . 80`), 'the element follows to wb');
  assert.doesNotMatch(dnatAny(), new RegExp(`: ${ipA.replace(/\./g, '\\.')} \\. 80`), 'nothing leads to the released address');
  assert.equal(s.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort, '21500', 'same host port');
  assert.equal(httpVia('10.93.0.1', 21500), 'ok');
  await c.removeSandbox('p1', true);
  assert.doesNotMatch(dnatAny(), /21500/);
});

test('2. an endpoint left down and without its address by a crash is repaired at start', async () => {
  const c = d.client;
  await c.createSandbox({ Name: 'e1', Cmd: ['sleep', 'infinity'], NetworkMode: 'wa' });
  await c.startSandbox('e1');
  const s = await c.inspectSandbox('e1');
  const key = s.NetworkSettings.SandboxKey;
  const ep = s.NetworkSettings.Networks.wa!;
  await killDaemon(d);
  // What the crash leaves: the pair exists (host end on the bridge), the sandbox end is bare.
  d.inSandbox(key, 'ip', ['addr', 'flush', 'dev', 'eth0']);
  d.inSandbox(key, 'ip', ['link', 'set', 'eth0', 'down']);
  await d.restart();
  const addr = d.inSandbox(key, 'ip', ['-br', 'addr', 'show']).stdout;
  assert.match(addr, new RegExp(`${ep.IPAddress.replace(/\./g, '\\.')}/${ep.IPPrefixLen}`), addr);
  assert.equal(d.onHost('ping', ['-c1', '-W2', ep.IPAddress], { allowFail: true }).status, 0, 'reachable again');
  assert.deepEqual((await settledProblems(d, c)).problems, []);
  await c.removeSandbox('e1', true);
});

test('3. an address handed to a new sandbox is reachable at once, not cached with the old MAC', async () => {
  const c = d.client;
  const ip = '10.94.0.77';
  const run = async (name: string) => {
    await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: 'wa', EndpointsConfig: { wa: { IPAMConfig: { IPv4Address: ip } } } });
    await c.startSandbox(name);
    return (await c.inspectSandbox(name)).NetworkSettings.Networks.wa!.MacAddress;
  };
  let mac = await run('g0');
  // Several rounds: the host's entry for the address is REACHABLE with the previous
  // holder's MAC each time, and the first packet to the new holder must get through.
  for (let i = 1; i <= 5; i++) {
    assert.equal(d.onHost('ping', ['-c1', '-W1', ip], { allowFail: true }).status, 0, `round ${i}: the current holder answers`);
    assert.match(d.onHost('ip', ['neigh', 'show', ip]).stdout, new RegExp(mac), `round ${i}: cached with the current MAC`);
    await c.removeSandbox(`g${i - 1}`, true);
    const next = await run(`g${i}`);
    assert.notEqual(next, mac);
    mac = next;
    assert.equal(d.onHost('ping', ['-c1', '-W1', ip], { allowFail: true }).status, 0, `round ${i}: the first packet to the new holder gets through`);
  }
  await c.removeSandbox('g5', true);
});

test('4. a process spawned but not recorded when the daemon died is stopped at start', async () => {
  const c = d.client;
  await c.createSandbox({ Name: 'o1', Cmd: ['sleep', 'infinity'], NetworkMode: 'wa' });
  await c.startSandbox('o1');
  const s = await c.inspectSandbox('o1');
  const pid = s.State.Pid;
  await killDaemon(d);
  // The record as the crash leaves it: "running" committed, the pid not yet.
  const store = await openLmdbStore({ path: path.join(d.dataRoot, 'store') });
  const key = `/sandboxes/${s.Id}`;
  const rec = JSON.parse((await store.get(key))!.value);
  rec.state.pid = 0;
  delete rec.state.pidStart;
  await store.txn({ compare: [], success: [{ type: 'put', key, value: JSON.stringify(rec) }] });
  await store.close();
  await d.restart();
  const gone = () => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return ['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
    } catch {
      return true;
    }
  };
  await waitFor(gone, `orphan ${pid} stopped`, 5000);
  assert.equal((await c.inspectSandbox('o1')).State.Running, false);
  assert.deepEqual((await settledProblems(d, c)).problems, []);
  await c.startSandbox('o1'); // and it starts again normally
  assert.equal((await c.inspectSandbox('o1')).State.Running, true);
  await c.removeSandbox('o1', true);
});

test('5. DNAT elements a crash left without a record are removed at start; live ones stay', async () => {
  const c = d.client;
  await c.createSandbox({ Name: 'k1', Cmd: SERVER_CMD, NetworkMode: 'wa', PortSpecs: ['21600:80'] });
  await c.startSandbox('k1');
  await killDaemon(d);
  // What a kill between installing a start's elements and recording its ports leaves.
  d.onHost('nft', ['add element inet switchyard dnat4-any { tcp . 23456 : 10.94.0.99 . 80 }; add element inet switchyard published4 { 10.94.0.99 . tcp . 80 }']);
  await d.restart();
  const map = dnatAny();
  assert.doesNotMatch(map, /23456/, 'stale DNAT element removed');
  assert.doesNotMatch(d.onHost('nft', ['list', 'set', 'inet', 'switchyard', 'published4']).stdout, /10\.94\.0\.99/, 'stale published element removed');
  assert.match(map, /21600/, 'the live sandbox keeps its port');
  assert.equal(httpVia('10.94.0.1', 21600), 'ok');
  assert.deepEqual((await settledProblems(d, c)).problems, []);
  await c.removeSandbox('k1', true);
});
