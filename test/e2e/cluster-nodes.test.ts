/**
 * The cluster's hosts through real daemons (test/helpers/cluster-lab.ts: three host
 * namespaces on an underlay bridge, etcd in a namespace of its own): `node ls` on every host
 * (SELF right, STATUS ready), `info`'s cluster fields, a second daemon with a taken name
 * refused at start, kill -9 of a daemon → that node `down` within the lease TTL, `node rm`
 * (refused for self and, without -f, for a ready node), and etcd stopped: local bridge
 * networks and sandboxes keep working, cluster calls fail at once with 503, and recover when
 * etcd is back.
 *
 * Global networks through the daemon wait for a global driver (the overlay): they are tested
 * at engine level in test/integration/cluster-engine.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/netns.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 3 });
});
after(async () => {
  await lab?.close();
});

const rows = (i: number) =>
  lab
    .cli(i, ['node', 'ls', '--format', '{{.Name}} {{.Address}} {{.Status}} {{.Self}}'])
    .stdout.trim()
    .split('\n');

test('node ls on every host: three nodes, ready, SELF right; info shows the cluster store', async () => {
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(rows(i), [0, 1, 2].map((j) => `host${j} ${lab.hosts[j]!.address} ready ${i === j}`));
  }
  const table = lab.cli(0, ['node', 'ls']).stdout.split('\n');
  assert.match(table[0]!, /^ID\s+NAME\s+ADDRESS\s+STATUS\s+SELF/);
  const inspect = JSON.parse(lab.cli(1, ['node', 'inspect', 'host2']).stdout) as { Name: string; DataPathPort: number; Self: boolean }[];
  assert.equal(inspect[0]!.Name, 'host2');
  assert.equal(inspect[0]!.DataPathPort, 4789);
  assert.equal(inspect[0]!.Self, false);
  const info = lab.cli(0, ['info']).stdout;
  assert.match(info, new RegExp(`Cluster Store: +${lab.store.replace(/\./g, '\\.')}`));
  assert.match(info, new RegExp(`Cluster Advertise: +${lab.hosts[0]!.address.replace(/\./g, '\\.')}`));
});

test('a second daemon with a node name the cluster already has refuses to start, naming --node-name', async () => {
  const { ns, address } = lab.addNamespace('cldup');
  const e2eMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/swy-e2e-')).sort();
  const mountsBefore = e2eMounts();
  await assert.rejects(
    startDaemon({ host: ns, args: ['--cluster-store', lab.store, '--cluster-advertise', address, '--node-name', 'host0'] }),
    (e: Error) => /node name "host0" is already used/.test(e.message) && /--node-name/.test(e.message),
  );
  assert.equal(rows(0).length, 3);
  // The failed start leaves no mount behind (its exec root's netns directory was bind-mounted).
  assert.deepEqual(e2eMounts(), mountsBefore);
});

test('kill -9 of a daemon: its node goes down within the lease TTL; node rm refuses self and a ready node, and forgets a down one everywhere', async (t) => {
  const t0 = Date.now();
  await lab.kill(2);
  await waitFor(() => rows(0).includes(`host2 ${lab.hosts[2]!.address} down false`), 'host2 down', 12_000, 200);
  const downMs = Date.now() - t0;
  t.diagnostic(`kill -9 → node down after ${downMs} ms (lease TTL 6 s)`);
  assert.ok(downMs <= 9_000, `down after ${downMs} ms`);

  const self = lab.cli(0, ['node', 'rm', 'host0'], { allowFail: true });
  assert.equal(self.status, 1);
  assert.match(self.stderr, /is this host/);
  const ready = lab.cli(0, ['node', 'rm', 'host1'], { allowFail: true });
  assert.equal(ready.status, 1);
  assert.match(ready.stderr, /host1 is ready.*node rm -f/);

  assert.equal(lab.cli(0, ['node', 'rm', 'host2']).stdout.trim(), 'host2');
  assert.deepEqual(rows(1).map((r) => r.split(' ')[0]), ['host0', 'host1']);
  // Its daemon comes back: it registers again.
  await lab.restart(2);
  await waitFor(() => rows(0).includes(`host2 ${lab.hosts[2]!.address} ready false`), 'host2 back', 10_000, 100);
});

test('etcd stopped: local bridge networks and sandboxes keep working; cluster calls fail at once with 503; all recovers when etcd is back', async (t) => {
  await lab.stopEtcd();
  try {
    const t0 = Date.now();
    const ls = lab.cli(0, ['node', 'ls'], { allowFail: true });
    const failMs = Date.now() - t0;
    assert.equal(ls.status, 1);
    assert.match(ls.stderr, /etcd|unreachable|cluster store/i);
    t.diagnostic(`node ls with etcd stopped failed after ${failMs} ms`);
    assert.ok(failMs < 4_000, `node ls took ${failMs} ms to fail`);
    const t1 = Date.now();
    lab.cli(0, ['network', 'create', '--subnet', '10.91.0.0/24', 'loc']);
    lab.cli(0, ['run', '-d', '--name', 'l1', '--network', 'loc', 'sleep', '300']);
    lab.cli(0, ['run', '-d', '--name', 'l2', '--network', 'loc', 'sleep', '300']);
    type Inspect = { NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } }[];
    const ns = (JSON.parse(lab.cli(0, ['inspect', 'l1']).stdout) as Inspect)[0]!.NetworkSettings.SandboxKey;
    const ip2 = (JSON.parse(lab.cli(0, ['inspect', 'l2']).stdout) as Inspect)[0]!.NetworkSettings.Networks['loc']!.IPAddress;
    lab.hosts[0]!.daemon.inSandbox(ns, 'ping', ['-c1', '-W2', ip2]);
    t.diagnostic(`local network create + 2 runs + ping with etcd stopped: ${Date.now() - t1} ms`);
    // A daemon (re)started while etcd is down starts and serves its local networks.
    await lab.restart(1);
    assert.equal(lab.cli(1, ['network', 'ls', '--format', '{{.Name}}']).status, 0);
  } finally {
    await lab.startEtcd();
  }
  const t2 = Date.now();
  await waitFor(() => lab.cli(0, ['node', 'ls'], { allowFail: true }).status === 0, 'node ls works again', 10_000, 50);
  t.diagnostic(`etcd back → node ls answers after ${Date.now() - t2} ms`);
  await waitFor(() => rows(1).every((r) => r.includes(' ready ')), 'every node ready again', 15_000, 100);
  t.diagnostic(`etcd back → every node ready after ${Date.now() - t2} ms`);
  lab.cli(0, ['rm', '-f', 'l1', 'l2']);
  lab.cli(0, ['network', 'rm', 'loc']);
});
