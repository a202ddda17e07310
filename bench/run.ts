/**
 * `npm run bench`: Switchyard's figures through its API over its unix socket, in throwaway
 * namespaces (the machine's own networking is untouched); with `--vs docker,netavark,cni` the
 * anchors run in the same rounds, each inside a netns of its own (see ../shared/anchors/).
 *
 *   npm run bench -- [--vs docker,netavark,cni] [--quick] [--sandboxes 1000] [--iterations 200] [--settle-ms 250]
 *                    [--rounds 30] [--anchor-scale 100] [--skip dns,datapath,cli,cni,macvlan,cluster,overlay,routed,routed-offload] [--out bench/results]
 *                    [--cluster-hosts 3,20] [--cluster-endpoints 50] [--routed-table-hosts 20]
 *
 * Writes bench/results/bench-<time>.json and .md (the table for docs/BENCHMARKS.md).
 *
 * SWY_BENCH_DOCKER_SWARM=1 adds Docker's multi-host overlay (three dockerd joined as a swarm, in
 * namespaces of their own; bench/anchors/docker-swarm.ts) after the single-host figures, as
 * `dockerSwarm` in the JSON and a "Multi-host anchors" table.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { summarize, time, Rounds, type Summary } from './stats.js';
import { AnchorFiller, attachAtScale, attachByPorts, networkCreateRemove, scaleProbes, warmNetworks } from './attach.js';
import { anchorVersions, availableAnchors, INSTALL_HINT, parseVs, startAnchors, stopAnchors, type Systems } from './systems.js';
import { diffSnapshots, mainNamespaceSnapshot, rssMb } from './host-tools.js';
import { cliStartup } from './cli-startup.js';
import { dnsBench } from './dns.js';
import { runDatapath } from './datapath.js';
import { macvlanBench, renderMacvlanBench } from './macvlan.js';
import { overlayMarkdown, runOverlayBench } from './overlay.js';
import { renderMarkdown } from './report.js';
import { retryCount, retryOnStaleSocket } from './client-retry.js';
import { cniBenchAvailable, cniVsBridge } from './cni-vs-bridge.js';
import { DEFAULT_OPTIONS as SWARM_DEFAULTS, QUICK_OPTIONS as SWARM_QUICK, SWARM_INSTALL_HINT, dockerSwarmBench, dockerSwarmInstalled, renderSwarmMarkdown } from './anchors/docker-swarm.js';
import { clusterBench, renderCluster } from './cluster.js';
import { routedMarkdown, runRoutedBench } from './routed.js';

const { values } = parseArgs({
  options: {
    vs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sandboxes: { type: 'string' },
    iterations: { type: 'string' },
    rounds: { type: 'string' },
    'anchor-scale': { type: 'string' },
    'settle-ms': { type: 'string' },
    skip: { type: 'string', default: '' },
    out: { type: 'string', default: 'bench/results' },
    'cluster-hosts': { type: 'string', default: '3,20' },
    'cluster-endpoints': { type: 'string' },
    'routed-table-hosts': { type: 'string' },
  },
});
const QUICK = values.quick!;
const LARGE = Number(values.sandboxes ?? 1000);
const ITER = Number(values.iterations ?? (QUICK ? 50 : 200));
const ROUNDS = Number(values.rounds ?? (QUICK ? 10 : 30));
const ANCHOR_SCALE = Number(values['anchor-scale'] ?? 100);
/** Pause after each detach, untimed, so no system's attach runs into another's asynchronous teardown. */
const SETTLE_MS = Number(values['settle-ms'] ?? 250);
const SKIP = new Set(values.skip!.split(',').filter(Boolean));
const PER_NETWORK = 250;

async function runSandboxes(d: TestDaemon, count: number, networks: string[], prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const net = networks[i % networks.length]!;
    const { Id } = await d.client.createSandbox({ Name: `${prefix}${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: net });
    await d.client.startSandbox(Id);
    ids.push(Id);
  }
  return ids;
}

/** Connect then disconnect one running sandbox to/from a network it is not on, ITER times. */
async function connectCycle(d: TestDaemon, sandboxes: string[], target: string): Promise<{ connect: Summary; disconnect: Summary }> {
  const c: number[] = [];
  const x: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const sb = sandboxes[i % sandboxes.length]!;
    const [tc] = await time(() => d.client.connectNetwork(target, sb));
    const [td] = await time(() => d.client.disconnectNetwork(target, sb));
    c.push(tc);
    x.push(td);
  }
  return { connect: summarize(c), disconnect: summarize(x) };
}

const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function main(): Promise<void> {
  const started = new Date();
  const asked = parseVs(values.vs);
  const { use, missing } = availableAnchors(asked);
  if (missing.length) console.error(`not installed, skipped: ${missing.join(', ')}. Install them with:\n  ${INSTALL_HINT}`);
  const before = mainNamespaceSnapshot();
  const load0 = os.loadavg();
  const result: Record<string, any> = {
    started: started.toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    quick: QUICK,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, kernel: os.release(), node: process.version, memGb: Math.round(os.totalmem() / 2 ** 30) },
    anchors: use,
    versions: anchorVersions(use),
    settings: { sandboxes: LARGE, iterations: ITER, rounds: ROUNDS, anchorScale: ANCHOR_SCALE, settleMs: SETTLE_MS },
  };
  log(`anchors: ${use.join(', ') || 'none'}`);
  const [tStart, d] = await time(() => startDaemon({ tag: 'bench' }));
  result.daemonFirstStartMs = Math.round(tStart);
  d.client = retryOnStaleSocket(d.client);
  let anchors: Omit<Systems, 'sy'> = {};
  let filler: AnchorFiller | undefined;
  let warm: Awaited<ReturnType<typeof warmNetworks>> | undefined;
  let probes: Awaited<ReturnType<typeof scaleProbes>> = [];
  try {
    const starts = new Rounds();
    for (let i = 0; i < (QUICK ? 3 : 5); i++) await starts.timed('restart at 0 endpoints', () => d.restart());
    anchors = await startAnchors(use);
    const s: Systems = { sy: d, ...anchors };

    log('network create/remove');
    const nets = await networkCreateRemove(s, Math.min(ITER, 100));
    result.networks = nets.summaries();
    result.networkCreate = result.networks['switchyard create'];
    result.networkRemove = result.networks['switchyard remove'];

    log('attach/detach with 0, 1, 32 published ports');
    warm = await warmNetworks(s);
    result.attachByPorts = (await attachByPorts(s, warm, ROUNDS, SETTLE_MS)).summaries();

    log('scale');
    const netCount = Math.max(1, Math.ceil(LARGE / PER_NETWORK));
    const homes: string[] = [];
    for (let i = 0; i < netCount; i++) {
      homes.push(`home${i}`);
      await d.client.createNetwork({ Name: `home${i}` });
    }
    await d.client.createNetwork({ Name: 'target' });
    const scaleSystems = ['switchyard', ...use];
    probes = await scaleProbes(s, warm, scaleSystems);
    filler = new AnchorFiller(s, warm);
    const scale = new Rounds();
    const rss: Record<string, number> = {};

    const small = await runSandboxes(d, 10, homes, 's');
    result.rss10 = rssMb(d.proc.pid!);
    result.at10 = await connectCycle(d, small, 'target');
    await filler.growTo(10, use);
    await attachAtScale(s, warm, '10', ROUNDS, probes, scale, SETTLE_MS);

    const mid = await runSandboxes(d, 90, homes, 'm');
    const midAnchors = use.filter(() => ANCHOR_SCALE >= 100);
    await filler.growTo(100, midAnchors);
    await attachAtScale(s, warm, '100', ROUNDS, probes.filter((p) => p.system === 'switchyard' || midAnchors.includes(p.system as never)), scale, SETTLE_MS);
    if (s.docker) rss['dockerd @100'] = rssMb(s.docker.proc.pid!);

    const [tRun, large] = await time(() => runSandboxes(d, LARGE - 100, homes, 'l'));
    result.runRateMs = Math.round((tRun / Math.max(1, LARGE - 100)) * 1000) / 1000;
    result.rssLarge = rssMb(d.proc.pid!);
    const bigAnchors = use.filter(() => ANCHOR_SCALE >= LARGE);
    await filler.growTo(LARGE, bigAnchors);
    await attachAtScale(s, warm, String(LARGE), ROUNDS, probes.filter((p) => p.system === 'switchyard' || bigAnchors.includes(p.system as never)), scale, SETTLE_MS);
    result.atLarge = await connectCycle(d, [...small, ...mid, ...large], 'target');
    result.sandboxes = LARGE;
    result.attachAtScale = scale.summaries();
    result.anchorRssMb = rss;

    log(`restart with reconcile at ${LARGE}`);
    const restarts = new Rounds();
    for (let i = 0; i < (QUICK ? 1 : 3); i++) await restarts.timed(`restart at ${LARGE} endpoints`, () => d.restart());
    result.restarts = { ...starts.summaries(), ...restarts.summaries() };
    result.restartWithReconcileMs = Math.round(restarts.samples[`restart at ${LARGE} endpoints`]![0]!);
    result.rssAfterRestart = rssMb(d.proc.pid!);

    if (!SKIP.has('cli')) {
      log('CLI start-up');
      result.cliStartup = cliStartup(d, QUICK ? 20 : 30).summaries();
    }
    if (!SKIP.has('cni') && cniBenchAvailable()) {
      log('CNI plugin exec vs the reference bridge plugin');
      result.cniVsBridge = cniVsBridge(d, QUICK ? 30 : 100);
    }
    if (!SKIP.has('dns')) {
      log('DNS (dnsperf)');
      result.dns = await dnsBench(s, { rounds: QUICK ? 1 : 3, seconds: QUICK ? 3 : 10, rate: 1000 });
    }
    if (!SKIP.has('datapath')) {
      log('data path (iperf3)');
      result.datapath = await runDatapath({ d, docker: s.docker, seconds: QUICK ? 2 : 5, rounds: QUICK ? 1 : 3 });
    }
    if (!SKIP.has('macvlan')) {
      log('macvlan vs bridge (attach/detach, throughput)');
      result.macvlan = await macvlanBench({
        d, ...(s.docker ? { docker: s.docker } : {}), driver: 'macvlan', rounds: ROUNDS, seconds: QUICK ? 2 : 3,
        tpRounds: QUICK ? 1 : 3, settleMs: SETTLE_MS, throughput: !SKIP.has('datapath'),
      });
    }
    if (!SKIP.has('cluster')) {
      log('cluster (lab of daemons on etcd)');
      result.cluster = await clusterBench({
        hosts: values['cluster-hosts']!.split(',').map(Number),
        iterations: QUICK ? 20 : 50,
        endpoints: Number(values['cluster-endpoints'] ?? (QUICK ? 10 : 50)),
        log,
      });
    }
    if (!SKIP.has('overlay')) {
      log('overlay on the cluster lab (bench/overlay.ts)');
      result.overlay = await runOverlayBench({ hosts: [3], seconds: QUICK ? 2 : 5, rounds: QUICK ? 1 : 8, iterations: QUICK ? 10 : 30, log });
    }
    if (!SKIP.has('routed')) {
      log('routed on the cluster lab, against plain routing and the overlay (bench/routed.ts)');
      result.routed = await runRoutedBench({
        hosts: 3, seconds: QUICK ? 2 : 5, rounds: QUICK ? 3 : 7, iterations: QUICK ? 10 : 20,
        tableHosts: Number(values['routed-table-hosts'] ?? (QUICK ? 5 : 20)), tableEndpoints: QUICK ? 10 : 50, log,
      });
    }
    if (!SKIP.has('routed-offload')) {
      // The flowtable needs nf_flow_table; on a kernel without it bench/routed-offload.ts runs in the VM.
      log('routed with the flowtable against plain routing (bench/routed-offload.ts)');
      const r = spawnSync(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'routed-offload.js'), '--seconds', '3', '--rounds', QUICK ? '2' : '5'], { encoding: 'utf8', timeout: 1_800_000 });
      result.routedOffload = r.status === 0 ? { table: r.stdout.split('\n').filter((l: string) => l.startsWith('|')).join('\n') } : { skipped: `exit ${r.status ?? r.signal}: ${r.stderr.split('\n').slice(-3).join(' ')}` };
    }
  } catch (err) {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
    result.error = String(err);
  } finally {
    log('teardown');
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        console.error(`teardown ${what}: ${e}`);
      }
    };
    for (const p of probes) await step('probe', () => p.release());
    await step('anchor endpoints', () => filler?.release());
    await step('warm networks', () => warm?.release());
    await step('anchors', () => stopAnchors(anchors));
    const tStop = performance.now();
    await step('daemon', () => d.stop());
    result.teardownMs = Math.round(performance.now() - tStop);
  }
  if (process.env.SWY_BENCH_DOCKER_SWARM === '1') {
    if (!dockerSwarmInstalled()) {
      console.error(`SWY_BENCH_DOCKER_SWARM=1: docker.io or iperf3 not installed, skipped. Install them with:\n  ${SWARM_INSTALL_HINT}`);
      result.dockerSwarm = { skipped: 'docker.io or iperf3 not installed' };
    } else {
      log('multi-host anchor: Docker swarm overlay (3 dockerd in 3 host namespaces)');
      result.dockerSwarm = await dockerSwarmBench(QUICK ? SWARM_QUICK : SWARM_DEFAULTS);
      if (result.dockerSwarm.error) process.exitCode = 1;
    }
  }
  result.clientRetries = retryCount.n;
  result.load = { before: load0, after: os.loadavg() };
  result.leftovers = diffSnapshots(before, mainNamespaceSnapshot());
  fs.mkdirSync(values.out!, { recursive: true });
  const base = path.join(values.out!, `bench-${started.toISOString().replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
  const md = renderMarkdown(result) + (result.macvlan ? `\n\n### macvlan against the bridge\n\n${renderMacvlanBench(result.macvlan, result.command)}\n` : '') + (result.dockerSwarm?.started ? `\n## Multi-host anchors\n\n${renderSwarmMarkdown(result.dockerSwarm)}` : '') + (result.cluster ? `\n\n${renderCluster(result.cluster)}\n` : '') + (result.overlay ? `\n\n${overlayMarkdown(result.overlay)}\n` : '') + (result.routed ? `\n\n${routedMarkdown(result.routed)}\n` : '') + (result.routedOffload?.table ? `\n\n### Routed with the flowtable (bench/routed-offload.ts; in the VM on a kernel without nf_flow_table)\n\n${result.routedOffload.table}\n` : '');
  fs.writeFileSync(`${base}.md`, md);
  console.log(md);
  console.log(`\nResults written to ${base}.json and ${base}.md`);
  if (result.leftovers.length) console.error(`WARNING: main namespace changed during the run: ${result.leftovers.join('; ')}`);
}

await main();
