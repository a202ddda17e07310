/**
 * Exec wall time of a CNI plugin call, the way a runtime pays it (a fresh process per call):
 * Debian's reference bridge plugin (bridge + host-local, real kernel work) next to ours: the
 * forwarder runtimes exec (bin/cni/switchyard, C) and the Node plugin (bin/cni/switchyard-node:
 * plain, packed, from a start-up snapshot, with a few Node flags), against a stand-in daemon
 * with an in-memory backend that answers at once, so ours shows its start-up cost alone.
 * (bench/cni-vs-bridge.ts measures ours against the real daemon.)
 *
 *   npm run build && node bin/cni/build-snapshot.mjs && node dist/bench/cni-exec.js [RUNS]
 *
 * Runs as root: makes a host netns and a container netns (swy-…), runs the timing loop
 * inside the host netns (where a runtime would be), variants interleaved round by round.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNs, removeNs } from '../test/helpers/netns.js';
import { REPO } from '../test/helpers/daemon.js';
import { summarize } from './stats.js';
import { startStandIn } from '../test/helpers/cni-stand-in-daemon.js';
import { FakeBackend } from '../test/helpers/cni-fake-backend.js';

const SELF = fileURLToPath(import.meta.url);
const REF = '/usr/lib/cni';
const OURS = join(REPO, 'bin', 'cni', 'switchyard-node');
const FORWARDER = join(REPO, 'bin', 'cni', 'switchyard');
const SNAP = join(REPO, 'dist', 'cni', 'switchyard');

/** The stand-in daemon with an in-memory backend: answers at once, and serves POST /cni for the shim. */
async function server(sock: string): Promise<void> {
  await startStandIn(sock, new FakeBackend({ blue: { prefix24: '10.99.0' } }), ['blue']);
  process.stdout.write('ready\n');
}

interface Variant { label: string; cmd: string; args: string[]; conf: object; ns: string; ops: string[] }

function inner(hostNs: string, ctrNs: string, sock: string, dir: string, runs: number): void {
  const refConf = {
    cniVersion: '1.0.0', name: 'swy-bench', type: 'bridge', bridge: 'sycnibench0', isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.97.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
  };
  const ourConf = { cniVersion: '1.0.0', name: 'swy-bench', type: 'switchyard', network: 'blue', host: sock };
  const flags = (label: string, f: string[]): Variant => ({ label, cmd: process.execPath, args: [...f, OURS], conf: ourConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] });
  const variants: Variant[] = [
    { label: 'reference bridge', cmd: join(REF, 'bridge'), args: [], conf: refConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] },
    { label: 'node -e 0 (floor)', cmd: process.execPath, args: ['-e', '0'], conf: {}, ns: ctrNs, ops: ['VERSION'] },
    { label: 'ours bin/cni/switchyard-node', cmd: OURS, args: [], conf: ourConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] },
    flags('ours + --single-threaded --max-semi-space-size=1', ['--single-threaded', '--max-semi-space-size=1']),
    flags('ours + --jitless', ['--jitless']),
  ];
  // No Node in the plugin process: the C forwarder, dispatch in the (stand-in) daemon's POST /cni.
  variants.push({ label: 'ours bin/cni/switchyard (C forwarder)', cmd: FORWARDER, args: [], conf: ourConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] });
  if (existsSync(SNAP)) {
    variants.push({ label: 'ours snapshot (dist/cni/switchyard)', cmd: SNAP, args: [], conf: ourConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] });
    variants.push({ label: 'ours one CommonJS file (dist/cni/switchyard-bundle.cjs)', cmd: join(REPO, 'dist', 'cni', 'switchyard-bundle.cjs'), args: [], conf: ourConf, ns: ctrNs, ops: ['VERSION', 'ADD', 'DEL'] });
    // No V8 flags next to the snapshot: a blob loads only under the flags it was built with
    // (--single-threaded or --max-semi-space-size=1 at run time: "Failed to load the startup snapshot").
  }
  const samples = new Map<string, number[]>();
  const once = (v: Variant, op: string) => {
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SWITCHYARD_CNI_SOCKET: sock, CNI_COMMAND: op, CNI_CONTAINERID: 'bench1', CNI_NETNS: `/run/netns/${v.ns}`, CNI_IFNAME: 'eth0', CNI_PATH: REF };
    const t0 = performance.now();
    const r = spawnSync(v.cmd, v.args, { env, input: JSON.stringify(v.conf) });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${v.label} ${op}: rc ${r.status} ${r.stdout} ${r.stderr}`);
    const key = `${v.label}\t${op}`;
    samples.set(key, [...(samples.get(key) ?? []), ms]);
  };
  for (const v of variants) for (const op of v.ops) once(v, op); // warm the page cache, untimed
  samples.clear();
  for (let i = 0; i < runs; i++) for (const v of variants) for (const op of v.ops) once(v, op);
  console.log(`runs=${runs} (interleaved), load ${readLoad()}, host netns ${hostNs}`);
  console.log('variant\top\tp50 ms\tp99 ms\tmin ms');
  for (const [k, s] of samples) {
    const x = summarize(s);
    console.log(`${k}\t${x.p50.toFixed(1)}\t${x.p99.toFixed(1)}\t${x.min.toFixed(1)}`);
  }
}

function readLoad(): string {
  return spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
}

async function outer(runs: number): Promise<void> {
  const host = makeNs('cnbh');
  const ctr = makeNs('cnbc');
  const dir = mkdtempSync(join(tmpdir(), 'swy-cnibench-'));
  const sock = join(dir, 'sock');
  const srv = spawn(process.execPath, [SELF, '--server', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => srv.stdout!.once('data', () => resolve()));
    const r = spawnSync('nsenter', [`--net=${host.path}`, '--', process.execPath, SELF, '--inner', host.name, ctr.name, sock, dir, String(runs)], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = 1;
  } finally {
    srv.kill();
    removeNs(ctr);
    removeNs(host);
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--server') await server(argv[1]!);
else if (argv[0] === '--inner') inner(argv[1]!, argv[2]!, argv[3]!, argv[4]!, Number(argv[5]));
else await outer(Number(argv[0] ?? 40));
