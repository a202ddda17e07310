/**
 * End-to-end: the CNI plugin (bin/cni/switchyard) on the global drivers, through real daemons
 * on the cluster lab (test/helpers/cluster-lab.ts: two host namespaces on one underlay, etcd in
 * its own namespace). For an attachable overlay network and a routed network, each created
 * through host0's daemon: on each host a namespace made by the test is ADDed with the plugin
 * (exec'd from that host's namespace, `host` pointing at that host's daemon socket); CHECK
 * passes; the two namespaces ping each other across hosts; DEL on host1 removes the
 * attachment there and host0 drops what it had for it (overlay: host1's peer; routed: the
 * route to host1's block), and the ping then fails (control). The lab's close() is the leak check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../helpers/daemon.js';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { assertNoLeaks, inNs, makeNs, removeNs, waitFor, type TestNs } from '../helpers/netns.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/routed.js';

const PLUGIN = path.join(REPO, 'bin', 'cni', 'switchyard');

let lab: ClusterLab;
const spaces: TestNs[] = [];
before(async () => {
  lab = await startClusterLab({ hosts: 2 });
});
after(async () => {
  for (const n of spaces) removeNs(n);
  for (const net of ['cgov', 'cgrt']) lab?.cli(0, ['network', 'rm', net], { allowFail: true });
  await lab?.close();
  assertNoLeaks(spaces.map((n) => n.name));
});

const ns = (tag: string): TestNs => {
  const n = makeNs(tag);
  spaces.push(n);
  return n;
};
const conf = (i: number, network: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: `swy-${network}`, type: 'switchyard', network, host: `unix://${lab.hosts[i]!.daemon.socket}`, ...extra });
/** Execs the plugin from host i's namespace, as a runtime on that host would. */
function cni(i: number, command: string, id: string, n: TestNs, stdin: string): { code: number; out: any; stderr: string } {
  const env = { PATH: process.env['PATH'] ?? '', CNI_COMMAND: command, CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent', CNI_CONTAINERID: id, CNI_NETNS: n.path };
  const r = spawnSync('nsenter', [`--net=${lab.hosts[i]!.ns.path}`, '--', PLUGIN], { env, input: stdin, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout.trim() ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}
const pings = (n: TestNs, to: string) => inNs(n.name, 'ping', ['-c1', '-W1', to], { allowFail: true }).status === 0;
const addrOf = (r: { out: any }) => (r.out.ips[0].address as string).split('/')[0]!;

/** ADD on both hosts, CHECK on both, ping both ways; returns the namespaces and addresses. */
async function attachBoth(network: string, tag: string) {
  const a = ns(`${tag}a`);
  const b = ns(`${tag}b`);
  const ra = cni(0, 'ADD', `ctr-${tag}a`, a, conf(0, network));
  assert.equal(ra.code, 0, JSON.stringify(ra.out) + ra.stderr + lab.hosts[0]!.daemon.log().slice(-3000));
  const rb = cni(1, 'ADD', `ctr-${tag}b`, b, conf(1, network));
  assert.equal(rb.code, 0, JSON.stringify(rb.out) + rb.stderr + lab.hosts[1]!.daemon.log().slice(-3000));
  const mine = (r: { out: any }, _n: TestNs) => r.out.interfaces[r.out.ips[0].interface];
  assert.deepEqual([mine(ra, a).name, mine(ra, a).sandbox], ['eth0', a.path]);
  assert.deepEqual([mine(rb, b).name, mine(rb, b).sandbox], ['eth0', b.path]);
  assert.equal(cni(0, 'CHECK', `ctr-${tag}a`, a, conf(0, network, { prevResult: ra.out })).code, 0, 'CHECK on host0');
  assert.equal(cni(1, 'CHECK', `ctr-${tag}b`, b, conf(1, network, { prevResult: rb.out })).code, 0, 'CHECK on host1');
  const [ipA, ipB] = [addrOf(ra), addrOf(rb)];
  await waitFor(() => pings(a, ipB), `${network}: a (host0) pings b (host1)`, 15_000, 100);
  assert.ok(pings(b, ipA), `${network}: b (host1) pings a (host0)`);
  return { a, b, ra, rb, ipA, ipB };
}

test('overlay: CNI ADD on two hosts, CHECK, ping across hosts; DEL removes the attachment and the other host drops its peer', async () => {
  lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.76.0.0/24', 'cgov']);
  const { a, b, ipB } = await attachBoth('cgov', 'cgo');
  const peers = (i: number) => (JSON.parse(lab.cli(i, ['network', 'inspect', '-v', 'cgov']).stdout) as { Peers: { Name: string }[] }[])[0]!.Peers.map((p) => p.Name).sort();
  assert.deepEqual(peers(0), ['host0', 'host1'], 'host0 sees both hosts as peers');
  assert.equal(cni(1, 'DEL', 'ctr-cgob', b, conf(1, 'cgov')).code, 0, 'DEL on host1');
  assert.doesNotMatch(inNs(b.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'eth0 gone from b');
  await waitFor(() => !peers(0).includes('host1'), 'host0 drops host1 as a peer', 10_000, 100);
  assert.ok(!pings(a, ipB), 'control: a no longer reaches b');
  assert.equal(cni(1, 'DEL', 'ctr-cgob', b, conf(1, 'cgov')).code, 0, 'DEL again');
  assert.equal(cni(0, 'DEL', 'ctr-cgoa', a, conf(0, 'cgov')).code, 0);
  lab.cli(0, ['network', 'rm', 'cgov']);
});

test('routed: CNI ADD on two hosts, CHECK, ping across hosts; DEL removes the attachment and the other host drops the route to its block', async () => {
  lab.cli(0, ['network', 'create', '-d', 'routed', '--attachable', '--subnet', '10.75.0.0/24', '-o', 'com.switchyard.routed.block_size=29', 'cgrt']);
  const { a, b, ra, ipB } = await attachBoth('cgrt', 'cgr');
  assert.match(ra.out.ips[0].address, /\/32$/, 'the routed attachment has a /32');
  const routes = (i: number) => inNs(lab.hosts[i]!.ns.name, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout;
  const block = `10.75.0.${Number(ipB.split('.')[3]) & ~7}/29`;
  const via = `${block} via ${lab.hosts[1]!.address}`;
  assert.ok(routes(0).includes(via), `host0 routes host1's block (${routes(0)})`);
  assert.equal(cni(1, 'DEL', 'ctr-cgrb', b, conf(1, 'cgrt')).code, 0, 'DEL on host1');
  assert.doesNotMatch(inNs(b.name, 'ip', ['-o', 'link']).stdout, /eth0/, 'eth0 gone from b');
  await waitFor(() => !routes(0).includes(via), "host0 drops the route to host1's block (released when empty)", 10_000, 100);
  assert.ok(!pings(a, ipB), 'control: a no longer reaches b');
  assert.equal(cni(1, 'DEL', 'ctr-cgrb', b, conf(1, 'cgrt')).code, 0, 'DEL again');
  assert.equal(cni(0, 'DEL', 'ctr-cgra', a, conf(0, 'cgrt')).code, 0);
  lab.cli(0, ['network', 'rm', 'cgrt']);
});
