/**
 * Old against new: the same measurements on two builds of Switchyard, interleaved in one run
 * on one machine, so that load from anything else falls on both alike. `bench/compare.sh
 * BASE_REF` builds the base in a temporary directory and runs this; docs/BENCHMARKS.md,
 * "Comparing two commits".
 *
 *   node dist/bench/compare.js --base DIR --head DIR [--label-base REF] [--label-head REF]
 *        [--sandboxes 10] [--cycles 100] [--settle-ms 0] [--networks 20] [--dns-rounds 6] [--dns-seconds 3]
 *        [--orders 2] [--json FILE]
 *
 * Each DIR is a built checkout. Its daemon is started by that checkout's own test harness
 * (DIR/dist/test/helpers/daemon.js: its own host namespace, private roots and socket, its own
 * teardown), so each build runs the way its own end-to-end tests run it. Both daemons are
 * then driven the same way, over the Docker-compatible HTTP API on their sockets, by the
 * small client below (not src/api/client.ts, whose shape may differ between the builds).
 *
 * Measured, A/B interleaved (the side that goes first alternates):
 *  - network create and remove (all creates, then all removes, as bench/attach.ts does);
 *  - attach / detach of a running sandbox with one published port, with `--sandboxes`
 *    sandboxes already running (as bench/profile-attach.ts --plain);
 *  - embedded DNS queries/s: dnsperf from inside a sandbox at 127.0.0.11, names that exist;
 *  - daemon RSS with `--sandboxes` sandboxes running.
 */
import { request, Agent } from 'node:http';
import * as fs from 'node:fs';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { assertNoLeaks } from '../test/helpers/netns.js';
import { runIn, rssMb } from './host-tools.js';
import { percentile, round } from './stats.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string' },
    'label-base': { type: 'string', default: 'base' },
    'label-head': { type: 'string', default: 'head' },
    sandboxes: { type: 'string', default: '10' },
    cycles: { type: 'string', default: '100' },
    'settle-ms': { type: 'string', default: '0' },
    networks: { type: 'string', default: '20' },
    'dns-rounds': { type: 'string', default: '6' },
    'dns-seconds': { type: 'string', default: '3' },
    orders: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
if (!values.base || !values.head) {
  console.error('usage: node dist/bench/compare.js --base DIR --head DIR [options] (see the header of bench/compare.ts)');
  process.exit(2);
}
const N = Number(values.sandboxes);
const CYCLES = Number(values.cycles);
const NETWORKS = Number(values.networks);
const DNS_ROUNDS = Number(values['dns-rounds']);
const DNS_SECONDS = Number(values['dns-seconds']);
/** Passes, each with fresh daemons; the build whose daemon starts first alternates between them. */
const ORDERS = Number(values.orders);
/** Untimed pause after each detach (bench/run.ts --settle-ms): keeps one build's asynchronous teardown out of the other's attach. */
const SETTLE_MS = Number(values['settle-ms']);

/** What this script needs from a checkout's test/helpers/daemon.ts. */
interface Daemon {
  host: { name: string; path: string };
  socket: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}
type StartDaemon = (opts?: { tag?: string }) => Promise<Daemon>;

/** A minimal client of the daemon's HTTP API (Docker's network routes, the sandbox routes). */
class Api {
  private readonly agent = new Agent({ keepAlive: true });
  constructor(private readonly socket: string) {}

  call(method: string, url: string, body?: unknown, retried = false): Promise<unknown> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socket, method, path: url, agent: this.agent, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 500) >= 300) return reject(new Error(`${method} ${url} → ${res.statusCode}: ${text}`));
            resolve(text ? JSON.parse(text) : undefined);
          });
        },
      );
      // An idle keep-alive connection closed by the server as we write: send once more.
      req.on('error', (err: NodeJS.ErrnoException) =>
        !retried && (err.code === 'ECONNRESET' || err.code === 'EPIPE') ? resolve(this.call(method, url, body, true)) : reject(err),
      );
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface Side {
  label: string;
  daemon: Daemon;
  api: Api;
  samples: Record<string, number[]>;
  probe?: string;
  dnsNs?: string;
}

async function timed(side: Side, metric: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  (side.samples[metric] ??= []).push(performance.now() - t0);
}

/** Runs fn for both sides, the first side alternating with i (ABBA order over rounds). */
async function both(sides: [Side, Side], i: number, fn: (s: Side) => Promise<void>): Promise<void> {
  for (const s of i % 2 ? [sides[1], sides[0]] : sides) await fn(s);
}

async function networkCreateRemove(sides: [Side, Side], count: number): Promise<void> {
  const ids = new Map<Side, string[]>(sides.map((s) => [s, []]));
  for (let i = 0; i < count; i++) {
    await both(sides, i, (s) =>
      timed(s, 'network create', async () => {
        const r = (await s.api.call('POST', '/networks/create', { Name: `cmp${i}`, IPAM: { Config: [{ Subnet: `10.150.${i}.0/24` }] } })) as { Id: string };
        ids.get(s)!.push(r.Id);
      }),
    );
  }
  for (let i = 0; i < count; i++) {
    await both(sides, i, (s) => timed(s, 'network remove', () => s.api.call('DELETE', `/networks/${ids.get(s)![i]}`)));
  }
}

/** N running sandboxes on `home`, and a probe sandbox with one published port, detached from `att`. */
async function populate(s: Side): Promise<void> {
  await s.api.call('POST', '/networks/create', { Name: 'home', IPAM: { Config: [{ Subnet: '10.161.0.0/16' }] } });
  await s.api.call('POST', '/networks/create', { Name: 'att', IPAM: { Config: [{ Subnet: '10.160.0.0/16' }] } });
  for (let i = 0; i < N; i++) {
    const { Id } = (await s.api.call('POST', '/sandboxes/create', { Name: `s${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'home' })) as { Id: string };
    await s.api.call('POST', `/sandboxes/${Id}/start`);
    if (i === 0) s.dnsNs = ((await s.api.call('GET', `/sandboxes/${Id}/json`)) as { NetworkSettings: { SandboxKey: string } }).NetworkSettings.SandboxKey;
  }
  const { Id } = (await s.api.call('POST', '/sandboxes/create', { Name: 'probe', Cmd: ['sleep', 'infinity'], NetworkMode: 'att', PortSpecs: ['29000:80'] })) as { Id: string };
  await s.api.call('POST', `/sandboxes/${Id}/start`);
  await s.api.call('POST', '/networks/att/disconnect', { Container: Id });
  s.probe = Id;
}

/** One attach and one detach per side per cycle, adjacent in time, so that each pair shares the load of its moment. */
async function attachCycles(sides: [Side, Side], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await both(sides, i, async (s) => {
      await timed(s, 'attach', () => s.api.call('POST', '/networks/att/connect', { Container: s.probe }));
      await timed(s, 'detach', () => s.api.call('POST', '/networks/att/disconnect', { Container: s.probe }));
      if (SETTLE_MS) await new Promise((r) => setTimeout(r, SETTLE_MS));
    });
  }
}

function dns(sides: [Side, Side], rounds: number): void {
  const names = `/tmp/swy-bench-compare-names.txt`;
  fs.writeFileSync(names, Array.from({ length: Math.min(N, 10) }, (_, i) => `s${i} A`).join('\n') + '\n');
  try {
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 ? [sides[1], sides[0]] : sides) {
        const out = runIn(s.dnsNs!, 'dnsperf', ['-s', '127.0.0.11', '-l', String(DNS_SECONDS), '-d', names], { timeoutMs: (DNS_SECONDS + 30) * 1000 }).stdout;
        const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
        const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0);
        (s.samples['DNS queries/s'] ??= []).push(qps);
        (s.samples['DNS queries lost'] ??= []).push(lost);
        (s.samples['DNS avg latency'] ??= []).push(Number(/Average Latency \(s\):\s+([\d.]+)/.exec(out)?.[1]) * 1000);
      }
    }
  } finally {
    fs.rmSync(names, { force: true });
  }
}

async function rss(sides: [Side, Side]): Promise<void> {
  for (let i = 0; i < 3; i++) {
    for (const s of sides) (s.samples[`RSS @${N} sandboxes`] ??= []).push(rssMb(s.daemon.proc.pid!));
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** [metric, statistic, unit, lower is better] */
const ROWS: [string, 'p50' | 'p99' | 'median' | 'sum', string, boolean][] = [
  ['network create', 'p50', 'ms', true],
  ['network remove', 'p50', 'ms', true],
  ['attach', 'p50', 'ms', true],
  ['attach', 'p99', 'ms', true],
  ['detach', 'p50', 'ms', true],
  ['detach', 'p99', 'ms', true],
  ['DNS queries/s', 'median', 'q/s', false],
  ['DNS avg latency', 'median', 'ms', true],
  ['DNS queries lost', 'sum', '', true],
  [`RSS @${N} sandboxes`, 'median', 'MB', true],
];

function stat(xs: number[] | undefined, how: string): number {
  if (!xs?.length) return NaN;
  if (how === 'sum') return xs.reduce((a, b) => a + b, 0);
  return percentile(xs, how === 'p99' ? 99 : 50);
}

/**
 * Samples i of both sides were taken next to each other (same round, alternating order), so
 * head_i / base_i compares two measurements under the same load: the median of those
 * ratios is steadier than the ratio of the two medians when the machine is busy.
 */
function pairedRatio(xs: number[] | undefined, ys: number[] | undefined): number {
  if (!xs?.length || xs.length !== ys?.length) return NaN;
  return percentile(xs.map((x, i) => ys[i]! / x).filter(Number.isFinite), 50);
}

function report(sides: [Side, Side]): string {
  const [a, b] = sides;
  const lines = [
    `| measure | ${a.label} | ${b.label} | ratio of the two | median of paired ratios |`,
    '|---|---|---|---|---|',
  ];
  for (const [metric, how, unit, lowerBetter] of ROWS) {
    const x = stat(a.samples[metric], how);
    const y = stat(b.samples[metric], how);
    const n = a.samples[metric]?.length ?? 0;
    const ratio = x > 0 ? `${(y / x).toFixed(2)}×` : '–';
    const paired = how === 'p50' || how === 'median' ? pairedRatio(a.samples[metric], b.samples[metric]) : NaN;
    const name = `${metric} ${how === 'median' ? `median of ${n}` : how === 'sum' ? 'total' : `${how} of ${n}`}${unit ? ` (${unit})` : ''}${lowerBetter ? '' : ', higher is better'}`;
    lines.push(`| ${name} | ${round(x, 3)} | ${round(y, 3)} | ${ratio} | ${Number.isFinite(paired) ? `${paired.toFixed(2)}×` : '–'} |`);
  }
  return lines.join('\n');
}

async function startFrom(dir: string, tag: string): Promise<Daemon> {
  const harness = path.resolve(dir, 'dist/test/helpers/daemon.js');
  if (!fs.existsSync(harness)) throw new Error(`${harness} is missing: build ${dir} first (npm run build)`);
  const { startDaemon } = (await import(pathToFileURL(harness).href)) as { startDaemon: StartDaemon };
  return startDaemon({ tag });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const load0 = loadavg().map((l) => l.toFixed(1)).join(' ');
  const log = (m: string) => console.error(`[compare ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);
  const builds = [
    { dir: values.base!, label: values['label-base']!, tag: 'cmpa', samples: {} as Record<string, number[]> },
    { dir: values.head!, label: values['label-head']!, tag: 'cmpb', samples: {} as Record<string, number[]> },
  ];
  const per = (total: number) => Math.max(1, Math.ceil(total / ORDERS));
  let failed = false;
  for (let pass = 0; pass < ORDERS && !failed; pass++) {
    // The daemon started second had the higher DNS q/s in each of seven single-pass runs on a
    // loaded machine, whichever build it was: each pass swaps the start order to cancel that.
    const order = pass % 2 ? [builds[1]!, builds[0]!] : builds;
    const started: Side[] = [];
    const hosts: string[] = [];
    try {
      for (const b of order) {
        const daemon = await startFrom(b.dir, b.tag);
        hosts.push(daemon.host.name);
        started.push({ label: b.label, daemon, api: new Api(daemon.socket), samples: b.samples });
        log(`pass ${pass + 1}: ${b.label}: daemon from ${b.dir} in ${daemon.host.name}`);
      }
      const sides = (pass % 2 ? [started[1], started[0]] : started) as [Side, Side];
      await networkCreateRemove(sides, per(NETWORKS));
      for (const s of sides) await populate(s);
      await attachCycles(sides, per(CYCLES));
      await rss(sides);
      dns(sides, per(DNS_ROUNDS));
      log(`pass ${pass + 1} measured`);
    } catch (err) {
      failed = true;
      console.error(`compare failed: ${err instanceof Error ? err.stack : String(err)}`);
    } finally {
      for (const s of started) {
        s.api.close();
        await s.daemon.stop().catch((err) => console.error(`stopping ${s.label}: ${String(err)}`));
      }
      try {
        assertNoLeaks(hosts);
      } catch (err) {
        console.error(`warning: ${String(err)}`);
        failed = true;
      }
    }
  }
  if (failed) {
    process.exitCode = 1;
    return;
  }
  const sides = builds.map((b) => ({ label: b.label, samples: b.samples })) as unknown as [Side, Side];
  const load = `load average ${load0} at the start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end`;
  const what = `${N} sandboxes, ${per(CYCLES) * ORDERS} attach cycles, ${per(NETWORKS) * ORDERS} networks, ${per(DNS_ROUNDS) * ORDERS}×${DNS_SECONDS} s of dnsperf, in ${ORDERS} pass(es) with the start order swapped`;
  console.log(`\n${report(sides)}\n\n(${what}; ${((Date.now() - t0) / 1000).toFixed(0)} s; ${load})`);
  if (values.json) {
    fs.writeFileSync(values.json, JSON.stringify({ options: { N, CYCLES, NETWORKS, DNS_ROUNDS, DNS_SECONDS, ORDERS }, load, builds: builds.map((b) => ({ label: b.label, dir: b.dir, samples: b.samples })) }, null, 2));
  }
}

await main();
