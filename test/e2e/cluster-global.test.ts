/**
 * Global (overlay) networks through three real daemons in the cluster lab
 * (test/helpers/cluster-lab.ts) and the failures of issue 11 at daemon level
 * (docs/RELIABILITY.md "Cluster"): a network created on one host is seen on every host and
 * carries traffic across hosts; the same name / the same static address asked on two hosts at
 * once has exactly one winner (409 for the other); etcd stopped: cross-host traffic goes on,
 * global operations fail at once with 503 and leave nothing, local ones work, and every host
 * converges when etcd is back (measured); a daemon away while etcd compacts the history it
 * watched resyncs from a full read; a host gone for good: down, `node rm` releases its
 * addresses and the other hosts drop its endpoints.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { sh, waitFor } from '../helpers/netns.js';
import { httpStatusOf } from '../../src/api/http-status.js';
import type { SwitchyardError } from '../../src/errors.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 3 });
});
after(async () => {
  await lab?.close();
});

type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } }[];
const sandbox = (i: number, name: string) => (JSON.parse(lab.cli(i, ['inspect', name]).stdout) as Inspect)[0]!.NetworkSettings;
const ipOf = (i: number, name: string, net: string) => sandbox(i, name).Networks[net]!.IPAddress;
/** ping from sandbox `name` on host i; true when it answered. */
const pings = (i: number, name: string, target: string) =>
  lab.hosts[i]!.daemon.inSandbox(sandbox(i, name).SandboxKey, 'ping', ['-c1', '-W1', target], { allowFail: true }).status === 0;
/** The embedded DNS of sandbox `name` on host i answers `target` with an address. */
const resolves = (i: number, name: string, target: string) =>
  /^\d+\.\d+\.\d+\.\d+$/m.test(lab.hosts[i]!.daemon.inSandbox(sandbox(i, name).SandboxKey, 'dig', ['@127.0.0.11', '+short', '+tries=1', '+time=2', target], { allowFail: true, timeoutMs: 10_000 }).stdout);
/** The interfaces in sandbox `name`'s namespace on host i (a failed connect must leave none behind). */
const linksOf = (i: number, name: string) =>
  lab.hosts[i]!.daemon.inSandbox(sandbox(i, name).SandboxKey, 'ip', ['-o', 'link', 'show']).stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]!).sort();
const statusOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? httpStatusOf(r.reason as SwitchyardError) : 200);
const nodeRows = (i: number) => lab.cli(i, ['node', 'ls', '--format', '{{.Name}} {{.Status}}']).stdout.trim().split('\n');

/** Asks etcd (HTTP gateway, from host 0's namespace) for its revision, or compacts to `rev`. */
function etcdCall(path: string, body: unknown): Record<string, unknown> {
  const url = `${lab.etcd.endpoints[0]}${path}`;
  const out = sh('ip', ['netns', 'exec', lab.hosts[0]!.ns.name, 'curl', '-s', '--max-time', '5', '-X', 'POST', '-d', JSON.stringify(body), url]).stdout;
  return JSON.parse(out) as Record<string, unknown>;
}
const etcdRevision = () => Number((etcdCall('/v3/kv/range', { key: Buffer.from('/').toString('base64') }).header as { revision: string }).revision);

test('an overlay network created on one host is global on every host; sandboxes on two hosts talk across hosts, by name too', async () => {
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.77.0.0/24', 'gov']);
  for (const i of [0, 1, 2]) {
    assert.equal(lab.cli(i, ['network', 'ls', '--filter', 'name=gov', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']).stdout.trim(), 'gov overlay global');
  }
  lab.cli(0, ['run', '-d', '--name', 'sa', '--network', 'gov', 'sleep', '600']);
  lab.cli(1, ['run', '-d', '--name', 'sb', '--network', 'gov', 'sleep', '600']);
  const ipB = ipOf(1, 'sb', 'gov');
  await waitFor(() => pings(0, 'sa', ipB), 'a (host0) pings b (host1) over the overlay', 10_000, 100);
  assert.ok(pings(1, 'sb', ipOf(0, 'sa', 'gov')), 'b pings a back');
  assert.ok(resolves(0, 'sa', 'sb'), 'a resolves b (a sandbox on another host) through its DNS');
  const peers = (JSON.parse(lab.cli(2, ['network', 'inspect', '-v', 'gov']).stdout) as { Peers: { Name: string }[] }[])[0]!.Peers.map((p) => p.Name).sort();
  assert.deepEqual(peers, ['host0', 'host1']);
  const rm = lab.cli(2, ['network', 'rm', 'gov'], { allowFail: true });
  assert.notEqual(rm.status, 0);
  assert.match(rm.stderr, /has active endpoints/);
});

test('races across hosts through the daemons: the same network name, the same static address, on two hosts at once: exactly one wins, the other gets 409', async () => {
  for (let round = 0; round < 3; round++) {
    const name = `race${round}`;
    const res = await Promise.allSettled([0, 1].map((i) => lab.hosts[i]!.daemon.client.createNetwork({ Name: name, Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: `10.78.${round}.0/24` }] } })));
    assert.deepEqual(res.map(statusOf).sort(), [200, 409], JSON.stringify(res.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))));
    for (const i of [0, 1, 2]) assert.equal(lab.cli(i, ['network', 'ls', '--filter', `name=${name}`, '-q']).stdout.trim().split('\n').filter(Boolean).length, 1);
  }
  // Static address: s0 (host0) and s1 (host1) both ask 10.78.0.50 on race0 at once.
  lab.cli(0, ['run', '-d', '--name', 's0', '--network', 'gov', 'sleep', '600']);
  lab.cli(1, ['run', '-d', '--name', 's1', '--network', 'gov', 'sleep', '600']);
  const linksBefore = [0, 1].map((i) => linksOf(i, `s${i}`));
  const res = await Promise.allSettled([0, 1].map((i) => lab.hosts[i]!.daemon.client.connectNetwork('race0', `s${i}`, { IPAMConfig: { IPv4Address: '10.78.0.50' } })));
  assert.deepEqual(res.map(statusOf).sort(), [200, 409], JSON.stringify(res.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))));
  const loser = res.findIndex((r) => r.status === 'rejected');
  assert.match(String((res[loser] as PromiseRejectedResult).reason), /10\.78\.0\.50/);
  assert.equal(sandbox(loser, `s${loser}`).Networks['race0'], undefined, 'the loser is not on race0');
  // Its interface was made while its txn was in flight (endpoint-ops.ts): the refusal took it away again.
  assert.deepEqual(linksOf(loser, `s${loser}`), linksBefore[loser], 'the loser has no interface left from race0');
  const winner = 1 - loser;
  assert.equal(ipOf(winner, `s${winner}`, 'race0'), '10.78.0.50');
  lab.cli(winner, ['network', 'disconnect', 'race0', `s${winner}`]);
  for (const round of [0, 1, 2]) lab.cli(round % 3, ['network', 'rm', `race${round}`]);
  lab.cli(0, ['rm', '-f', 's0']);
  lab.cli(1, ['rm', '-f', 's1']);
});

test('etcd stopped: traffic across hosts goes on, global operations (a disconnect too) fail at once with 503 and leave nothing, local ones work; etcd back: every host converges', async (t) => {
  const ipB = ipOf(1, 'sb', 'gov');
  lab.cli(2, ['run', '-d', '--name', 'c0', 'sleep', '600']);
  const c0Links = linksOf(2, 'c0');
  await lab.stopEtcd();
  let failed: number[] = [];
  try {
    assert.ok(pings(0, 'sa', ipB), 'a still pings b across hosts with etcd stopped');
    assert.ok(resolves(0, 'sa', 'sb'), 'and resolves it');
    const t0 = Date.now();
    const res = await Promise.allSettled([
      lab.hosts[0]!.daemon.client.createNetwork({ Name: 'gdown', Driver: 'overlay', IPAM: { Config: [{ Subnet: '10.79.0.0/24' }] } }),
      lab.hosts[2]!.daemon.client.connectNetwork('gov', 'c0'),
      lab.hosts[1]!.daemon.client.removeNetwork('gov'),
      lab.hosts[0]!.daemon.client.disconnectNetwork('gov', 'sa'),
    ]);
    const failMs = Date.now() - t0;
    failed = res.map(statusOf);
    t.diagnostic(`etcd stopped: create / connect / rm / disconnect of global networks answered ${failed.join(',')} after ${failMs} ms`);
    assert.deepEqual(failed, [503, 503, 503, 503]);
    assert.ok(failMs < 3_000, `took ${failMs} ms to fail`);
    assert.equal(sandbox(2, 'c0').Networks['gov'], undefined, 'c0 is not half-attached');
    assert.deepEqual(linksOf(2, 'c0'), c0Links, 'nor is its namespace (no interface from gov left)');
    // The failed disconnect left sa on gov, in its records and in its namespace.
    assert.ok(sandbox(0, 'sa').Networks['gov'], 'sa is still on gov');
    await waitFor(() => pings(0, 'sa', ipB), 'sa still pings b across hosts', 5_000, 100);
    lab.cli(2, ['network', 'create', '--subnet', '10.92.0.0/24', 'loc2']);
    lab.cli(2, ['network', 'connect', 'loc2', 'c0']);
  } finally {
    await lab.startEtcd();
  }
  const t1 = Date.now();
  await waitFor(() => [0, 1, 2].every((i) => nodeRows(i).every((r) => r.endsWith(' ready'))), 'every node ready on every host', 15_000, 50);
  const readyMs = Date.now() - t1;
  // A global change made now on host2 reaches host0's data plane.
  await waitFor(() => lab.hosts[2]!.daemon.client.connectNetwork('gov', 'c0').then(() => true, () => false), 'connect c0 to gov', 15_000, 50);
  const ipC = ipOf(2, 'c0', 'gov');
  await waitFor(() => pings(0, 'sa', ipC), 'a pings c0 (host2)', 15_000, 50);
  const convergedMs = Date.now() - t1;
  t.diagnostic(`etcd back → every node ready on every host after ${readyMs} ms; → a new attach on host2 answers a ping from host0 after ${convergedMs} ms`);
  assert.ok(readyMs <= 2_000, `every host converged after ${readyMs} ms`);
  for (const i of [0, 1, 2]) assert.doesNotMatch(lab.cli(i, ['network', 'ls']).stdout, /gdown/, 'the failed create left nothing');
  lab.cli(2, ['network', 'disconnect', 'loc2', 'c0']);
  lab.cli(2, ['network', 'rm', 'loc2']);
});

test('a daemon away while etcd compacts the history it watched resyncs from a full read at start', async () => {
  await lab.kill(1);
  lab.cli(0, ['run', '-d', '--name', 'sd', '--network', 'gov', 'sleep', '600']);
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--subnet', '10.80.0.0/24', 'gnew']);
  const rev = etcdRevision();
  const compacted = etcdCall('/v3/kv/compaction', { revision: String(rev), physical: true });
  assert.ok(compacted.header, JSON.stringify(compacted));
  await lab.restart(1);
  assert.match(lab.cli(1, ['network', 'ls', '--format', '{{.Name}} {{.Scope}}']).stdout, /gnew global/);
  const ipD = ipOf(0, 'sd', 'gov');
  await waitFor(() => pings(1, 'sb', ipD), 'b (host1, restarted) pings d (attached while it was away)', 15_000, 100);
  assert.ok(resolves(1, 'sb', 'sd'), 'and resolves it');
  lab.cli(0, ['network', 'rm', 'gnew']);
  lab.cli(0, ['rm', '-f', 'sd']);
});

test('a host gone for good: its lease expires (down), node rm releases its addresses, every other host drops its endpoints', async (t) => {
  const ipC = ipOf(2, 'c0', 'gov');
  await waitFor(() => pings(0, 'sa', ipC), 'a pings c0', 10_000, 100);
  const t0 = Date.now();
  await lab.kill(2);
  await waitFor(() => nodeRows(0).includes('host2 down'), 'host2 down', 15_000, 200);
  t.diagnostic(`kill -9 → host2 down after ${Date.now() - t0} ms`);
  assert.equal(lab.cli(0, ['node', 'rm', 'host2']).stdout.trim(), 'host2');
  for (const i of [0, 1]) {
    await waitFor(
      () => !(JSON.parse(lab.cli(i, ['network', 'inspect', '-v', 'gov']).stdout) as { Peers: { Name: string }[] }[])[0]!.Peers.some((p) => p.Name === 'host2'),
      `host${i} drops host2's peer`,
      5_000,
      50,
    );
  }
  // c0's address is free again cluster-wide.
  lab.cli(1, ['run', '-d', '--name', 'se', '--network', 'gov', '--ip', ipC, 'sleep', '600']);
  assert.equal(ipOf(1, 'se', 'gov'), ipC);
  // From a sandbox that never talked to c0 (sa's own neighbour cache still holds c0's MAC
  // for that address until the kernel's reachability probe gives it up: MACs are random).
  lab.cli(0, ['run', '-d', '--name', 'sf', '--network', 'gov', 'sleep', '600']);
  await waitFor(() => pings(0, 'sf', ipC), 'sf (host0) pings se (host1) at the released address', 10_000, 100);
  lab.cli(1, ['rm', '-f', 'se', 'sb']);
  lab.cli(0, ['rm', '-f', 'sa', 'sf']);
  lab.cli(0, ['network', 'rm', 'gov']);
});
