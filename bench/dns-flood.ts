/**
 * The embedded DNS under a hostile sandbox: a victim sandbox's query latency (a local name and
 * a forwarded one) and the API's latency, without and with a flood from an attacker sandbox on
 * the same network (DNS over TCP: many connections pipelining queries and never reading;
 * DNS over UDP: as fast as it can send, half local names, half names whose upstream never
 * answers). A real daemon in a throwaway host namespace (test/helpers/daemon.ts); the
 * upstream is this script's own, on the network's gateway in that namespace, so no query
 * leaves the namespaces made here.
 *
 *   npm run build && node dist/bench/dns-flood.js [--seconds 10]
 *
 * Prints a table (docs/RELIABILITY.md "Hostile DNS load") and the raw figures as JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { REPO, startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { waitFor } from '../test/helpers/netns.js';
import { percentile, round } from './stats.js';
import { rssMb } from './host-tools.js';

const GATEWAY = '10.181.0.1';

/** Upstream: ext.example → 198.51.100.7 at once; silent.* never answered. */
const UPSTREAM = String.raw`
const dgram = require('node:dgram'), pkt = require('dns-packet');
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, r) => {
  let q; try { q = pkt.decode(msg); } catch { return; }
  const name = q.questions[0].name.toLowerCase();
  if (name.startsWith('silent')) return;
  const answers = name === 'ext.example' ? [{ name, type: 'A', ttl: 60, data: '198.51.100.7' }] : [];
  udp.send(pkt.encode({ type: 'response', id: q.id, flags: pkt.RECURSION_AVAILABLE | (answers.length ? 0 : 3), questions: q.questions, answers }), r.port, r.address);
});
udp.bind(53, process.argv[1], () => process.stdout.write('ready\n'));
`;

/** Victim: one UDP query every intervalMs, alternating a local name and a forwarded one; latencies as JSON at the end. */
const PROBE = String.raw`
const dgram = require('node:dgram'), pkt = require('dns-packet');
const [durationMs, intervalMs, local] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const sock = dgram.createSocket('udp4');
const pending = new Map();
const out = { local: [], fwd: [], lostLocal: 0, lostFwd: 0, badLocal: 0, badFwd: 0 };
let id = 0;
sock.on('message', (msg) => {
  const id = msg.readUInt16BE(0), p = pending.get(id);
  if (!p) return;
  pending.delete(id); clearTimeout(p.timer);
  const ms = Number(process.hrtime.bigint() - p.t0) / 1e6;
  const rcode = msg[3] & 15;
  if (rcode !== 0) { p.kind === 'local' ? out.badLocal++ : out.badFwd++; return; }
  out[p.kind].push(ms);
});
const tick = setInterval(() => {
  id = (id + 1) & 0xffff;
  const kind = id % 2 ? 'local' : 'fwd';
  const name = kind === 'local' ? local : 'ext.example';
  const t0 = process.hrtime.bigint();
  const timer = setTimeout(() => { pending.delete(id); kind === 'local' ? out.lostLocal++ : out.lostFwd++; }, 2000);
  pending.set(id, { t0, kind, timer });
  sock.send(pkt.encode({ type: 'query', id, flags: pkt.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, '127.0.0.11');
}, intervalMs);
setTimeout(() => { clearInterval(tick); setTimeout(() => { process.stdout.write(JSON.stringify(out)); process.exit(0); }, 2100); }, durationMs);
`;

/** Attacker: tcp and/or udp flood for durationMs; counts as JSON at the end. */
const FLOOD = String.raw`
const dgram = require('node:dgram'), net = require('node:net'), pkt = require('dns-packet');
const [mode, durationMs, local] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const stats = { tcpConnects: 0, tcpClosed: 0, tcpBytes: 0, udpSent: 0 };
let stop = false;
const q = (name, id) => pkt.encode({ type: 'query', id, flags: pkt.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
if (mode === 'tcp' || mode === 'both') {
  const one = q(local, 1), framed = Buffer.alloc(one.length + 2); framed.writeUInt16BE(one.length); one.copy(framed, 2);
  const burst = Buffer.concat(Array.from({ length: 4000 }, () => framed));
  const open = () => {
    if (stop) return;
    const c = net.connect(53, '127.0.0.11');
    c.pause();
    c.on('connect', () => { stats.tcpConnects++; const pump = () => { while (!stop && c.write(burst)) stats.tcpBytes += burst.length; }; c.on('drain', pump); pump(); });
    c.on('error', () => {});
    c.on('close', () => { stats.tcpClosed++; setTimeout(open, 5); });
  };
  for (let i = 0; i < 64; i++) open();
}
if (mode === 'udp' || mode === 'both') {
  const socks = Array.from({ length: 4 }, () => dgram.createSocket('udp4'));
  for (const s of socks) s.on('error', () => {});
  const locals = q(local, 2);
  let n = 0;
  const blast = () => {
    if (stop) return;
    for (let i = 0; i < 200; i++) {
      const s = socks[n % socks.length];
      s.send(n % 2 ? locals : q('silent-' + n + '.example', n & 0xffff), 53, '127.0.0.11');
      n++;
    }
    stats.udpSent = n;
    setImmediate(blast);
  };
  blast();
}
setTimeout(() => { stop = true; process.stdout.write(JSON.stringify(stats)); process.exit(0); }, durationMs);
`;

function nodeIn(nsPath: string, script: string, args: string[]): { proc: ChildProcess; done: Promise<string> } {
  const proc = spawn('nsenter', [`--net=${nsPath}`, '--', process.execPath, '-e', script, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<string>((resolve, reject) => proc.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`)))));
  return { proc, done };
}

interface PhaseResult {
  phase: string;
  local: { p50: number; p99: number; n: number; lost: number; bad: number };
  fwd: { p50: number; p99: number; n: number; lost: number; bad: number };
  api: { p50: number; p99: number; n: number; failed: number };
  daemonRssMb: number;
  daemonFds: number;
  daemonCpuPct: number;
  attacker?: Record<string, number>;
}

const cpuTicks = (pid: number): number => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};

async function phase(d: TestDaemon, name: string, mode: 'none' | 'tcp' | 'udp' | 'both', ns: { victim: string; attacker: string }, seconds: number): Promise<PhaseResult> {
  const pid = d.proc.pid!;
  const ms = seconds * 1000;
  const flood = mode === 'none' ? null : nodeIn(ns.attacker, FLOOD, [mode, String(ms + 1500), 'attacker']);
  flood?.done.catch(() => {}); // awaited below; this only keeps an early failure from ending the run before cleanup
  if (flood) await new Promise((r) => setTimeout(r, 1000)); // let the flood build up
  const cpu0 = cpuTicks(pid);
  const t0 = Date.now();
  const probe = nodeIn(ns.victim, PROBE, [String(ms), '20', 'attacker']);
  probe.done.catch(() => {});
  const api: number[] = [];
  let apiFailed = 0;
  let peakRss = 0;
  let peakFds = 0;
  while (Date.now() - t0 < ms) {
    const a0 = performance.now();
    try {
      await d.client.ping();
      await d.client.listNetworks();
      api.push(performance.now() - a0);
    } catch {
      apiFailed++;
    }
    peakRss = Math.max(peakRss, rssMb(pid));
    peakFds = Math.max(peakFds, fs.readdirSync(`/proc/${pid}/fd`).length);
    await new Promise((r) => setTimeout(r, 50));
  }
  const cpuPct = ((cpuTicks(pid) - cpu0) / 100 / ((Date.now() - t0) / 1000)) * 100;
  const v = JSON.parse(await probe.done) as { local: number[]; fwd: number[]; lostLocal: number; lostFwd: number; badLocal: number; badFwd: number };
  const attacker = flood ? (JSON.parse(await flood.done) as Record<string, number>) : undefined;
  const sum = (xs: number[]) => ({ p50: round(percentile(xs, 50), 2), p99: round(percentile(xs, 99), 2), n: xs.length });
  return {
    phase: name,
    local: { ...sum(v.local), lost: v.lostLocal, bad: v.badLocal },
    fwd: { ...sum(v.fwd), lost: v.lostFwd, bad: v.badFwd },
    api: { ...sum(api), failed: apiFailed },
    daemonRssMb: peakRss,
    daemonFds: peakFds,
    daemonCpuPct: round(cpuPct, 0),
    ...(attacker ? { attacker } : {}),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' } } });
  const seconds = Number(values.seconds);
  const d = await startDaemon({ tag: 'flood' });
  let upstream: { proc: ChildProcess } | null = null;
  try {
    d.cli(['network', 'create', '--subnet', '10.181.0.0/24', '--gateway', GATEWAY, 'floodnet']);
    const up = nodeIn(d.host.path, UPSTREAM, [GATEWAY]);
    up.done.catch(() => {}); // ends by SIGTERM below
    upstream = up;
    let upOut = '';
    up.proc.stdout!.on('data', (c: Buffer) => (upOut += c.toString()));
    await waitFor(() => upOut.includes('ready'), 'upstream listening');
    for (const n of ['attacker', 'victim']) d.cli(['run', '-d', '--name', n, '--network', 'floodnet', '--dns', GATEWAY, '--', 'sleep', 'infinity']);
    const nsOf = (n: string): string => JSON.parse(d.cli(['inspect', n]).stdout)[0].NetworkSettings.SandboxKey;
    const ns = { victim: nsOf('victim'), attacker: nsOf('attacker') };
    const results: PhaseResult[] = [];
    for (const [name, mode] of [['no flood', 'none'], ['TCP flood', 'tcp'], ['UDP flood', 'udp'], ['TCP + UDP flood', 'both'], ['no flood (after)', 'none']] as const) {
      results.push(await phase(d, name, mode, ns, seconds));
      process.stderr.write(`${name}: done\n`);
    }
    const cell = (x: { p50: number; p99: number; lost: number; bad: number }) => `${x.p50} / ${x.p99}${x.lost || x.bad ? ` (${x.lost} lost, ${x.bad} refused/failed)` : ''}`;
    console.log('| phase | victim local name p50 / p99 ms | victim forwarded name p50 / p99 ms | API ping+list p50 / p99 ms | daemon CPU % | daemon peak RSS MB | daemon peak fds |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(`| ${r.phase} | ${cell(r.local)} | ${cell(r.fwd)} | ${r.api.p50} / ${r.api.p99}${r.api.failed ? ` (${r.api.failed} failed)` : ''} | ${r.daemonCpuPct} | ${r.daemonRssMb} | ${r.daemonFds} |`);
    }
    console.log(JSON.stringify(results, null, 1));
  } finally {
    upstream?.proc.kill('SIGTERM');
    await d.stop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
