/**
 * Embedded DNS throughput and latency with dnsperf, from inside a sandbox, querying only names
 * that exist (nothing is forwarded): Switchyard (127.0.0.11), aardvark-dns (started by netavark on
 * the gateway) and Docker's resolver (127.0.0.11 in a container). Rounds alternate the servers.
 *  - max: dnsperf's default 100 outstanding queries for `seconds` → queries/s, average latency
 *  - fixed: -Q 1000 -v → per-query latencies → p50 / p99
 */
import * as fs from 'node:fs';
import { makeNs, removeNs, type TestNs } from '../test/helpers/netns.js';
import { runIn } from './host-tools.js';
import { percentile, round } from './stats.js';
import type { Systems } from './systems.js';
import type { NetavarkNetwork } from './anchors/netavark.js';

const K = 10;

interface Target { system: string; nsPath: string; server: string; queryFile: string; cpuPid?: number }

export interface DnsFigures {
  qps: number[];
  avgLatencyMs: number[];
  p50Ms: number[];
  p99Ms: number[];
  lost: number[];
  serverCpuS?: number;
}

function queryFile(prefix: string): string {
  const f = `/tmp/swy-bench-dns-${prefix}.txt`;
  fs.writeFileSync(f, Array.from({ length: K }, (_, i) => `${prefix}${i + 1} A`).join('\n') + '\n');
  return f;
}

function dnsperfMax(t: Target, seconds: number): { qps: number; avg: number; lost: number } {
  const out = runIn(t.nsPath, 'dnsperf', ['-s', t.server, '-l', String(seconds), '-d', t.queryFile], { timeoutMs: (seconds + 30) * 1000 }).stdout;
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
  const avg = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(out)?.[1]) * 1000;
  const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { qps, avg, lost };
}

function dnsperfFixed(t: Target, seconds: number, rate: number): { p50: number; p99: number } {
  const out = runIn(t.nsPath, 'dnsperf', ['-s', t.server, '-l', String(seconds), '-d', t.queryFile, '-Q', String(rate), '-v'], { timeoutMs: (seconds + 30) * 1000 }).stdout;
  const lat = out.split('\n').filter((l) => l.startsWith('> ')).map((l) => Number(l.trim().split(/\s+/).pop()) * 1000);
  if (!lat.length) throw new Error(`dnsperf -v printed no per-query lines for ${t.system}`);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

const cpuSeconds = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

export async function dnsBench(s: Systems, opts: { rounds: number; seconds: number; rate: number }): Promise<Record<string, DnsFigures>> {
  const targets: Target[] = [];
  const cleanup: Array<() => Promise<void> | void> = [];
  try {
    // Switchyard: K sandboxes on one network, dnsperf from the first one's netns.
    await s.sy.client.createNetwork({ Name: 'dnsnet', IPAM: { Config: [{ Subnet: '10.180.0.0/24' }] } });
    const ids: string[] = [];
    for (let i = 1; i <= K; i++) {
      const { Id } = await s.sy.client.createSandbox({ Name: `q${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'dnsnet' });
      await s.sy.client.startSandbox(Id);
      ids.push(Id);
    }
    cleanup.push(async () => { for (const id of ids) await s.sy.client.removeSandbox(id, true); await s.sy.client.removeNetwork('dnsnet'); });
    const sb = await s.sy.client.inspectSandbox(ids[0]!);
    targets.push({ system: 'switchyard', nsPath: (sb as unknown as { NetworkSettings: { SandboxKey: string } }).NetworkSettings.SandboxKey, server: '127.0.0.11', queryFile: queryFile('q'), cpuPid: s.sy.proc.pid });

    if (s.netavark) {
      const nv = s.netavark;
      const net: NetavarkNetwork = { name: 'dnsnet', bridge: 'nvbr9', prefix: '10.181', dns: true };
      const nss: TestNs[] = [];
      for (let i = 1; i <= K; i++) { const ns = makeNs('nvd'); nv.setup(ns, net, i); nss.push(ns); }
      cleanup.push(() => { nss.forEach((ns, i) => { nv.teardown(ns, net, i + 1); removeNs(ns); }); });
      targets.push({ system: 'aardvark-dns', nsPath: nss[0]!.path, server: nv.gateway(net), queryFile: queryFile('c'), cpuPid: nv.aardvarkPid() });
    }
    if (s.docker) {
      const d = s.docker;
      await d.createNetwork('dnsnet', '10.182.0.0/24');
      const cs: string[] = [];
      for (let i = 1; i <= K; i++) cs.push(await d.runContainer(`d${i}`, 'dnsnet'));
      cleanup.push(async () => { for (const c of cs) await d.api('DELETE', `/containers/${c}?force=1`); await d.removeNetwork('dnsnet'); });
      targets.push({ system: 'docker', nsPath: (await d.netnsOf(cs[0]!)).path, server: '127.0.0.11', queryFile: queryFile('d'), cpuPid: d.proc.pid });
    }

    const fig: Record<string, DnsFigures> = Object.fromEntries(targets.map((t) => [t.system, { qps: [], avgLatencyMs: [], p50Ms: [], p99Ms: [], lost: [] }]));
    const cpu0 = Object.fromEntries(targets.map((t) => [t.system, t.cpuPid ? cpuSeconds(t.cpuPid) : NaN]));
    for (let r = 0; r < opts.rounds; r++) {
      for (const t of targets) {
        const m = dnsperfMax(t, opts.seconds);
        const f = dnsperfFixed(t, opts.seconds, opts.rate);
        const x = fig[t.system]!;
        x.qps.push(Math.round(m.qps));
        x.avgLatencyMs.push(round(m.avg));
        x.lost.push(m.lost);
        x.p50Ms.push(round(f.p50));
        x.p99Ms.push(round(f.p99));
      }
    }
    for (const t of targets) if (t.cpuPid) fig[t.system]!.serverCpuS = round(cpuSeconds(t.cpuPid) - cpu0[t.system]!, 1);
    return fig;
  } finally {
    for (const c of cleanup.reverse()) await c();
    for (const p of ['q', 'c', 'd']) fs.rmSync(`/tmp/swy-bench-dns-${p}.txt`, { force: true });
  }
}
