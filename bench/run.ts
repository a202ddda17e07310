/**
 * `npm run bench`: Switchyard's own figures, measured through the daemon's API over its
 * unix socket, in a throwaway host namespace (the machine's networking is untouched).
 *
 *   npm run bench -- [--sandboxes 1000] [--iterations 200] [--out bench/results]
 *
 * Writes a JSON file per run and prints a Markdown table for docs/BENCHMARKS.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { summarize, time, type Summary } from './stats.js';

const { values } = parseArgs({
  options: {
    sandboxes: { type: 'string', default: '1000' },
    iterations: { type: 'string', default: '200' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const LARGE = Number(values.sandboxes);
const ITER = Number(values.iterations);
const PER_NETWORK = 250;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  return Math.round((kb / 1024) * 10) / 10;
}

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

async function networkCycle(d: TestDaemon): Promise<{ create: Summary; remove: Summary }> {
  const c: number[] = [];
  const r: number[] = [];
  // Creates in a row, then removes in a row: back-to-back create/remove pairs would measure
  // the kernel still reclaiming the previous bridge (it holds the RTNL lock for part of it).
  const ids: string[] = [];
  const n = Math.min(ITER, 100);
  for (let i = 0; i < n; i++) {
    const [tc, res] = await time(() => d.client.createNetwork({ Name: `bnet${i}`, IPAM: { Config: [{ Subnet: `10.150.${i}.0/24` }] } }));
    c.push(tc);
    ids.push(res.Id);
  }
  for (const id of ids) {
    const [tr] = await time(() => d.client.removeNetwork(id));
    r.push(tr);
  }
  return { create: summarize(c), remove: summarize(r) };
}

async function main(): Promise<void> {
  const started = new Date();
  const load0 = os.loadavg();
  const d = await startDaemon({ tag: 'bench' });
  const result: Record<string, unknown> = { started: started.toISOString(), machine: { cpus: os.cpus().length, kernel: os.release(), node: process.version } };
  try {
    const netCount = Math.max(1, Math.ceil(LARGE / PER_NETWORK));
    const nets: string[] = [];
    for (let i = 0; i < netCount; i++) {
      nets.push(`home${i}`);
      await d.client.createNetwork({ Name: `home${i}` });
    }
    await d.client.createNetwork({ Name: 'target' });

    const net0 = await networkCycle(d);
    result.networkCreate = net0.create;
    result.networkRemove = net0.remove;

    const small = await runSandboxes(d, 10, nets, 's');
    result.rss10 = rssMb(d.proc.pid!);
    result.at10 = await connectCycle(d, small, 'target');

    const [tRun, large] = await time(() => runSandboxes(d, LARGE - 10, nets, 'l'));
    result.runRateMs = Math.round((tRun / Math.max(1, LARGE - 10)) * 1000) / 1000;
    result.rssLarge = rssMb(d.proc.pid!);
    result.atLarge = await connectCycle(d, [...small, ...large], 'target');
    result.sandboxes = LARGE;

    const [tRestart] = await time(() => d.restart());
    result.restartWithReconcileMs = Math.round(tRestart);
    result.rssAfterRestart = rssMb(d.proc.pid!);
  } finally {
    const tStop = performance.now();
    await d.stop();
    result.teardownMs = Math.round(performance.now() - tStop);
  }
  result.load = { before: load0, after: os.loadavg() };
  fs.mkdirSync(values.out!, { recursive: true });
  const file = path.join(values.out!, `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  printTable(result, file);
}

function printTable(r: Record<string, any>, file: string): void {
  const row = (what: string, s: Summary) => `| ${what} | ${s.p50} | ${s.p99} | ${s.n} |`;
  console.log(`\nResults written to ${file}\n`);
  console.log('| Operation (through the API) | p50 ms | p99 ms | n |');
  console.log('|---|---|---|---|');
  console.log(row('network create', r.networkCreate));
  console.log(row('network remove', r.networkRemove));
  console.log(row('connect, 10 sandboxes on the host', r.at10.connect));
  console.log(row('disconnect, 10 sandboxes', r.at10.disconnect));
  console.log(row(`connect, ${r.sandboxes} sandboxes on the host`, r.atLarge.connect));
  console.log(row(`disconnect, ${r.sandboxes} sandboxes`, r.atLarge.disconnect));
  console.log(`\np50 connect ratio ${r.sandboxes}/10: ${(r.atLarge.connect.p50 / r.at10.connect.p50).toFixed(2)}`);
  console.log(`daemon RSS: ${r.rss10} MB at 10 sandboxes, ${r.rssLarge} MB at ${r.sandboxes}, ${r.rssAfterRestart} MB after a restart`);
  console.log(`run (create+start) per sandbox: ${r.runRateMs} ms; restart with reconcile at ${r.sandboxes}: ${r.restartWithReconcileMs} ms`);
  console.log(`load average before ${r.load.before.map((x: number) => x.toFixed(2)).join(' ')}, after ${r.load.after.map((x: number) => x.toFixed(2)).join(' ')}`);
}

await main();
