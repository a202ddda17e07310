/**
 * The cluster's figures (issue 11 "Speed", docs/BENCHMARKS.md "Cluster"): daemons in the
 * cluster lab (test/helpers/cluster-lab.ts: host namespaces on an underlay bridge, etcd in a
 * namespace of its own), driven through their API sockets.
 *
 * - global (overlay) network create / remove, from the hosts in turn;
 * - attach (network connect) of a running sandbox to a global network, incl. the etcd txn;
 * - propagation: from a connect returning on host A to the endpoint applied on host B (the
 *   permanent neighbour entry appearing on B's VXLAN device, seen by `ip -ts monitor neigh`
 *   inside B's overlay namespace, timestamps from the kernel event's arrival);
 * - etcd writes per attach (etcd's revision before and after one connect);
 * - etcd and daemon memory with H hosts × E endpoints on one global network;
 * - where host 0's attach spends its time: the daemons run with SWY_TRACE_PHASES=1
 *   (engine/phase-trace.ts) and the steady-state connects' phases are read from host 0's log;
 *   next to them a bare attach-shaped txn against the same etcd from host 0's namespace
 *   (bench/etcd-txn-probe.ts), i.e. etcd's own commit;
 * - how long the lab took to start (its daemons start 4 at a time).
 *
 * Part of `npm run bench` (skip with `--skip cluster`); alone:
 *   npm run build && node dist/bench/cluster.js [--hosts 3,20] [--iterations 30] [--endpoints 50]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startClusterLab, type ClusterLab } from '../test/helpers/cluster-lab.js';
import { Rounds, summarize, type Summary } from './stats.js';
import { KernelWatch } from './kernel-watch.js';
import { rssMb } from './host-tools.js';
import { parsePhaseLines } from '../src/engine/phase-trace.js';
import { startAttachFloor, type AttachFloor } from './attach-floor.js';

/** Per-phase summaries of the last `n` trace lines of `what` in a daemon log. */
function phaseSummaries(log: string, what: string, n: number): Record<string, Summary> {
  const lines = parsePhaseLines(log, what).slice(-n);
  const out: Record<string, Summary> = {};
  for (const k of new Set(lines.flatMap((l) => Object.keys(l)))) out[k] = summarize(lines.map((l) => l[k] ?? 0));
  return out;
}

/** bench/etcd-txn-probe.ts inside host 0's namespace: a bare attach-shaped txn, `count` times. */
function bareTxn(lab: ClusterLab, count: number, watched = false, idleMs = 0): Summary | undefined {
  const probe = path.join(path.dirname(new URL(import.meta.url).pathname), 'etcd-txn-probe.js');
  const r = spawnSync('nsenter', [`--net=${lab.hosts[0]!.ns.path}`, '--', process.execPath, probe, '--endpoint', lab.etcd.endpoints[0]!, '--count', String(count), ...(watched ? ['--watched'] : []), ...(idleMs ? ['--idle-ms', String(idleMs)] : [])], { encoding: 'utf8', timeout: 120_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Summary;
  } catch {
    return undefined;
  }
}

export interface ClusterBenchOptions {
  /** Lab sizes, e.g. [3, 20]: create/rm, attach and writes are measured on the first; propagation and memory on each. */
  hosts: number[];
  iterations: number;
  /** Endpoints per host on the global network in the memory figure. */
  endpoints: number;
  /**
   * etcd on a CPU of its own (`taskset`: etcd on the last CPU, this process, the daemons and
   * everything they start on the others), as etcd on machines of its own would be. Off: all
   * share every CPU (on a 2-core machine, etcd then competes with the joins it overlaps).
   */
  etcdCpu?: boolean;
  log?: (msg: string) => void;
}

export interface ClusterLabFigures {
  hosts: number;
  networkCreate?: Summary;
  networkRemove?: Summary;
  attach?: Summary;
  detach?: Summary;
  /** Connect when the host has no other endpoint on the network (sets it up there), and the disconnect that tears it down. */
  attachFirst?: Summary;
  detachLast?: Summary;
  /** The same sandboxes on a local bridge network of host 0, in the same rounds (baseline). */
  attachLocal?: Summary;
  detachLocal?: Summary;
  /** etcd revisions per connect (each txn is one revision). */
  etcdWritesPerAttach?: number[];
  /** Steady-state attach on host 0, per phase (the daemon's SWY_TRACE_PHASES lines, engine/phase-trace.ts): ms. */
  attachPhases?: Record<string, Summary>;
  /** Steady-state detach on host 0, per phase (SWY_TRACE_PHASES): ms. */
  detachPhases?: Record<string, Summary>;
  /**
   * Daemon CPU (user + system, /proc/PID/stat) per steady-state round (a global attach and
   * detach on host 0, plus the local pair), on host 1 (takes part in the network) and on the
   * last host (does not): ms.
   */
  cpuPerRound?: { participant: number; bystander: number };
  /** A bare txn of an attach's shape against the same etcd from host 0's namespace (bench/etcd-txn-probe.ts). */
  bareTxn?: Summary;
  /** The same with its keys inside the prefix the daemons watch (each txn wakes every daemon). */
  bareTxnWatched?: Summary;
  /** The watched one again, each txn after SETTLE_MS idle, as an attach is timed (a machine that idles wakes slowly: a VM's halted vCPUs). */
  bareTxnAfterIdle?: Summary;
  /**
   * The floor, in the same rounds as the attach and after the same pause: a POST to a bare
   * HTTP server in host 0's namespace that answers after one watched attach-shaped txn through
   * the daemon's etcd client (bench/attach-floor.ts). No engine, no kernel work.
   */
  attachFloor?: Summary;
  /** Applied on B minus the connect's return on A (negative: B had it before A's call returned). */
  propagation: Summary;
  /** Applied on B minus the start of the connect call on A (an upper bound of commit → applied). */
  propagationFromCall: Summary;
  endpointsPerHost: number;
  etcdRssMb: number;
  daemonRssMb: { min: number; max: number; mean: number };
  setupMs: number;
  /** startClusterLab alone: namespaces, etcd, the daemons up. */
  labStartMs: number;
}

const wall = () => performance.timeOrigin + performance.now();

/** A process's CPU time so far (user + system), ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function etcdRevision(lab: ClusterLab): number {
  const r = spawnSync('ip', ['netns', 'exec', lab.hosts[0]!.ns.name, 'curl', '-s', '--max-time', '5', '-X', 'POST', '-d', JSON.stringify({ key: Buffer.from('/').toString('base64') }), `${lab.etcd.endpoints[0]}/v3/kv/range`], { encoding: 'utf8' });
  return Number((JSON.parse(r.stdout) as { header: { revision: string } }).header.revision);
}

async function runOn(lab: ClusterLab, i: number, name: string, network: string): Promise<string> {
  const c = lab.hosts[i]!.daemon.client;
  const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: network });
  await c.startSandbox(Id);
  return Id;
}

/**
 * The untimed pause after each detach, as in the single-host bench (docs/BENCHMARKS.md): a
 * detach leaves asynchronous kernel work behind (the bridge's batched veth deletion 100 ms
 * later, an RCU grace period under the RTNL lock; a network namespace's teardown), which
 * otherwise lands in whatever is timed next: the local baseline's deletion landed in the next
 * round's global attach.
 */
const SETTLE_MS = 250;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, SETTLE_MS));

async function ipOn(lab: ClusterLab, i: number, sandbox: string, network: string): Promise<string> {
  const s = (await lab.hosts[i]!.daemon.client.inspectSandbox(sandbox)) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } };
  return s.NetworkSettings.Networks[network]!.IPAddress;
}

async function benchLab(hosts: number, o: ClusterBenchOptions, first: boolean): Promise<ClusterLabFigures> {
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  log(`cluster: starting a lab of ${hosts} hosts`);
  // The daemons inherit it: each connect logs its phases (engine/phase-trace.ts).
  process.env.SWY_TRACE_PHASES = '1';
  const cpus = os.cpus().length;
  if (o.etcdCpu && cpus >= 2) execFileSync('taskset', ['-a', '-p', '-c', `0-${cpus - 2}`, String(process.pid)], { stdio: 'ignore' });
  const lab = await startClusterLab({ hosts });
  if (o.etcdCpu && cpus >= 2) {
    for (const m of lab.etcd.members) execFileSync('taskset', ['-a', '-p', '-c', String(cpus - 1), String(m.pid())], { stdio: 'ignore' });
    log(`cluster: etcd on CPU ${cpus - 1}, the rest on 0-${cpus - 2}`);
  }
  const labStartMs = Math.round(performance.now() - t0);
  log(`cluster: lab of ${hosts} hosts up in ${labStartMs} ms`);
  const watches: KernelWatch[] = [];
  let floor: AttachFloor | undefined;
  try {
    const c = (i: number) => lab.hosts[i]!.daemon.client;
    const rounds = new Rounds();
    const fig: Partial<ClusterLabFigures> = { hosts };
    if (first) {
      log('cluster: global network create / remove');
      for (let k = 0; k < o.iterations; k++) {
        const i = k % hosts;
        await rounds.timed('create', () => c(i).createNetwork({ Name: `gb${k}`, Driver: 'overlay', IPAM: { Config: [{ Subnet: `10.${100 + (k % 100)}.${k >> 8}.0/24` }] } }));
        await rounds.timed('remove', () => c(i).removeNetwork(`gb${k}`));
      }
    }
    await c(0).createNetwork({ Name: 'gbench', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.90.0.0/16' }] } });
    // Host 1 takes part (one endpoint of its own), so it applies the peers of host 0: once its
    // watch has brought the network (a busy machine may take a moment).
    for (const until = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
      if (await c(1).inspectNetwork('gbench').then(() => true, () => false)) break;
      if (Date.now() > until) throw new Error('host 1 never saw network gbench');
    }
    await runOn(lab, 1, 'keep1', 'gbench');
    const overlayNs = path.join(lab.hosts[1]!.daemon.execRoot, 'overlay', `1-${(await c(1).inspectNetwork('gbench')).Id.slice(0, 10)}`);
    const watch = new KernelWatch(overlayNs, 'neigh');
    watches.push(watch);
    await new Promise((r) => setTimeout(r, 200)); // ip monitor subscribed
    // Sandboxes on host 0 on a local network, connected to / disconnected from gbench.
    await c(0).createNetwork({ Name: 'lb' });
    await c(0).createNetwork({ Name: 'lb2' });
    const movers: string[] = [];
    for (let k = 0; k < 3; k++) movers.push(await runOn(lab, 0, `mv${k}`, 'lb'));
    // First the case where host 0 has no other endpoint on gbench: each connect sets the
    // network up on it (namespace, bridge, VXLAN, peers) and each disconnect tears it down.
    if (first) {
      for (let k = 0; k < Math.min(10, o.iterations); k++) {
        await rounds.timed('attach first', () => c(0).connectNetwork('gbench', movers[0]!));
        await rounds.timed('detach last', () => c(0).disconnectNetwork('gbench', movers[0]!));
        await settle();
      }
    }
    // Then steady state: host 0 takes part (keep0 stays on gbench).
    await runOn(lab, 0, 'keep0', 'gbench');
    const prop: number[] = [];
    const propStart: number[] = [];
    const writes: number[] = [];
    if (first) floor = await startAttachFloor(lab.hosts[0]!.ns.path, lab.etcd.endpoints[0]!, path.join(lab.hosts[0]!.daemon.execRoot, 'attach-floor.sock'));
    const cpuPids = [lab.hosts[1]!.daemon.proc.pid!, lab.hosts[hosts - 1]!.daemon.proc.pid!];
    const cpu0 = cpuPids.map(cpuMs);
    for (let k = 0; k < o.iterations; k++) {
      const sb = movers[k % movers.length]!;
      const rev0 = first && k < 5 ? etcdRevision(lab) : 0;
      const tStart = performance.now();
      const startWall = wall();
      await c(0).connectNetwork('gbench', sb);
      const returned = wall();
      rounds.add('attach', performance.now() - tStart);
      if (rev0) writes.push(etcdRevision(lab) - rev0);
      const ip = await ipOn(lab, 0, sb, 'gbench');
      const applied = await watch.next(ip);
      prop.push(applied - returned);
      propStart.push(applied - startWall);
      await rounds.timed('detach', () => c(0).disconnectNetwork('gbench', sb));
      await settle();
      // The same sandbox on a local bridge network, in the same rounds: the machine's baseline.
      await rounds.timed('attach local', () => c(0).connectNetwork('lb2', sb));
      await rounds.timed('detach local', () => c(0).disconnectNetwork('lb2', sb));
      await settle();
      if (floor) {
        await rounds.timed('floor', () => floor!.post());
        await settle();
      }
      watch.clear();
    }
    const cpu1 = cpuPids.map(cpuMs);
    const per = (i: number) => Math.round(((cpu1[i]! - cpu0[i]!) / o.iterations) * 100) / 100;
    fig.cpuPerRound = { participant: per(0), bystander: per(1) };
    const s = rounds.summaries();
    fig.detachPhases = phaseSummaries(lab.hosts[0]!.daemon.log(), 'disconnect gbench', o.iterations);
    if (first) {
      fig.attachPhases = phaseSummaries(lab.hosts[0]!.daemon.log(), 'connect gbench', o.iterations);
      const bare = bareTxn(lab, o.iterations);
      if (bare) fig.bareTxn = bare;
      const watched = bareTxn(lab, o.iterations, true);
      if (watched) fig.bareTxnWatched = watched;
      // As the attach is timed: after an untimed pause (SETTLE_MS), not back to back.
      const idle = bareTxn(lab, o.iterations, true, SETTLE_MS);
      if (idle) fig.bareTxnAfterIdle = idle;
    }
    if (first) Object.assign(fig, { networkCreate: s.create, networkRemove: s.remove, attach: s.attach, detach: s.detach, attachFirst: s['attach first'], detachLast: s['detach last'], attachLocal: s['attach local'], detachLocal: s['detach local'], attachFloor: s['floor'], etcdWritesPerAttach: writes });
    fig.propagation = summarize(prop);
    fig.propagationFromCall = summarize(propStart);
    log(`cluster: ${hosts} hosts × ${o.endpoints} endpoints for memory`);
    for (let i = 0; i < hosts; i++) {
      const have = i <= 1 ? 1 : 0;
      for (let k = have; k < o.endpoints; k++) await runOn(lab, i, `m${i}x${k}`, 'gbench');
    }
    await new Promise((r) => setTimeout(r, 1000));
    fig.endpointsPerHost = o.endpoints;
    fig.etcdRssMb = rssMb(lab.etcd.members[0]!.pid()!);
    const rss = lab.hosts.map((h) => rssMb(h.daemon.proc.pid!));
    fig.daemonRssMb = { min: Math.min(...rss), max: Math.max(...rss), mean: Math.round((rss.reduce((a, b) => a + b, 0) / rss.length) * 10) / 10 };
    fig.setupMs = Math.round(performance.now() - t0);
    fig.labStartMs = labStartMs;
    log(`cluster: figures with ${hosts} hosts: ${JSON.stringify(fig)}`);
    return fig as ClusterLabFigures;
  } finally {
    for (const w of watches) w.stop();
    await floor?.close().catch((err) => log(`cluster: attach floor: ${String(err)}`));
    log('cluster: teardown');
    // The lab's leak check also looks at the machine's own namespace, where other work may
    // have left something: reported, and the figures are kept.
    await lab.close().catch((err) => log(`cluster: teardown: ${String(err)}`));
  }
}

export async function clusterBench(o: ClusterBenchOptions): Promise<ClusterLabFigures[]> {
  const out: ClusterLabFigures[] = [];
  for (const [k, hosts] of o.hosts.entries()) out.push(await benchLab(hosts, o, k === 0));
  return out;
}

const pp = (s?: Summary) => (s ? `${s.p50} / ${s.p99}` : '—');

export function renderCluster(figs: ClusterLabFigures[]): string {
  const out: string[] = [];
  const L = (s = '') => out.push(s);
  const base = figs[0];
  if (!base) return '';
  L(`### Cluster (${base.hosts} hosts in the lab, overlay, one etcd member)`);
  L('| what | p50 / p99 ms | target |');
  L('|---|---|---|');
  L(`| global network create | ${pp(base.networkCreate)} | p50 ≤ 15 |`);
  L(`| global network remove | ${pp(base.networkRemove)} | p50 ≤ 15 |`);
  L(`| attach (network connect) to a global network the host takes part in | ${pp(base.attach)} | p50 ≤ 5 |`);
  L(`| detach | ${pp(base.detach)} | |`);
  L(`| attach, first endpoint of the network on the host (sets the network up there) | ${pp(base.attachFirst)} | |`);
  L(`| detach, last endpoint on the host (tears it down) | ${pp(base.detachLast)} | |`);
  L(`| baseline, same rounds: attach to a local bridge network | ${pp(base.attachLocal)} | |`);
  L(`| baseline: detach from it | ${pp(base.detachLocal)} | |`);
  L(`| etcd revisions per attach | ${base.etcdWritesPerAttach?.join(', ') ?? '—'} | 1 |`);
  L(`| a bare attach-shaped etcd txn from host 0 (bench/etcd-txn-probe.ts) | ${pp(base.bareTxn)} | |`);
  L(`| the same, keys inside the daemons' watched prefix (wakes every daemon) | ${pp(base.bareTxnWatched)} | |`);
  L(`| the same, each after ${SETTLE_MS} ms idle (as the attach is timed) | ${pp(base.bareTxnAfterIdle)} | |`);
  L(`| the floor, same rounds: a POST to a bare server in host 0's namespace answering after one such txn (bench/attach-floor.ts) | ${pp(base.attachFloor)} | |`);
  if (base.attachPhases) {
    L();
    L('| attach phase (host 0, steady state, SWY_TRACE_PHASES) | p50 / p99 ms |');
    L('|---|---|');
    for (const [k, v] of Object.entries(base.attachPhases)) L(`| ${k} | ${pp(v)} |`);
  }
  if (base.detachPhases) {
    L();
    L('| detach phase (host 0, steady state, SWY_TRACE_PHASES) | p50 / p99 ms |');
    L('|---|---|');
    for (const [k, v] of Object.entries(base.detachPhases)) L(`| ${k} | ${pp(v)} |`);
  }
  L();
  L('| hosts | daemon CPU per round, host taking part / host not taking part (ms) |');
  L('|---|---|');
  for (const f of figs) L(`| ${f.hosts} | ${f.cpuPerRound ? `${f.cpuPerRound.participant} / ${f.cpuPerRound.bystander}` : '—'} |`);
  L();
  L('| hosts | propagation: A returned → applied on B, p50 / p99 ms | A called → applied on B | endpoints | etcd RSS MB | daemon RSS MB min / mean / max |');
  L('|---|---|---|---|---|---|');
  for (const f of figs) {
    L(`| ${f.hosts} | ${pp(f.propagation)} | ${pp(f.propagationFromCall)} | ${f.hosts} × ${f.endpointsPerHost} | ${f.etcdRssMb} | ${f.daemonRssMb.min} / ${f.daemonRssMb.mean} / ${f.daemonRssMb.max} |`);
  }
  L('A negative figure: host B applied the endpoint before the call on host A returned (A writes the etcd txn first, then plumbs its own end).');
  if (figs.length > 1) L(`Propagation (from the call) p50 ${figs[figs.length - 1]!.hosts}/${base.hosts} hosts: ${(figs[figs.length - 1]!.propagationFromCall.p50 / base.propagationFromCall.p50).toFixed(2)}× (target ≤ 1.2×).`);
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { hosts: { type: 'string', default: '3,20' }, iterations: { type: 'string', default: '30' }, endpoints: { type: 'string', default: '50' }, 'etcd-cpu': { type: 'boolean', default: false } } });
  const figs = await clusterBench({
    hosts: values.hosts!.split(',').map(Number),
    iterations: Number(values.iterations),
    endpoints: Number(values.endpoints),
    etcdCpu: values['etcd-cpu'],
    log: (m) => console.error(`[${new Date().toISOString()}] ${m}`),
  });
  console.log(JSON.stringify(figs, null, 2));
  console.log(renderCluster(figs));
}
