/**
 * ipvlan L3 networks that span hosts (docs/drivers/ipvlan.md "Across hosts") on Debian's
 * stock kernel in the VM lane (`npm run test:vm`; this machine's kernel has no ipvlan).
 * In-process (test/helpers/ipvlan-cluster.ts): two real engines on one real etcd, each with
 * its own host namespace whose parent `sywan0` is a veth on one underlay bridge, the real
 * ipvlan driver, a real namespace per sandbox. Daemons are not used: under TCG a daemon
 * takes minutes to start (docs/TESTING.md), two engines in one process take seconds.
 *
 * One L3 network created on host A with `--scope global`; a sandbox on each host; each host
 * claims a block and routes the other's via its data-path address out of the parent; ping
 * and TCP both directions, the peer seeing the sender's own address; a control (the route
 * deleted: no answer; the resync puts it back); B's sandbox removed: its block released,
 * A's route to it gone. Leak check at the end.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { validateNetworkCreate } from '../../src/model/network-spec.js';
import { sandboxSpecOf } from '../../src/api/docker/requests.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { RTPROT_SWITCHYARD } from '../../src/drivers/block-routes.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { RoutedLab } from '../helpers/routed-lab.js';
import { ipvlanClusterHost, type IpvlanClusterHost } from '../helpers/ipvlan-cluster.js';
import { assertNoLeaks, inNs, linksIn, NETNS_DIR, waitFor, type TestNs } from '../helpers/netns.js';
import { connect } from '../helpers/lab.js';

const IN_VM = process.env.SWY_KVM_GUEST === '1';
const skip = IN_VM ? false : 'needs a kernel with ipvlan: run `npm run test:vm` (SWY_KVM_GUEST is unset)';

before(async () => {
  if (IN_VM) await warmThreadpool();
});

const routes = (ns: TestNs) => inNs(ns.name, 'ip', ['route', 'show', 'proto', String(RTPROT_SWITCHYARD)]).stdout.trim();
const pings = (from: TestNs, to: string, tries = 3): boolean =>
  inNs(from.name, 'ping', ['-c', '1', '-W', '2', to], { allowFail: true }).status === 0 || (tries > 1 && pings(from, to, tries - 1));
const pingsAsync = (from: TestNs, to: string): Promise<boolean> =>
  new Promise((resolve) => execFile('nsenter', [`--net=${NETNS_DIR}/${from.name}`, '--', 'ping', '-c', '1', '-W', '2', to], (err) => resolve(!err)));
const silent = (from: TestNs, to: string): boolean => inNs(from.name, 'ping', ['-c', '1', '-W', '1', to], { allowFail: true }).status !== 0;
function tcp(from: TestNs, to: string): string | null {
  for (let i = 0; i < 10; i++) {
    const r = connect(from, to, 7000);
    if (r) return r;
  }
  return null;
}

test('ipvlan L3 across two hosts: blocks, routes via the data-path addresses out of the parent, ping and TCP both ways, control, release', { skip }, async () => {
  const lab = new RoutedLab();
  const hosts: IpvlanClusterHost[] = [];
  const servers: ChildProcess[] = [];
  let etcd: TestEtcd | undefined;
  const made: string[] = [];
  try {
    etcd = await startEtcd();
    const seg = lab.segment();
    const prefix = `/swy-ipvc-${process.pid}`;
    for (const i of [0, 1]) {
      const ns = lab.ns(`iph${i}`);
      lab.plug(ns, seg, 'sywan0', [`10.99.0.${i + 1}/24`]);
      hosts.push(await ipvlanClusterHost({ endpoints: etcd.endpoints, prefix, index: i, ns, dataPath: `10.99.0.${i + 1}` }));
    }
    const [a, b] = hosts as [IpvlanClusterHost, IpvlanClusterHost];
    await waitFor(() => a.h.ctx.state.aliveNodes.size === 2 && b.h.ctx.state.aliveNodes.size === 2, 'both nodes alive on both hosts', 15_000, 50);

    const { id } = await a.h.engine.createNetwork(validateNetworkCreate({
      Name: 'l3x', Driver: 'ipvlan', Scope: 'global', Attachable: true,
      Options: { parent: 'sywan0', ipvlan_mode: 'l3' }, IPAM: { Config: [{ Subnet: '10.30.0.0/24' }] },
    }));
    await waitFor(() => b.h.ctx.state.networks.get(id), 'host B sees the network', 15_000, 50);

    const addr: string[] = [];
    const sbNs: TestNs[] = [];
    for (const [i, x] of hosts.entries()) {
      const { id: sb } = await x.h.engine.createSandbox(sandboxSpecOf({ Name: `s${i}`, Cmd: ['sleep', '1'], NetworkMode: 'l3x' }));
      await x.h.engine.startSandbox(sb);
      addr.push(x.h.ctx.state.endpointsOfSandbox(sb)[0]!.ipv4!.split('/')[0]!);
      const n = x.sandboxNs(`s${i}`);
      sbNs.push(n);
      made.push(n.name);
      servers.push(spawn('nsenter', [`--net=${NETNS_DIR}/${n.name}`, '--', 'socat', 'TCP-LISTEN:7000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR'], { stdio: 'ignore' }));
    }
    const [sa, sb] = sbNs as [TestNs, TestNs];
    // A block each, claimed in etcd by each host.
    await waitFor(() => a.h.ctx.state.blocks.of(id).size === 2 && b.h.ctx.state.blocks.of(id).size === 2, 'both blocks on both hosts', 15_000, 50);
    assert.deepEqual(Object.fromEntries(a.h.ctx.state.blocks.of(id)), { '10.30.0.0/26': a.nodeId, '10.30.0.64/26': b.nodeId });
    assert.deepEqual(addr, ['10.30.0.2', '10.30.0.64'], 'addresses out of each host\'s own block (the gateway reserved)');
    // Each host routes the other's block via its data-path address, out of the parent.
    await waitFor(() => /^10\.30\.0\.64\/26 via 10\.99\.0\.2 dev sywan0\b/.test(routes(a.ns)), 'A routes B\'s block', 15_000, 50);
    await waitFor(() => /^10\.30\.0\.0\/26 via 10\.99\.0\.1 dev sywan0\b/.test(routes(b.ns)), 'B routes A\'s block', 15_000, 50);
    // The slave carries the parent's MAC; its default route is out of the interface.
    assert.match(inNs(sa.name, 'ip', ['route', 'show', 'default']).stdout, /^default dev eth0\b/);

    assert.ok(pings(sa, addr[1]!), 'A → B ping');
    assert.ok(pings(sb, addr[0]!), 'B → A ping');
    assert.equal(tcp(sa, addr[1]!), addr[0], 'A → B TCP, B sees A\'s own address');
    assert.equal(tcp(sb, addr[0]!), addr[1], 'B → A TCP, A sees B\'s own address');

    // Control: without A's route to B's block, A's sandbox gets no answer from B's.
    inNs(a.ns.name, 'ip', ['route', 'del', '10.30.0.64/26']);
    assert.ok(silent(sa, addr[1]!), 'no route: no answer');
    await a.sync.resync();
    await waitFor(() => /^10\.30\.0\.64\/26 via 10\.99\.0\.2/.test(routes(a.ns)), 'the resync puts the route back', 15_000, 50);
    // Answered again once the route is back (a CI run's VM, under load, needed more than the
    // three 2 s tries of pings(): wait up to 15 s).
    try {
      // An async ping: both engines live in this process, and a spawnSync loop would hold
      // their event loop (lease keep-alives, the watch) for most of the wait.
      await waitFor(async () => (await pingsAsync(sa, addr[1]!)) || undefined, 'route back: answered', 15_000, 200);
    } catch (err) {
      // What the data path looks like then (the answer failed twice in CI runs' VMs).
      const show = (ns: string, ...args: string[]) => `${ns}$ ip ${args.join(' ')}\n${inNs(ns, 'ip', args, { allowFail: true }).stdout}`;
      const host = (ns: TestNs, to: string) => `${ns.name}$ ping ${to}: ${inNs(ns.name, 'ping', ['-c', '1', '-W', '2', to], { allowFail: true }).status === 0 ? 'answered' : 'no answer'}`;
      console.error([show(a.ns.name, 'route'), show(a.ns.name, 'neigh'), show(a.ns.name, '-s', 'link'), show(b.ns.name, 'route'), show(b.ns.name, 'neigh'), show(sa.name, 'route'), show(sa.name, '-s', 'link'), show(sb.name, '-s', 'link'), host(a.ns, '10.99.0.2'), host(b.ns, '10.99.0.1'), host(sa, addr[1]!)].join('\n'));
      throw err;
    }

    // B's sandbox goes: its endpoint, then its block (released), then A's route to it.
    await b.h.engine.removeSandbox('s1', true);
    await waitFor(() => !a.h.ctx.state.blocks.of(id).has('10.30.0.64/26'), 'B\'s block released', 15_000, 50);
    await waitFor(() => routes(a.ns) === '', 'A\'s route to B\'s block gone', 15_000, 50);
    assert.equal(routes(b.ns), '', 'B took no part any more: its routes went');
    await a.h.engine.removeSandbox('s0', true);
    await waitFor(async () => (await a.store.range(`/blocks/${id}/`)).length === 0, 'every block released', 15_000, 50);
    await a.h.engine.removeNetwork('l3x');
    for (const x of hosts) assert.deepEqual(linksIn(x.ns.name).filter((l) => l !== 'lo'), ['sywan0'], 'a host keeps its parent alone');
  } finally {
    for (const p of servers) p.kill();
    for (const x of hosts) await x.close();
    await lab.destroy();
    await etcd?.stop();
  }
  assertNoLeaks([...lab.names(), ...made]);
});
