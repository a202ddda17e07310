/**
 * macvlan (or ipvlan) against the bridge, in one run, rounds interleaved:
 *   - attach/detach p50 of a running sandbox to a target network (connect/disconnect through
 *     the API), bridge target vs macvlan target, each already holding one other endpoint;
 *     with `--vs docker` the same against a private dockerd (bench/anchors/docker.ts);
 *   - throughput (iperf3, one TCP stream) sandbox ↔ sandbox and sandbox → a host on the LAN,
 *     macvlan vs veth+bridge (the bridge driver; to the LAN through the host's NAT), in many
 *     short paired rounds: each round measures both paths back to back (the order alternating
 *     between rounds), and the figure is the median of the per-round ratios macvlan/bridge, so
 *     a load that changes between rounds hits both sides of a pair alike.
 * The "LAN" is a namespace joined to the daemon's host namespace by a veth (the parent).
 *
 *   node dist/bench/macvlan.js [--driver macvlan|ipvlan] [--rounds 30] [--seconds 3] [--tp-rounds 3]
 *                              [--vs docker] [--skip throughput] [--out bench/results]
 *
 * ipvlan needs a kernel with it: run under the VM lane's kernel-vm.sh (docs/BENCHMARKS.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';
import { DockerAnchor, dockerInstalled } from './anchors/docker.js';
import { Rounds, medianOf, quantile, summarize, type Summary } from './stats.js';

export interface MacvlanBenchOptions {
  d: TestDaemon;
  /** A running Docker anchor to measure the same against (its macvlan on a veth parent). */
  docker?: DockerAnchor;
  driver: 'macvlan' | 'ipvlan';
  rounds: number;
  seconds: number;
  tpRounds: number;
  settleMs: number;
  throughput: boolean;
}

export interface MacvlanBenchResult {
  driver: string;
  rounds: number;
  attach: Record<string, Summary>;
  throughputGbps?: Record<string, number[]>;
  /** Per path, the paired ratios (macvlan / bridge) of each round. */
  throughputRatios?: Record<string, number[]>;
  /** Per path, per round: CPU seconds per GB on the bridge / the same on macvlan (> 1: macvlan costs less). */
  cpuCostRatios?: Record<string, number[]>;
}

const cli = () => parseArgs({
  options: {
    driver: { type: 'string', default: 'macvlan' },
    rounds: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '3' },
    'tp-rounds': { type: 'string', default: '3' },
    'settle-ms': { type: 'string', default: '250' },
    vs: { type: 'string', default: '' },
    skip: { type: 'string', default: '' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const log = (msg: string) => console.error(`[bench-macvlan ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(args: string[]): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A veth `sylan0` in hostNs whose peer is the LAN namespace's eth0 (10.250.0.1/24); the host gets 10.250.0.254. */
function lanOf(hostNs: string, tag: string): TestNs {
  const lan = makeNs(tag);
  const onHost = (...a: string[]) => sh(['nsenter', `--net=${hostNs}`, '--', 'ip', ...a]);
  onHost('link', 'add', 'sylan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan.name);
  onHost('addr', 'add', '10.250.0.254/24', 'dev', 'sylan0');
  onHost('link', 'set', 'sylan0', 'up');
  sh(['ip', '-n', lan.name, 'addr', 'add', '10.250.0.1/24', 'dev', 'eth0']);
  sh(['ip', '-n', lan.name, 'link', 'set', 'eth0', 'up']);
  return lan;
}

interface IperfRun {
  gbps: number;
  /** CPU seconds (client + server processes, user + system, as iperf3 reports them) per GB moved. */
  cpuPerGB: number;
}

async function iperf(serverNs: string, clientNs: string, addr: string, seconds: number): Promise<IperfRun> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => sh(['nsenter', `--net=${serverNs}`, '--', 'ss', '-ltn']).includes(':5201'), 'iperf3 server');
    const out = sh(['nsenter', `--net=${clientNs}`, '--', 'iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-J']);
    const end = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number; seconds: number }; cpu_utilization_percent: { host_total: number; remote_total: number } } }).end;
    const cpu = ((end.cpu_utilization_percent.host_total + end.cpu_utilization_percent.remote_total) / 100) * end.sum_received.seconds;
    return { gbps: end.sum_received.bits_per_second / 1e9, cpuPerGB: cpu / (end.sum_received.bytes / 1e9) };
  } finally {
    server.kill();
  }
}

interface Lane { label: string; attach(): Promise<unknown>; detach(): Promise<unknown> }

async function switchyardLanes(d: TestDaemon, DRIVER: string): Promise<Lane[]> {
  const c = d.client;
  await c.createNetwork({ Name: 'home', IPAM: { Config: [{ Subnet: '10.252.0.0/24' }] } });
  await c.createNetwork({ Name: 'tbr', IPAM: { Config: [{ Subnet: '10.251.0.0/24' }] } });
  await c.createNetwork({ Name: 'tmv', Driver: DRIVER, Options: { parent: 'sylan0' }, IPAM: { Config: [{ Subnet: '10.250.0.0/24', Gateway: '10.250.0.1', AuxiliaryAddresses: { host: '10.250.0.254' } }] } });
  for (const [name, net] of [['kbr', 'tbr'], ['kmv', 'tmv'], ['probe', 'home']] as const) {
    const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net });
    await c.startSandbox(Id);
  }
  return (['tbr', 'tmv'] as const).map((net) => ({
    label: `switchyard ${net === 'tbr' ? 'bridge' : DRIVER}`,
    attach: () => c.connectNetwork(net, 'probe'),
    detach: () => c.disconnectNetwork(net, 'probe'),
  }));
}

const extraNs: TestNs[] = [];

async function dockerLanes(dk: DockerAnchor, DRIVER: string): Promise<Lane[]> {
  extraNs.push(lanOf(dk.host.path, 'dkl'));
  await dk.createNetwork('home', '10.252.0.0/24');
  await dk.createNetwork('tbr', '10.251.0.0/24');
  await dk.api('POST', '/networks/create', { Name: 'tmv', Driver: DRIVER, CheckDuplicate: true, Options: { parent: 'sylan0' }, IPAM: { Config: [{ Subnet: '10.250.0.0/24', Gateway: '10.250.0.1', AuxiliaryAddresses: { host: '10.250.0.254' } }] } });
  await dk.runContainer('kbr', 'tbr');
  await dk.runContainer('kmv', 'tmv');
  const probe = await dk.runContainer('probe', 'home');
  return (['tbr', 'tmv'] as const).map((net) => ({
    label: `docker ${net === 'tbr' ? 'bridge' : DRIVER}`,
    attach: () => dk.connect(net, probe),
    detach: () => dk.disconnect(net, probe),
  }));
}

async function throughput(d: TestDaemon, lan: TestNs, DRIVER: string, seconds: number, rounds: number): Promise<{ gbps: Record<string, number[]>; ratios: Record<string, number[]>; cpuRatios: Record<string, number[]> }> {
  const inspect = (n: string) => JSON.parse(d.cli(['inspect', n]).stdout)[0].NetworkSettings;
  for (const [name, net] of [['ta', 'tbr'], ['tb', 'tbr'], ['ma', 'tmv'], ['mb', 'tmv']]) d.cli(['run', '-d', '--name', name!, '--network', net!, '--', 'sleep', 'infinity']);
  const [ta, tb, ma, mb] = ['ta', 'tb', 'ma', 'mb'].map(inspect);
  const gbps: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  const cpuRatios: Record<string, number[]> = {};
  const add = (rows: Record<string, number[]>, k: string, v: number) => (rows[k] ??= []).push(Math.round(v * 1000) / 1000);
  const pairs = [
    { path: 'sandbox ↔ sandbox', bridge: 'veth+bridge', run: (mv: boolean) => (mv ? iperf(ma.SandboxKey, mb.SandboxKey, ma.Networks.tmv.IPAddress, seconds) : iperf(ta.SandboxKey, tb.SandboxKey, ta.Networks.tbr.IPAddress, seconds)) },
    { path: 'sandbox → LAN host', bridge: 'veth+bridge (NAT via the host)', run: (mv: boolean) => iperf(lan.path, (mv ? ma : ta).SandboxKey, '10.250.0.1', seconds) },
  ];
  for (let r = 0; r < rounds; r++) {
    for (const p of pairs) {
      // Back to back, the order alternating between rounds: a load change hits both sides of a pair.
      const order = r % 2 ? [true, false] : [false, true];
      const got: Record<string, IperfRun> = {};
      for (const mv of order) got[String(mv)] = await p.run(mv);
      const [br, mv] = [got['false']!, got['true']!];
      add(gbps, `${p.path}: ${p.bridge}`, br.gbps);
      add(gbps, `${p.path}: ${DRIVER}`, mv.gbps);
      add(ratios, p.path, mv.gbps / br.gbps);
      add(cpuRatios, p.path, br.cpuPerGB / mv.cpuPerGB);
    }
  }
  return { gbps, ratios, cpuRatios };
}

/** Attach/detach rounds (and throughput) on a running daemon; leaves its networks and sandboxes removed. */
export async function macvlanBench(o: MacvlanBenchOptions): Promise<MacvlanBenchResult> {
  const { d } = o;
  const lan = lanOf(d.host.path, 'bml');
  const result: MacvlanBenchResult = { driver: o.driver, rounds: o.rounds, attach: {} };
  try {
    const lanes = await switchyardLanes(d, o.driver);
    if (o.docker) lanes.push(...(await dockerLanes(o.docker, o.driver)));
    log(`attach/detach: ${o.rounds} rounds over ${lanes.map((l) => l.label).join(', ')}`);
    const r = new Rounds();
    for (let i = 0; i < o.rounds; i++) {
      for (const lane of lanes) {
        await r.timed(`${lane.label} attach`, lane.attach);
        await r.timed(`${lane.label} detach`, lane.detach);
        await settle(o.settleMs);
      }
    }
    result.attach = r.summaries();
    if (o.throughput) {
      log('throughput (iperf3)');
      const tp = await throughput(d, lan, o.driver, o.seconds, o.tpRounds);
      result.throughputGbps = tp.gbps;
      result.throughputRatios = tp.ratios;
      result.cpuCostRatios = tp.cpuRatios;
    }
  } finally {
    d.cli(['rm', '-f', 'kbr', 'kmv', 'probe', 'ta', 'tb', 'ma', 'mb'], { allowFail: true });
    d.cli(['network', 'rm', 'home', 'tbr', 'tmv'], { allowFail: true });
    if (o.docker) {
      for (const c of ['kbr', 'kmv', 'probe']) await o.docker.api('DELETE', `/containers/${c}?force=1`).catch(() => {});
      for (const n of ['home', 'tbr', 'tmv']) await o.docker.removeNetwork(n).catch(() => {});
    }
    for (const ns of [lan, ...extraNs.splice(0)]) removeNs(ns);
  }
  return result;
}

async function main(): Promise<void> {
  const { values } = cli();
  const started = new Date();
  const head: Record<string, unknown> = {
    started: started.toISOString(),
    command: `node dist/bench/macvlan.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: os.cpus().length, kernel: os.release(), node: process.version, inVm: process.env.SWY_KVM_GUEST === '1' },
  };
  const load0 = os.loadavg();
  const d = await startDaemon({ tag: 'bmv' });
  let dk: DockerAnchor | undefined;
  let bench: MacvlanBenchResult;
  try {
    if (values.vs!.split(',').includes('docker')) {
      if (!dockerInstalled()) log('docker is not installed: skipped (bash ../shared/anchors/00-install.sh)');
      else if (fs.existsSync('/run/swy-bench-docker.pid')) log('another bench dockerd is running (/run/swy-bench-docker.pid): docker skipped');
      else {
        dk = await DockerAnchor.start();
        head.dockerVersion = dk.version;
      }
    }
    bench = await macvlanBench({
      d, ...(dk ? { docker: dk } : {}), driver: values.driver as 'macvlan' | 'ipvlan', rounds: Number(values.rounds), seconds: Number(values.seconds),
      tpRounds: Number(values['tp-rounds']), settleMs: Number(values['settle-ms']), throughput: !values.skip!.split(',').includes('throughput'),
    });
  } finally {
    if (dk) await dk.stop().catch((e) => log(`docker stop: ${e}`));
    await d.stop();
  }
  const result = { ...head, ...bench, load: { before: load0, after: os.loadavg() } };
  const md = renderMacvlanBench(bench, String(head.command));
  fs.mkdirSync(values.out!, { recursive: true });
  const base = path.join(values.out!, `${bench.driver}-${started.toISOString().replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
  fs.writeFileSync(`${base}.md`, md);
  console.log(md);
  console.log(`\nResults written to ${base}.json and ${base}.md`);
}

export function renderMacvlanBench(result: MacvlanBenchResult, command: string): string {
  const attach = result.attach;
  const lines = [`Attach / detach p50 (p99) ms, ${result.rounds} interleaved rounds, \`${command}\`:`, '', '| network | attach | detach |', '|---|---|---|'];
  const labels = [...new Set(Object.keys(attach).map((k) => k.replace(/ (attach|detach)$/, '')))];
  for (const l of labels) {
    const a = attach[`${l} attach`]!;
    const x = attach[`${l} detach`]!;
    lines.push(`| ${l} | ${a.p50} (${a.p99}) | ${x.p50} (${x.p99}) |`);
  }
  const tp = result.throughputGbps;
  if (tp) {
    lines.push('', 'Throughput, iperf3 one TCP stream, Gbit/s (median of rounds; all rounds):', '', '| path | median | rounds |', '|---|---|---|');
    for (const [k, v] of Object.entries(tp)) lines.push(`| ${k} | ${summarize(v).p50} | ${v.length > 8 ? `${v.length} rounds, ${summarize(v).min}–${summarize(v).max}` : v.join(', ')} |`);
  }
  const ratios = result.throughputRatios;
  if (ratios) {
    lines.push('', `Paired ratio ${result.driver} / veth+bridge per round (each round both paths back to back, order alternating):`, '', `| path | median ratio | p25–p75 | rounds where ${result.driver} is faster |`, '|---|---|---|---|');
    for (const [k, v] of Object.entries(ratios)) {
      lines.push(`| ${k} | ${medianOf(v).toFixed(2)}× | ${quantile(v, 0.25).toFixed(2)}–${quantile(v, 0.75).toFixed(2)} | ${v.filter((x) => x > 1).length} of ${v.length} |`);
    }
  }
  const cpu = result.cpuCostRatios;
  if (cpu) {
    lines.push('', `CPU cost per GB moved (iperf3's client + server CPU time), paired ratio veth+bridge / ${result.driver} per round (> 1: ${result.driver} costs less; less sensitive to the CPU share a loaded machine gives the run):`, '', `| path | median ratio | p25–p75 | rounds where ${result.driver} is cheaper |`, '|---|---|---|---|');
    for (const [k, v] of Object.entries(cpu)) {
      lines.push(`| ${k} | ${medianOf(v).toFixed(2)}× | ${quantile(v, 0.25).toFixed(2)}–${quantile(v, 0.75).toFixed(2)} | ${v.filter((x) => x > 1).length} of ${v.length} |`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
