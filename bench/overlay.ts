/**
 * Overlay figures on the cluster lab (test/helpers/cluster-lab.ts: host namespaces on an
 * underlay bridge, real etcd, one real daemon per host), one lab per host count (--hosts 3,20),
 * a sandbox on the overlay on every host, in one run:
 *   - throughput (iperf3, one TCP stream) and RTT (ping, p50/p99) between sandboxes on two
 *     hosts over a Switchyard overlay, vs a hand-built VXLAN pair between the SAME sandbox
 *     namespaces (a bare vxlan device in each, socket on the same underlay: the kernel's
 *     limit for this encapsulation), vs the plain underlay (host namespace to host namespace);
 *     rounds alternate the three paths, the order reversed every other round (first lab only,
 *     unless --datapath-all);
 *   - time from `run -d` (create + start through the API) of a sandbox with a fixed address on
 *     host A to the first reply to pings from sandboxes on host B that started before it (the
 *     Docker anchor's probe, bench/anchors/docker-swarm.ts PingProbe), three probes at once:
 *     the sandbox as Switchyard makes it, one with a 10 ms ARP retry (as the anchor probes
 *     Docker), one with the kernel's 1 s defaults (the sandbox end before
 *     OVERLAY_NEIGHBOUR_RETRY); plus when B's neighbour entry appeared (ip -ts monitor);
 *   - overlay network create/remove and attach/detach (connect/disconnect of a running
 *     sandbox), next to a bridge network's on the same daemon, interleaved (paired ratios);
 *   - with --vs docker-swarm (or SWY_BENCH_DOCKER_SWARM=1): Docker's swarm overlay with as many
 *     dockerd after each lab, a container on the network on every node (the first count gets
 *     the anchor's full set of figures, later ones its warm propagation only).
 *
 *   node dist/bench/overlay.js [--hosts 3,20] [--seconds 5] [--rounds 3] [--iterations 30] [--vs docker-swarm] [--datapath-all] [--out bench/results]
 * writes bench/results/overlay-<time>.json and .md. `npm run bench` runs it at 3 hosts (skip with --skip overlay).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startClusterLab, type ClusterLab } from '../test/helpers/cluster-lab.js';
import { waitFor } from '../test/helpers/netns.js';
import { medianOf, summarize, type Summary } from './stats.js';
import { iperf3 } from './iperf.js';
import { DEFAULT_OPTIONS as SWARM_DEFAULTS, SWARM_INSTALL_HINT, dockerSwarmBench, dockerSwarmInstalled, KernelMonitor, PingProbe, renderSwarmMarkdown } from './anchors/docker-swarm.js';

function sh(args: string[], allowFail = false): { status: number | null; stdout: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (!allowFail && r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
}
const inNs = (nsPath: string, ...args: string[]) => sh(['nsenter', `--net=${nsPath}`, '--', ...args]).stdout;

const iperf = iperf3;

/** Per-packet RTTs (ms) of `count` pings 5 ms apart. */
function rtts(fromNs: string, addr: string, count: number): number[] {
  const out = sh(['nsenter', `--net=${fromNs}`, '--', 'ping', '-n', '-c', String(count), '-i', '0.005', '-W', '1', addr], true).stdout;
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/** The three probes on host B, each in a sandbox of its own, all pinging the new address at once. */
export const PROBES = {
  /** Switchyard's overlay sandbox end as it is (drivers/overlay.ts OVERLAY_NEIGHBOUR_RETRY): what an application sees. */
  switchyard: 'as made (40 ms neighbour retry)',
  /** retrans_time_ms 10 (the Docker anchor's probe, fastArp): the propagation itself, with no ARP retry hiding it. */
  fast: 'fast ARP (10 ms, as the Docker anchor probes)',
  /** The kernel's defaults (1000 ms, 3 times): the sandbox end before the fix. */
  kernel: "kernel's defaults (1 s retry: before the fix)",
} as const;
export type ProbeKind = keyof typeof PROBES;

export interface RunToPing {
  /** From `run -d` called on host A to each probe's first reply on host B. */
  afterCall: Record<ProbeKind, number[]>;
  /** From `run -d` returned on A to the first reply (the as-made probe). */
  afterReturn: number[];
  /** `run -d` itself (API create + start). */
  run: number[];
  /** From `run -d` called on A to host B's neighbour entry for the new address on its VXLAN device (ip -ts monitor). */
  entryOnB: number[];
  /** From B's neighbour entry to each probe's first reply. */
  lagAfterEntry: Record<ProbeKind, number[]>;
}

export interface OverlayHostRun {
  hosts: number;
  labStartMs: number;
  load: { before: number[]; after: number[] };
  throughputGbps?: Record<'overlay' | 'hand-built vxlan' | 'underlay', number[]>;
  rttMs?: Record<'overlay' | 'hand-built vxlan' | 'underlay', Summary>;
  /** Median of the per-round ratios (the paths measured back to back in each round). */
  throughputPairedRatios?: Record<string, number>;
  runToPing: RunToPing;
  runToPingMs: Record<string, Summary>;
  /** CPU time (ms, user + system, from /proc/PID/stat) the daemons spent per `run -d` → ping sample (which includes the sandbox's removal). */
  daemonCpuMsPerSample: { hostA: number; hostB: number; otherMean: number; allHosts: number };
  ops: Record<string, Summary>;
  /** Median of the per-iteration ratios overlay / bridge (interleaved, so each pair shares its moment's load). */
  opsPairedRatios: Record<string, number>;
  /** The lab's leak check at the end, if it failed (as bench/run.ts records `leftovers`). */
  leakCheck?: string;
  error?: string;
}

export interface OverlayBenchResult {
  started: string;
  command?: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  runs: OverlayHostRun[];
  /** Docker's swarm overlay (bench/anchors/docker-swarm.ts) with as many dockerd, one per host count, after Switchyard's lab of that size. */
  dockerSwarm: Record<string, any>[];
  load: { before: number[]; after?: number[] };
}

type Inspect = { State: { Pid: number }; NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } };

/** User + system CPU time of a process so far, in ms (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** One host count: the lab, a sandbox on every host, the figures. */
async function runOnLab(hosts: number, o: { seconds: number; rounds: number; iterations: number; datapath: boolean; settleMs: number; log: (m: string) => void }): Promise<OverlayHostRun> {
  const { seconds, rounds, iterations, log } = o;
  let lab: ClusterLab | undefined;
  let result: OverlayHostRun | undefined;
  const load0 = load();
  try {
    const tLab = performance.now();
    lab = await startClusterLab({ hosts });
    const labStartMs = Math.round(performance.now() - tLab);
    log(`${hosts} hosts: lab up in ${labStartMs} ms`);
    const c0 = lab.hosts[0]!.daemon.client;
    const c1 = lab.hosts[1]!.daemon.client;
    // Fixed addresses for the timed sandboxes come from outside the IPAM range.
    const { Id: netId } = await c0.createNetwork({ Name: 'ovb', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.181.0.0/16', IPRange: '10.181.0.0/24' }] } });
    const run = async (c: typeof c0, name: string, net = 'ovb', ip?: string): Promise<Inspect> => {
      const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net, ...(ip ? { EndpointsConfig: { [net]: { IPAMConfig: { IPv4Address: ip } } } } : {}) });
      await c.startSandbox(Id);
      return (await c.inspectSandbox(Id)) as unknown as Inspect;
    };
    const a = await run(c0, 'ba');
    const b = await run(c1, 'bb');
    // Every other host has a sandbox on the network too: each one learns every new endpoint.
    for (let i = 2; i < hosts; i++) await run(lab.hosts[i]!.daemon.client, `bh${i}`);
    const aNs = a.NetworkSettings.SandboxKey;
    const bNs = b.NetworkSettings.SandboxKey;
    const bIp = b.NetworkSettings.Networks['ovb']!.IPAddress;
    await waitFor(() => sh(['nsenter', `--net=${aNs}`, '--', 'ping', '-c1', '-W1', bIp], true).status === 0, 'overlay ping', 10_000, 50);

    let tp: Record<P, number[]> | undefined;
    let rt: Record<P, number[]> | undefined;
    if (o.datapath) {
      ({ tp, rt } = await datapath(lab, a, b, bIp, seconds, rounds, log));
    }

    // run -d on host0 → first ping from host1, three probes at once (PROBES).
    const probeNs: Record<ProbeKind, string> = { switchyard: bNs, fast: '', kernel: '' };
    for (const k of ['fast', 'kernel'] as const) {
      const ns = (await run(c1, `bp${k}`)).NetworkSettings.SandboxKey;
      const [retrans, solicit] = k === 'fast' ? ['10', '3'] : ['1000', '3'];
      inNs(ns, 'sysctl', '-qw', `net.ipv4.neigh.eth0.retrans_time_ms=${retrans}`, `net.ipv4.neigh.eth0.mcast_solicit=${solicit}`);
      probeNs[k] = ns;
    }
    const overlayNsOnB = `${lab.hosts[1]!.daemon.execRoot}/overlay/1-${netId.slice(0, 10)}`;
    const kinds = Object.keys(PROBES) as ProbeKind[];
    const cpu0 = lab.hosts.map((h) => cpuMs(h.daemon.proc.pid));
    const rp: RunToPing = { afterCall: { switchyard: [], fast: [], kernel: [] }, afterReturn: [], run: [], entryOnB: [], lagAfterEntry: { switchyard: [], fast: [], kernel: [] } };
    for (let i = 0; i < iterations; i++) {
      const ip = `10.181.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`;
      const mon = new KernelMonitor(overlayNsOnB, 'neigh');
      const probes = kinds.map((k) => new PingProbe(probeNs[k], ip, 5, 30_000));
      try {
        await sleep(50); // the probes are pinging (unanswered), the monitor listening
        // `run -d` is create + start (the inspect of `run` above is not part of it).
        const t0 = nowMs();
        const { Id } = await c0.createSandbox({ Name: `bx${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'ovb', EndpointsConfig: { ovb: { IPAMConfig: { IPv4Address: ip } } } });
        await c0.startSandbox(Id);
        const t1 = nowMs();
        const replies = await Promise.all(probes.map((p) => p.firstReply));
        const tEntry = await mon.first((l) => l.startsWith(`${ip} dev `) && l.includes('lladdr'), 2000);
        rp.run.push(t1 - t0);
        rp.afterReturn.push(replies[0]! - t1);
        kinds.forEach((k, j) => rp.afterCall[k].push(replies[j]! - t0));
        if (tEntry !== undefined) {
          rp.entryOnB.push(tEntry - t0);
          kinds.forEach((k, j) => rp.lagAfterEntry[k].push(replies[j]! - tEntry));
        }
      } finally {
        for (const p of probes) p.stop();
        mon.stop();
      }
      await c0.removeSandbox(`bx${i}`, true);
      await sleep(o.settleMs);
    }
    // CPU time (user + system) each daemon spent per sample: host A's, host B's, and the others' (every host learns every endpoint).
    const perSample = lab.hosts.map((h, i) => (cpuMs(h.daemon.proc.pid) - cpu0[i]!) / iterations);
    const others = perSample.slice(2);
    const daemonCpuMsPerSample = { hostA: perSample[0]!, hostB: perSample[1]!, otherMean: others.length ? others.reduce((x, y) => x + y, 0) / others.length : 0, allHosts: perSample.reduce((x, y) => x + y, 0) };
    log(`${hosts} hosts: run -d → first ping p50 ${summarize(rp.afterCall.switchyard).p50.toFixed(1)} ms (fast ARP ${summarize(rp.afterCall.fast).p50.toFixed(1)}, kernel defaults ${summarize(rp.afterCall.kernel).p50.toFixed(1)})`);

    // create/rm and connect/disconnect: overlay vs bridge on host0, interleaved.
    const ops: Record<string, number[]> = {};
    const timed = async (k: string, fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      (ops[k] ??= []).push(performance.now() - t);
    };
    for (let i = 0; i < iterations; i++) {
      await timed('overlay create', () => c0.createNetwork({ Name: `ovc${i}`, Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: `10.183.${i}.0/24` }] } }));
      await timed('bridge create', () => c0.createNetwork({ Name: `brc${i}`, IPAM: { Config: [{ Subnet: `10.184.${i}.0/24` }] } }));
      await timed('overlay remove', () => c0.removeNetwork(`ovc${i}`));
      await timed('bridge remove', () => c0.removeNetwork(`brc${i}`));
    }
    await c0.createNetwork({ Name: 'brb', IPAM: { Config: [{ Subnet: '10.185.0.0/24' }] } });
    await c0.createNetwork({ Name: 'brh', IPAM: { Config: [{ Subnet: '10.186.0.0/24' }] } });
    await run(c0, 'bc', 'brh');
    for (let i = 0; i < iterations; i++) {
      await timed('overlay connect', () => c0.connectNetwork('ovb', 'bc'));
      await timed('overlay disconnect', () => c0.disconnectNetwork('ovb', 'bc'));
      await sleep(o.settleMs);
      await timed('bridge connect', () => c0.connectNetwork('brb', 'bc'));
      await timed('bridge disconnect', () => c0.disconnectNetwork('brb', 'bc'));
      await sleep(o.settleMs);
    }
    const summary = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)]));
    const paired = (x: number[], y: number[]) => medianOf(x.map((v, i) => v / y[i]!));
    result = {
      hosts,
      labStartMs,
      load: { before: load0, after: load() },
      ...(tp && rt ? {
        throughputGbps: tp,
        rttMs: summary(rt) as Record<P, Summary>,
        throughputPairedRatios: {
          'overlay / hand-built VXLAN': paired(tp.overlay, tp['hand-built vxlan']),
          'overlay / underlay': paired(tp.overlay, tp.underlay),
        },
      } : {}),
      runToPing: rp,
      daemonCpuMsPerSample,
      runToPingMs: {
        ...Object.fromEntries(kinds.map((k) => [`after call: ${k}`, summarize(rp.afterCall[k])])),
        'after return: switchyard': summarize(rp.afterReturn),
        'run -d': summarize(rp.run),
        "B's entry, after call": summarize(rp.entryOnB),
        ...Object.fromEntries(kinds.map((k) => [`after B's entry: ${k}`, summarize(rp.lagAfterEntry[k])])),
      },
      ops: summary(ops),
      opsPairedRatios: Object.fromEntries(['create', 'remove', 'connect', 'disconnect'].map((op) => [op, paired(ops[`overlay ${op}`]!, ops[`bridge ${op}`]!)])),
    };
    return result;
  } finally {
    try {
      await lab?.close();
    } catch (err) {
      // The figures are kept, with the failure beside them (it may be another process's
      // leftover in the main namespace: the check compares with the state at start).
      if (!result) throw err;
      result.leakCheck = String(err);
      log(`leak check after the bench: ${String(err)}`);
    }
  }
}

type P = 'overlay' | 'hand-built vxlan' | 'underlay';

/** Throughput and RTT: Switchyard's overlay vs a hand-built VXLAN pair in the same sandboxes vs the underlay, rounds alternating. */
async function datapath(lab: ClusterLab, a: Inspect, b: Inspect, bIp: string, seconds: number, rounds: number, log: (m: string) => void): Promise<{ tp: Record<P, number[]>; rt: Record<P, number[]> }> {
  const aNs = a.NetworkSettings.SandboxKey;
  const bNs = b.NetworkSettings.SandboxKey;
  // The hand-built pair: a bare VXLAN device (VNI 999, port 4790) made in each host's
  // namespace (its socket on the underlay) and moved into the same sandbox namespaces.
  for (const [sb, self, peer, addr] of [[a, lab.hosts[0]!, lab.hosts[1]!, '10.182.0.1'], [b, lab.hosts[1]!, lab.hosts[0]!, '10.182.0.2']] as const) {
    sh(['ip', '-n', self.ns.name, 'link', 'add', 'syhv', 'type', 'vxlan', 'id', '999', 'local', self.address, 'remote', peer.address, 'dstport', '4790', 'dev', 'uplink']);
    sh(['ip', '-n', self.ns.name, 'link', 'set', 'syhv', 'netns', String(sb.State.Pid)]);
    const ns = sb.NetworkSettings.SandboxKey;
    inNs(ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'syhv');
    inNs(ns, 'ip', 'link', 'set', 'syhv', 'mtu', '1450', 'up');
  }
  try {
    await waitFor(() => sh(['nsenter', `--net=${aNs}`, '--', 'ping', '-c1', '-W1', '10.182.0.2'], true).status === 0, 'hand-built ping', 10_000, 50);
    const paths = {
      overlay: { server: bNs, client: aNs, addr: bIp },
      'hand-built vxlan': { server: bNs, client: aNs, addr: '10.182.0.2' },
      underlay: { server: lab.hosts[1]!.ns.path, client: lab.hosts[0]!.ns.path, addr: lab.hosts[1]!.address },
    } as const;
    const tp: Record<P, number[]> = { overlay: [], 'hand-built vxlan': [], underlay: [] };
    const rt: Record<P, number[]> = { overlay: [], 'hand-built vxlan': [], underlay: [] };
    for (let r = 0; r < rounds; r++) {
      // The order reverses every other round (A B C, C B A, …): a path is not always the one
      // measured first, or right after the underlay's run.
      const order = Object.keys(paths) as P[];
      for (const k of r % 2 === 0 ? order : [...order].reverse()) {
        const p = paths[k];
        tp[k].push(await iperf(p.server, p.client, p.addr, seconds));
        rt[k].push(...rtts(p.client, p.addr, 200));
        log(`round ${r + 1} ${k}: ${tp[k].at(-1)!.toFixed(2)} Gbit/s`);
      }
    }
    return { tp, rt };
  } finally {
    // The sandboxes' removal takes the devices with their namespaces; removing them here keeps the run's later figures clean.
    for (const sb of [a, b]) sh(['nsenter', `--net=${sb.NetworkSettings.SandboxKey}`, '--', 'ip', 'link', 'del', 'syhv'], true);
  }
}

export interface OverlayBenchOptions {
  /** Host counts, one lab each (e.g. [3, 20]). */
  hosts?: number[];
  seconds?: number;
  rounds?: number;
  iterations?: number;
  /** Data path only on the first lab (default) or on every one. */
  datapathAll?: boolean;
  /** 'docker-swarm': Docker's swarm overlay with as many dockerd after each lab. */
  vs?: string[];
  settleMs?: number;
  log?: (m: string) => void;
}

export async function runOverlayBench(o: OverlayBenchOptions = {}): Promise<OverlayBenchResult> {
  const hostCounts = o.hosts ?? [3];
  const seconds = o.seconds ?? 5;
  const rounds = o.rounds ?? 3;
  const iterations = o.iterations ?? 30;
  const settleMs = o.settleMs ?? 250;
  const log = o.log ?? ((m: string) => console.error(`[overlay bench ${new Date().toISOString().slice(11, 19)}] ${m}`));
  const vs = o.vs ?? [];
  const out: OverlayBenchResult = {
    started: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, kernel: os.release(), node: process.version },
    settings: { hosts: hostCounts, seconds, rounds, iterations, settleMs, vs },
    runs: [],
    dockerSwarm: [],
    load: { before: load() },
  };
  for (const [i, hosts] of hostCounts.entries()) {
    try {
      out.runs.push(await runOnLab(hosts, { seconds, rounds, iterations, settleMs, log, datapath: i === 0 || !!o.datapathAll }));
    } catch (err) {
      log(`${hosts} hosts failed: ${(err as Error).stack ?? err}`);
      out.runs.push({ hosts, error: String((err as Error).stack ?? err) } as OverlayHostRun);
    }
    if (vs.includes('docker-swarm')) {
      if (!dockerSwarmInstalled()) {
        log(`docker-swarm skipped: ${SWARM_INSTALL_HINT}`);
        out.dockerSwarm.push({ hosts, skipped: 'docker.io or iperf3 not installed' });
        continue;
      }
      log(`Docker swarm overlay, ${hosts} dockerd`);
      const first = i === 0;
      out.dockerSwarm.push(await dockerSwarmBench({
        ...SWARM_DEFAULTS, hosts, reps: iterations, coldReps: Math.min(20, iterations), seconds, rounds, settleMs, fillAllNodes: true,
        skip: first ? [] : ['create', 'connect', 'datapath', 'cold'],
      }));
    }
  }
  out.load.after = load();
  return out;
}


const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));
const pp = (s: Summary | undefined) => (s?.n ? `${f(s.p50)} / ${f(s.p99)}` : '—');

export function overlayMarkdown(r: OverlayBenchResult): string {
  const out: string[] = [];
  const L = (line = '') => out.push(line);
  // One Docker run per host count, in the order of the labs.
  const swarm = (run: OverlayHostRun) => r.dockerSwarm[r.runs.indexOf(run)];
  L(`### Overlay across the cluster lab (${r.started}; ${r.command ?? ''})`);
  L();
  L(`Load average (1/5/15 min) ${r.load.before.join(' ')} at the start, ${r.load.after?.join(' ') ?? '—'} at the end; ${r.machine['cpus']} CPUs, kernel ${r.machine['kernel']}.`);
  for (const run of r.runs) {
    if (run.error) L(`\n**${run.hosts} hosts failed:** \`${run.error.split('\n')[0]}\``);
    else L(`- ${run.hosts} hosts: lab up in ${(run.labStartMs / 1000).toFixed(1)} s; load ${run.load.before.join(' ')} → ${run.load.after.join(' ')}.`);
  }
  for (const d of r.dockerSwarm) L(`- Docker, ${d.settings?.hosts ?? d.hosts} dockerd: ${d.error ? `failed: \`${String(d.error).split('\n')[0]}\`` : d.skipped ?? `load ${d.load?.before?.join(' ')} → ${d.load?.after?.join(' ')}; dockerd up in ${f(d.lab?.dockerdStartMs)} ms, ${d.nodesOnNetwork ?? 2} nodes on the network`}.`);
  L();
  L('`run -d` (create + start through the API) of a sandbox with a fixed address on host A → first reply to a ping from a sandbox on host B, started before the `run -d` (ms, p50 / p99):');
  L();
  L('| hosts | Switchyard, sandbox as made | Switchyard, fast-ARP probe | Switchyard, kernel ARP defaults (before the fix) | Docker swarm, fast-ARP probe | Docker / Switchyard (p50, fast-ARP probes) |');
  L('|---|---|---|---|---|---|');
  for (const run of r.runs.filter((x) => !x.error)) {
    const d = swarm(run)?.propagationWarm?.afterCall as Summary | undefined;
    const sy = run.runToPingMs['after call: fast'];
    L(`| ${run.hosts} | ${pp(run.runToPingMs['after call: switchyard'])} | ${pp(sy)} | ${pp(run.runToPingMs['after call: kernel'])} | ${pp(d)} | ${d?.n && sy ? `${f(d.p50 / sy.p50)}×` : '—'} |`);
  }
  L();
  L('Where the time goes (ms, p50 / p99):');
  L();
  L("| hosts | `run -d` on A | B's neighbour entry, after `run -d` called | first reply after B's entry: as made | fast-ARP probe | kernel defaults | first reply after `run -d` returned |");
  L('|---|---|---|---|---|---|---|');
  for (const run of r.runs.filter((x) => !x.error)) {
    const m = run.runToPingMs;
    L(`| ${run.hosts} | ${pp(m['run -d'])} | ${pp(m["B's entry, after call"])} | ${pp(m["after B's entry: switchyard"])} | ${pp(m["after B's entry: fast"])} | ${pp(m["after B's entry: kernel"])} | ${pp(m['after return: switchyard'])} |`);
  }
  L();
  L('Daemon CPU time (user + system) per sample, create + start + remove of one sandbox on host A (ms):');
  L();
  L('| hosts | host A | host B | each other host (mean) | all hosts together |');
  L('|---|---|---|---|---|');
  for (const run of r.runs.filter((x) => !x.error && x.daemonCpuMsPerSample)) {
    const c = run.daemonCpuMsPerSample;
    L(`| ${run.hosts} | ${f(c.hostA)} | ${f(c.hostB)} | ${f(c.otherMean)} | ${f(c.allHosts)} |`);
  }
  L();
  L('Network operations on host A (p50 / p99 ms; overlay and bridge interleaved, paired = median of the per-iteration ratios overlay / bridge; Docker: create/rm on the swarm manager, connect/disconnect on a worker):');
  L();
  L('| hosts | operation | Switchyard overlay | Switchyard bridge | paired overlay / bridge | Docker swarm overlay |');
  L('|---|---|---|---|---|---|');
  const dockerOp: Record<string, string> = { create: 'networkCreate', remove: 'networkRemove', connect: 'connect', disconnect: 'disconnect' };
  for (const run of r.runs.filter((x) => !x.error)) {
    for (const op of ['create', 'remove', 'connect', 'disconnect']) {
      L(`| ${run.hosts} | ${op} | ${pp(run.ops[`overlay ${op}`])} | ${pp(run.ops[`bridge ${op}`])} | ${f(run.opsPairedRatios[op], 2)}× | ${pp(swarm(run)?.[dockerOp[op]!])} |`);
    }
  }
  for (const run of r.runs.filter((x) => x.throughputGbps)) {
    L();
    L(`Data path between two of the ${run.hosts} hosts (one TCP stream per round, rounds alternating the paths, the order reversed every other round):`);
    L();
    L('| path | Gbit/s, median (rounds) | RTT p50 / p99 (ms) |');
    L('|---|---|---|');
    for (const k of ['overlay', 'hand-built vxlan', 'underlay'] as const) {
      L(`| ${k} | ${f(medianOf(run.throughputGbps![k]), 2)} (${run.throughputGbps![k].map((x) => x.toFixed(2)).join(', ')}) | ${f(run.rttMs![k].p50, 3)} / ${f(run.rttMs![k].p99, 3)} |`);
    }
    L();
    L(`Median of the per-round ratios: ${Object.entries(run.throughputPairedRatios ?? {}).map(([k, v]) => `${k} ${f(100 * v, 0)} %`).join(', ')}.`);
  }
  for (const run of r.runs) if (run.leakCheck) L(`\nLeak check after the ${run.hosts}-host lab: ${run.leakCheck}`);
  for (const d of r.dockerSwarm) if (d.started) L(`\n${renderSwarmMarkdown(d)}`);
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, iterations: { type: 'string' },
      vs: { type: 'string' }, 'datapath-all': { type: 'boolean', default: false }, out: { type: 'string', default: 'bench/results' },
    },
  });
  const r = await runOverlayBench({
    hosts: (values.hosts ?? '3').split(',').map(Number),
    seconds: Number(values.seconds ?? 5),
    rounds: Number(values.rounds ?? 3),
    iterations: Number(values.iterations ?? 30),
    vs: (values.vs ?? (process.env['SWY_BENCH_DOCKER_SWARM'] === '1' ? 'docker-swarm' : '')).split(',').filter(Boolean),
    datapathAll: values['datapath-all']!,
  });
  r.command = `node dist/bench/overlay.js ${process.argv.slice(2).join(' ')}`.trim();
  fs.mkdirSync(values.out!, { recursive: true });
  const base = path.join(values.out!, `overlay-${r.started.replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(r, null, 2));
  const md = overlayMarkdown(r);
  fs.writeFileSync(`${base}.md`, md + '\n');
  console.log(md);
  console.log(`\nResults written to ${base}.json and ${base}.md`);
  if (r.runs.some((x) => x.error || x.leakCheck) || r.dockerSwarm.some((d) => d.error || d.leftovers?.length)) process.exitCode = 1;
}
