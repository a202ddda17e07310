/**
 * Routed networks across the cluster lab (issue 14 "Speed", docs/BENCHMARKS.md "Routed across
 * the cluster lab", docs/drivers/routed.md): test/helpers/cluster-lab.ts (host namespaces on an
 * underlay bridge, real etcd, one real daemon per host), in one run:
 *
 *   - data path between a sandbox on host0 and one on host1, rounds alternating four paths
 *     (the order rotates every round):
 *       routed   — Switchyard's routed network (veth, /32 via 169.254.1.1, a route per remote
 *                  block via the other host's underlay address, its nftables table);
 *       overlay  — the same two sandboxes, also connected to a Switchyard overlay (VXLAN);
 *       plain    — plain routing without Switchyard between the SAME two sandbox namespaces:
 *                  two more host namespaces on the same underlay bridge, a second veth from
 *                  each sandbox to one of them, a /24 each side and a route to the other /24
 *                  via the other host's underlay address, all made by hand with `ip` (no
 *                  daemon, no nftables in those host namespaces);
 *       plain, daemon hosts — the same hand-made veths and routes between the same sandbox
 *                  namespaces, but through host0's and host1's own namespaces (where the
 *                  daemons' nftables tables are loaded, so conntrack runs): the routed driver's
 *                  own cost is routed against this path, the host firewall's is this against plain;
 *       plain, fresh namespaces — as plain, with two fresh namespaces as the sandboxes;
 *       underlay — host namespace to host namespace (reference);
 *     iperf3 (one TCP stream) and ping (200 echo requests 5 ms apart: per-packet RTTs); the
 *     figure to trust on a shared machine is the median of the per-round ratios to `plain`;
 *   - propagation, attach (network connect of a running sandbox) on host0 → host1, in the same
 *     iterations for three cases: a routed network on which host0 has no endpoint (the attach
 *     claims a block: the route to it appears in host1's namespace, seen by `ip -ts monitor
 *     route`), a routed network on which host0 already has a block (no route changes: only
 *     reachability), and the overlay (the neighbour entry on host1's VXLAN device, `ip -ts
 *     monitor neigh`, as bench/cluster.ts); each with the first successful ping from host1;
 *   - route table size: a second lab of H hosts × E endpoints on one routed network; the
 *     routes of protocol 83 in every host namespace, remote (`via`) and local (`dev syr…`).
 *
 * Part of `npm run bench` (skip with `--skip routed`); alone:
 *   npm run build && node dist/bench/routed.js [--seconds 5] [--rounds 6] [--iterations 20] \
 *       [--table-hosts 20] [--table-endpoints 50] [--start-concurrency 4]
 * `--table-hosts 0` leaves the route-table lab out.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startClusterLab, type ClusterLab } from '../test/helpers/cluster-lab.js';
import { listTestNs, makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';
import { summarize, type Summary } from './stats.js';
import { iperf3 } from './iperf.js';
import { KernelWatch } from './kernel-watch.js';
import { RTPROT_SWITCHYARD } from '../src/drivers/routed.js';

const PATHS = ['routed', 'overlay', 'plain', 'plain, daemon hosts', 'plain, fresh namespaces', 'underlay'] as const;
type DataPath = (typeof PATHS)[number];
const PROPAGATION = ['routed, new block', 'routed, existing block', 'overlay'] as const;
type PropCase = (typeof PROPAGATION)[number];

/** Subnets outside 10.100–10.199 (the lab's underlay is 10.X.0.0/24 with X in that range). */
const NET = { routed: '10.60.0.0/16', overlay: '10.61.0.0/24', plain: ['10.62.1', '10.62.2'], fresh: ['10.62.3', '10.62.4'], daemonHosts: ['10.62.5', '10.62.6'], prop: '10.63.0.0/16', table: '10.64.0.0/16' } as const;
const BLOCK = 26;

function sh(args: string[], allowFail = false): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (!allowFail && r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
}
const inNs = (nsPath: string, ...args: string[]) => sh(['nsenter', `--net=${nsPath}`, '--', ...args]).stdout;
const pingOnce = (fromNs: string, addr: string, wait = '1') => sh(['nsenter', `--net=${fromNs}`, '--', 'ping', '-n', '-c1', `-W${wait}`, addr], true).status === 0;

const iperf = (serverNs: string, clientNs: string, addr: string, seconds: number): Promise<number> => iperf3(serverNs, clientNs, addr, seconds, (p) => spawned.push(p));

/** Per-packet RTTs (ms) of `count` pings 5 ms apart. */
function rtts(fromNs: string, addr: string, count: number): number[] {
  const out = sh(['nsenter', `--net=${fromNs}`, '--', 'ping', '-n', '-c', String(count), '-i', '0.005', '-W', '1', addr], true).stdout;
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

const wall = () => performance.timeOrigin + performance.now();

/** Every process this file spawns (iperf3 servers, `ip monitor`): the leak check waits for each to have exited. */
const spawned: ChildProcess[] = [];
async function assertChildrenGone(): Promise<void> {
  const alive = () => spawned.filter((p) => p.exitCode === null && p.signalCode === null);
  await waitFor(() => alive().length === 0, 'the bench\'s own processes to exit', 5000, 50).catch(() => undefined);
  const left = alive();
  if (left.length) throw new Error(`leak check failed: processes still running: ${left.map((p) => `${p.pid} (${p.spawnargs.join(' ')})`).join('; ')}`);
}

/** The IPv4 block of prefix length `len` holding `ip`. */
function blockOf(ip: string, len: number): string {
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const base = Math.floor(n / 2 ** (32 - len)) * 2 ** (32 - len);
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.')}/${len}`;
}

type Inspect = { State: { Pid: number }; NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } };

export interface RouteTableFigures {
  hosts: number;
  endpointsPerHost: number;
  /** Routes of protocol 83 per host namespace: remote blocks (`via`), local endpoints (`dev syr…`), all. */
  remote: { min: number; max: number };
  local: { min: number; max: number };
  total: { min: number; max: number };
  /** Blocks claimed on the network (network inspect's `Blocks`), and the largest number held by one host. */
  blocks: number;
  maxBlocksPerHost: number;
  /** Lab start (daemons) and filling it (H × E `run -d`), ms. */
  labStartMs: number;
  fillMs: number;
  startConcurrency: number;
  leakCheck?: string;
}

export interface RoutedBenchResult {
  hosts: number;
  seconds: number;
  rounds: number;
  throughputGbps: Record<DataPath, number[]>;
  rttMs: Record<DataPath, Summary>;
  /** Per-round RTT p50 (ms), for the paired ratios. */
  rttP50ByRound: Record<DataPath, number[]>;
  /** Per round: the path's figure / plain's (throughput: higher is better; RTT: lower is better). */
  ratios: { throughput: Record<DataPath, number[]>; rttP50: Record<DataPath, number[]> };
  /** Per round: routed / plain between fresh namespaces, and routed / plain through the daemons' hosts (throughput; RTT p50). */
  routedVsFresh: { throughput: number[]; rttP50: number[] };
  routedVsDaemonHosts: { throughput: number[]; rttP50: number[] };
  /** Connect returned on host0 → kernel event on host1 (route, or neighbour entry); and → first ping from host1. */
  propagation: Partial<Record<PropCase, { kernel?: Summary; kernelFromCall?: Summary; firstPing: Summary }>>;
  table?: RouteTableFigures;
  leakCheck?: string;
  /** os.loadavg() at the start and at the end (the machine is shared: the load is the main error term). */
  load?: { start: number[]; end: number[] };
}

export interface RoutedBenchOptions {
  hosts?: number;
  seconds?: number;
  rounds?: number;
  iterations?: number;
  /** The route-table lab: hosts (0: left out) × endpoints per host. */
  tableHosts?: number;
  tableEndpoints?: number;
  startConcurrency?: number;
  log?: (m: string) => void;
}

async function run(lab: ClusterLab, i: number, name: string, net: string): Promise<Inspect> {
  const c = lab.hosts[i]!.daemon.client;
  const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net });
  await c.startSandbox(Id);
  return (await c.inspectSandbox(Id)) as unknown as Inspect;
}
async function ipOn(lab: ClusterLab, i: number, sandbox: string, net: string): Promise<string> {
  return ((await lab.hosts[i]!.daemon.client.inspectSandbox(sandbox)) as unknown as Inspect).NetworkSettings.Networks[net]!.IPAddress;
}

/**
 * Plain routing, made by hand: two more host namespaces on the lab's underlay (no daemon, no
 * nftables there), a sandbox behind each on a veth (a /24, a route to the other side's /24 via
 * its host), and in each host a route to the other side's /24 via the other host's underlay
 * address. The sandbox ends go into `into` (the PIDs of the routed path's own sandboxes: the
 * same namespaces, a second veth), or into fresh namespaces.
 */
function plainPair(
  lab: ClusterLab,
  mine: TestNs[],
  net: readonly [string, string],
  into?: readonly [number, number],
  via?: { hosts: readonly [{ ns: TestNs; address: string }, { ns: TestNs; address: string }]; link: string; sandboxLink: string },
): { client: string; server: string; addr: string } {
  const hosts = via?.hosts ?? [lab.addNamespace('rbph'), lab.addNamespace('rbph')];
  const link = via?.link ?? 'syrbp';
  const sbLink = via?.sandboxLink ?? 'syrbs';
  const ends: string[] = [];
  for (const k of [0, 1]) {
    const h = hosts[k]!;
    let target: string;
    if (into) {
      target = String(into[k]!);
      ends.push(`/proc/${into[k]!}/ns/net`);
    } else {
      const s = makeNs('rbps');
      mine.push(s);
      target = s.name;
      ends.push(s.path);
    }
    sh(['ip', 'netns', 'exec', h.ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    sh(['ip', '-n', h.ns.name, 'link', 'add', link, 'type', 'veth', 'peer', 'name', sbLink, 'netns', target]);
    sh(['ip', '-n', h.ns.name, 'addr', 'add', `${net[k]}.1/24`, 'dev', link]);
    sh(['ip', '-n', h.ns.name, 'link', 'set', link, 'up']);
    inNs(ends[k]!, 'ip', 'addr', 'add', `${net[k]}.2/24`, 'dev', sbLink);
    inNs(ends[k]!, 'ip', 'link', 'set', sbLink, 'up');
    inNs(ends[k]!, 'ip', 'route', 'add', `${net[1 - k]}.0/24`, 'via', `${net[k]}.1`);
    sh(['ip', '-n', h.ns.name, 'route', 'add', `${net[1 - k]}.0/24`, 'via', hosts[1 - k]!.address]);
  }
  return { client: ends[0]!, server: ends[1]!, addr: `${net[1]}.2` };
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

async function dataPathAndPropagation(o: Required<Omit<RoutedBenchOptions, 'log'>>, log: (m: string) => void): Promise<Omit<RoutedBenchResult, 'table'>> {
  let lab: ClusterLab | undefined;
  let result: Omit<RoutedBenchResult, 'table'> | undefined;
  const mine: TestNs[] = [];
  const watches: KernelWatch[] = [];
  try {
    lab = await startClusterLab({ hosts: o.hosts, startConcurrency: o.startConcurrency });
    const c0 = lab.hosts[0]!.daemon.client;
    const c1 = lab.hosts[1]!.daemon.client;
    const opts = { 'com.switchyard.routed.block_size': String(BLOCK) };
    await c0.createNetwork({ Name: 'rtb', Driver: 'routed', Attachable: true, IPAM: { Config: [{ Subnet: NET.routed }] }, Options: opts });
    await c0.createNetwork({ Name: 'rtp', Driver: 'routed', Attachable: true, IPAM: { Config: [{ Subnet: NET.prop }] }, Options: opts });
    await c0.createNetwork({ Name: 'ovb', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: NET.overlay }] } });
    // Host 1 learns the networks through its watch: wait until it has all three.
    for (const n of ['rtb', 'rtp', 'ovb']) await waitFor(() => c1.inspectNetwork(n), `host1 to see network ${n}`, 10_000);
    const a = await run(lab, 0, 'ba', 'rtb');
    const b = await run(lab, 1, 'bb', 'rtb');
    await c0.connectNetwork('ovb', 'ba');
    await c1.connectNetwork('ovb', 'bb');
    const aNs = a.NetworkSettings.SandboxKey;
    const bNs = b.NetworkSettings.SandboxKey;
    const bRouted = await ipOn(lab, 1, 'bb', 'rtb');
    const bOverlay = await ipOn(lab, 1, 'bb', 'ovb');
    const paths: Record<DataPath, { server: string; client: string; addr: string }> = {
      routed: { server: bNs, client: aNs, addr: bRouted },
      overlay: { server: bNs, client: aNs, addr: bOverlay },
      plain: plainPair(lab, mine, NET.plain, [a.State.Pid, b.State.Pid]),
      // Host-side link not named sy…: the daemon's own links keep that prefix.
      'plain, daemon hosts': plainPair(lab, mine, NET.daemonHosts, [a.State.Pid, b.State.Pid], { hosts: [lab.hosts[0]!, lab.hosts[1]!], link: 'hpd', sandboxLink: 'hpds' }),
      'plain, fresh namespaces': plainPair(lab, mine, NET.fresh),
      underlay: { server: lab.hosts[1]!.ns.path, client: lab.hosts[0]!.ns.path, addr: lab.hosts[1]!.address },
    };
    for (const [k, p] of Object.entries(paths)) await waitFor(() => pingOnce(p.client, p.addr), `${k} ping`, 15_000, 50);

    const tp = Object.fromEntries(PATHS.map((k) => [k, [] as number[]])) as Record<DataPath, number[]>;
    const rt = Object.fromEntries(PATHS.map((k) => [k, [] as number[]])) as Record<DataPath, number[]>;
    const rtRound = Object.fromEntries(PATHS.map((k) => [k, [] as number[]])) as Record<DataPath, number[]>;
    for (let r = 0; r < o.rounds; r++) {
      const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!);
      for (const k of order) {
        const p = paths[k];
        tp[k].push(await iperf(p.server, p.client, p.addr, o.seconds));
        const samples = rtts(p.client, p.addr, 200);
        rt[k].push(...samples);
        rtRound[k].push(summarize(samples).p50);
      }
      log(`routed bench: round ${r + 1}/${o.rounds}: ${PATHS.map((k) => `${k} ${tp[k].at(-1)!.toFixed(2)} Gbit/s ${rtRound[k].at(-1)!.toFixed(3)} ms`).join(', ')}`);
    }
    const ratio = (m: Record<DataPath, number[]>, k: DataPath, to: DataPath = 'plain') => m[k].map((v, i) => v / m[to][i]!);
    const ratios = (m: Record<DataPath, number[]>) => Object.fromEntries(PATHS.map((k) => [k, ratio(m, k)])) as Record<DataPath, number[]>;

    // Propagation: a running sandbox on a local bridge network of host0 connects to each
    // network in turn; host1 has an endpoint on each (keep1 on rtp, bb on rtb and ovb).
    log('routed bench: propagation');
    await run(lab, 1, 'keep1', 'rtp');
    await c0.createNetwork({ Name: 'lb' });
    const mover = 'mv';
    await run(lab, 0, mover, 'lb');
    const keep1Ns = ((await c1.inspectSandbox('keep1')) as unknown as Inspect).NetworkSettings.SandboxKey;
    const routeWatch = new KernelWatch(lab.hosts[1]!.ns.path, 'route', (p) => spawned.push(p));
    watches.push(routeWatch);
    const overlayNs = path.join(lab.hosts[1]!.daemon.execRoot, 'overlay', `1-${(await c1.inspectNetwork('ovb')).Id.slice(0, 10)}`);
    const neighWatch = new KernelWatch(overlayNs, 'neigh', (p) => spawned.push(p));
    watches.push(neighWatch);
    await new Promise((r) => setTimeout(r, 300)); // both monitors subscribed
    const samples = Object.fromEntries(PROPAGATION.map((k) => [k, { kernel: [] as number[], kernelFromCall: [] as number[], firstPing: [] as number[] }])) as Record<PropCase, { kernel: number[]; kernelFromCall: number[]; firstPing: number[] }>;
    const cases: Record<PropCase, { net: string; from: string; watch?: KernelWatch; key: (ip: string) => string }> = {
      'routed, new block': { net: 'rtp', from: keep1Ns, watch: routeWatch, key: (ip) => blockOf(ip, BLOCK) },
      'routed, existing block': { net: 'rtb', from: bNs, key: (ip) => ip },
      overlay: { net: 'ovb', from: bNs, watch: neighWatch, key: (ip) => ip },
    };
    for (let i = 0; i < o.iterations; i++) {
      const order = PROPAGATION.map((_, j) => PROPAGATION[(j + i) % PROPAGATION.length]!);
      for (const k of order) {
        const cs = cases[k];
        cs.watch?.clear();
        const called = wall();
        await c0.connectNetwork(cs.net, mover);
        const returned = wall();
        const ip = await ipOn(lab, 0, mover, cs.net);
        await waitFor(() => pingOnce(cs.from, ip, '0.2'), `${k}: first ping from host1`, 15_000, 0);
        samples[k].firstPing.push(wall() - returned);
        if (cs.watch) {
          const at = await cs.watch.next(cs.key(ip));
          samples[k].kernel.push(at - returned);
          samples[k].kernelFromCall.push(at - called);
        }
        await c0.disconnectNetwork(cs.net, mover);
        // The released block's route must be gone on host1 before the next claim of it.
        if (k === 'routed, new block') await waitFor(() => !inNs(lab!.hosts[1]!.ns.path, 'ip', 'route', 'show', cs.key(ip)).trim(), 'block route withdrawn on host1', 15_000, 20);
      }
    }
    const propagation: RoutedBenchResult['propagation'] = {};
    for (const k of PROPAGATION) {
      const s = samples[k];
      propagation[k] = { firstPing: summarize(s.firstPing), ...(s.kernel.length ? { kernel: summarize(s.kernel), kernelFromCall: summarize(s.kernelFromCall) } : {}) };
    }
    log(`routed bench: propagation ${JSON.stringify(propagation)}`);

    result = {
      hosts: o.hosts,
      seconds: o.seconds,
      rounds: o.rounds,
      throughputGbps: tp,
      rttMs: Object.fromEntries(PATHS.map((k) => [k, summarize(rt[k])])) as Record<DataPath, Summary>,
      rttP50ByRound: rtRound,
      ratios: { throughput: ratios(tp), rttP50: ratios(rtRound) },
      routedVsFresh: { throughput: ratio(tp, 'routed', 'plain, fresh namespaces'), rttP50: ratio(rtRound, 'routed', 'plain, fresh namespaces') },
      routedVsDaemonHosts: { throughput: ratio(tp, 'routed', 'plain, daemon hosts'), rttP50: ratio(rtRound, 'routed', 'plain, daemon hosts') },
      propagation,
    };
    return result;
  } finally {
    for (const w of watches) w.stop();
    for (const s of mine) removeNs(s);
    const left = mine.filter((s) => listTestNs().includes(s.name));
    try {
      await lab?.close();
      await assertChildrenGone();
      if (left.length) throw new Error(`leak check failed: namespaces left: ${left.map((s) => s.name).join(', ')}`);
    } catch (err) {
      // The figures are kept, with the failure beside them (bench/overlay.ts does the same).
      if (!result) throw err;
      result.leakCheck = String(err);
      log(`routed bench: leak check: ${String(err)}`);
    }
  }
}

/** H hosts × E endpoints on one routed network: the routes of protocol 83 in every host namespace. */
async function routeTable(hosts: number, endpoints: number, concurrency: number, log: (m: string) => void): Promise<RouteTableFigures> {
  let lab: ClusterLab | undefined;
  let fig: RouteTableFigures | undefined;
  try {
    log(`routed bench: route table lab, ${hosts} hosts (${concurrency} daemons starting at once)`);
    const t0 = performance.now();
    lab = await startClusterLab({ hosts, startConcurrency: concurrency });
    const labStartMs = Math.round(performance.now() - t0);
    log(`routed bench: lab up in ${labStartMs} ms; ${hosts} × ${endpoints} sandboxes`);
    await lab.hosts[0]!.daemon.client.createNetwork({ Name: 'rts', Driver: 'routed', Attachable: true, IPAM: { Config: [{ Subnet: NET.table }] }, Options: { 'com.switchyard.routed.block_size': String(BLOCK) } });
    const t1 = performance.now();
    // Hosts fill in parallel, `concurrency` at a time (blocks are claimed in races, as in a real cluster).
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < hosts; i = next++) {
        for (let k = 0; k < endpoints; k++) await run(lab!, i, `t${i}x${k}`, 'rts');
        log(`routed bench: host${i} has ${endpoints} endpoints`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, hosts) }, worker));
    const fillMs = Math.round(performance.now() - t1);
    const claimed = ((await lab.hosts[0]!.daemon.client.inspectNetwork('rts')) as unknown as { Blocks?: Record<string, string> }).Blocks ?? {};
    const expectBlocks = Object.keys(claimed).length;
    const ownBlocks = lab.hosts.map((h) => Object.values(claimed).filter((n) => n === h.name).length);
    const count = (i: number) => {
      const lines = inNs(lab!.hosts[i]!.ns.path, 'ip', 'route', 'show', 'proto', String(RTPROT_SWITCHYARD)).split('\n').filter(Boolean);
      return { remote: lines.filter((l) => / via /.test(l)).length, local: lines.filter((l) => / dev syr/.test(l)).length, total: lines.length };
    };
    // Every host has every other host's blocks routed (the watch may still be delivering).
    await waitFor(() => lab!.hosts.every((_, i) => count(i).remote === expectBlocks - ownBlocks[i]!), 'every remote block routed on every host', 60_000, 500);
    const counts = lab.hosts.map((_, i) => count(i));
    const mm = (xs: number[]) => ({ min: Math.min(...xs), max: Math.max(...xs) });
    fig = {
      hosts,
      endpointsPerHost: endpoints,
      remote: mm(counts.map((c) => c.remote)),
      local: mm(counts.map((c) => c.local)),
      total: mm(counts.map((c) => c.total)),
      blocks: expectBlocks,
      maxBlocksPerHost: Math.max(...ownBlocks),
      labStartMs,
      fillMs,
      startConcurrency: concurrency,
    };
    log(`routed bench: route table ${JSON.stringify(fig)}`);
    return fig;
  } finally {
    log('routed bench: route table lab teardown');
    try {
      await lab?.close();
    } catch (err) {
      if (!fig) throw err;
      fig.leakCheck = String(err);
      log(`routed bench: leak check: ${String(err)}`);
    }
  }
}

export async function runRoutedBench(o: RoutedBenchOptions = {}): Promise<RoutedBenchResult> {
  const log = o.log ?? ((m: string) => console.error(`[routed bench] ${m}`));
  const opts = {
    hosts: o.hosts ?? 3,
    seconds: o.seconds ?? 5,
    rounds: o.rounds ?? 6,
    iterations: o.iterations ?? 20,
    tableHosts: o.tableHosts ?? 20,
    tableEndpoints: o.tableEndpoints ?? 50,
    startConcurrency: o.startConcurrency ?? 4,
  };
  const start = os.loadavg();
  const result: RoutedBenchResult = await dataPathAndPropagation(opts, log);
  if (opts.tableHosts > 0) result.table = await routeTable(opts.tableHosts, opts.tableEndpoints, opts.startConcurrency, log);
  result.load = { start, end: os.loadavg() };
  return result;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

export function routedMarkdown(r: RoutedBenchResult): string {
  const out: string[] = [];
  const L = (line = '') => out.push(line);
  L(`### Routed across two lab hosts (${r.hosts} hosts, real etcd; ${r.rounds} rounds, iperf3 ${r.seconds} s, 200 pings per path per round)`);
  L('| path | throughput, median of rounds (min–max) | RTT p50 / p99 (all packets) | throughput / plain, median of per-round ratios | RTT p50 / plain, median of per-round ratios |');
  L('|---|---|---|---|---|');
  for (const k of PATHS) {
    const t = r.throughputGbps[k];
    const paired = `${pct(median(r.ratios.throughput[k]))} | ${median(r.ratios.rttP50[k]).toFixed(2)}×`;
    L(`| ${k} | ${median(t).toFixed(2)} Gbit/s (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)}) | ${r.rttMs[k].p50.toFixed(3)} / ${r.rttMs[k].p99.toFixed(3)} ms | ${paired} |`);
  }
  L(`Per-round throughput ratios routed / plain: ${r.ratios.throughput.routed.map(pct).join(', ')} (target ≥ 98 %); overlay / plain: ${r.ratios.throughput.overlay.map(pct).join(', ')}; routed / plain between fresh namespaces: ${r.routedVsFresh.throughput.map(pct).join(', ')} (median ${pct(median(r.routedVsFresh.throughput))}; RTT p50 ${median(r.routedVsFresh.rttP50).toFixed(2)}×); routed / plain through the daemons' hosts: ${r.routedVsDaemonHosts.throughput.map(pct).join(', ')} (median ${pct(median(r.routedVsDaemonHosts.throughput))}; RTT p50 ${median(r.routedVsDaemonHosts.rttP50).toFixed(2)}×).`);
  L();
  L('| attach on host0 (connect returned) → … on host1, ms p50 / p99 (n) | kernel event on host1 | first ping from host1 |');
  L('|---|---|---|');
  const p = (s?: Summary) => (s ? `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} (${s.n})` : '— (no kernel change)');
  for (const k of PROPAGATION) {
    const f = r.propagation[k];
    if (f) L(`| ${k} | ${p(f.kernel)} | ${p(f.firstPing)} |`);
  }
  if (r.table) {
    const t = r.table;
    L();
    L(`Route table, ${t.hosts} hosts × ${t.endpointsPerHost} endpoints on one routed network (/${BLOCK} blocks): routes of protocol 83 per host namespace: remote blocks ${t.remote.min}–${t.remote.max}, local endpoints ${t.local.min}–${t.local.max}, total ${t.total.min}–${t.total.max} (${t.blocks} blocks claimed, at most ${t.maxBlocksPerHost} per host). A route per remote endpoint would be (H − 1) × E = ${(t.hosts - 1) * t.endpointsPerHost} remote /32s. Lab start ${(t.labStartMs / 1000).toFixed(0)} s (${t.startConcurrency} daemons at once), fill ${(t.fillMs / 1000).toFixed(0)} s.`);
    if (t.leakCheck) L(`Leak check after the route-table lab: ${t.leakCheck}`);
  }
  if (r.load) L(`\nLoad average (1 min) at the start / end: ${r.load.start[0]!.toFixed(1)} / ${r.load.end[0]!.toFixed(1)} on ${os.cpus().length} CPUs.`);
  if (r.leakCheck) L(`\nLeak check after the run: ${r.leakCheck}`);
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      iterations: { type: 'string' },
      'table-hosts': { type: 'string' },
      'table-endpoints': { type: 'string' },
      'start-concurrency': { type: 'string' },
    },
  });
  if (spawnSync('iperf3', ['--version']).error) throw new Error('iperf3 is not installed (scripts/install.sh)');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const r = await runRoutedBench({
    hosts: num(values.hosts),
    seconds: num(values.seconds),
    rounds: num(values.rounds),
    iterations: num(values.iterations),
    tableHosts: num(values['table-hosts']),
    tableEndpoints: num(values['table-endpoints']),
    startConcurrency: num(values['start-concurrency']),
    log: (m) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`),
  });
  console.log(JSON.stringify(r, null, 2));
  console.log(routedMarkdown(r));
}
