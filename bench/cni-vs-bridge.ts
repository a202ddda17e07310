/**
 * CNI ADD and DEL, our plugin against Debian's reference bridge plugin, side by side in one
 * run, timed the way the anchors do (../shared/anchors/cni-bench.mjs, "warm"): a runner
 * process inside the host namespace execs each plugin (CNI_* variables, the config on stdin)
 * and times the whole exec; the network already exists with one other container on it.
 *  - reference: bridge + host-local (containernetworking-plugins), its own bridge and subnet;
 *  - ours: bin/cni/switchyard (the forwarder; the CNI layer runs in the daemon's POST /cni)
 *    on a Switchyard bridge network of the real daemon, in the same host namespace.
 * Rounds interleave the two (ref ADD, ref DEL, ours ADD, ours DEL), each into the same fresh
 * container namespace, so load hits both alike.
 *
 *   npm run build && node dist/bench/cni-vs-bridge.js [ROUNDS]     (as root; starts its own daemon)
 *   npm run bench  (runs it against the bench's daemon: result.cniVsBridge)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNs, removeNs, type TestNs } from '../test/helpers/netns.js';
import { REPO, startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { summarize, type Summary } from './stats.js';

const SELF = fileURLToPath(import.meta.url);
const REF = '/usr/lib/cni';
const OURS = join(REPO, 'bin', 'cni', 'switchyard');

export const cniBenchAvailable = (): boolean => existsSync(join(REF, 'bridge')) && existsSync(join(REF, 'host-local')) && existsSync(OURS);

interface Plan { refConf: object; ourConf: object; ctr: string; others: [string, string]; rounds: number }

/** The timing loop, run inside the host namespace; prints {label: ms[]} as JSON. */
function inner(plan: Plan): void {
  const samples: Record<string, number[]> = {};
  const exec = (bin: string, conf: object, command: string, id: string, ns: string, label?: string): unknown => {
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: REF };
    const t0 = performance.now();
    const r = spawnSync(bin, [], { env, input: JSON.stringify(conf) });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${bin} ${command}: rc ${r.status} ${r.stdout} ${r.stderr}`);
    if (label) (samples[label] ??= []).push(ms);
    return r.stdout.length ? JSON.parse(r.stdout.toString()) : undefined;
  };
  const ref = join(REF, 'bridge');
  // Warm: each network has another container on it, as in the anchors' warm loop.
  exec(ref, plan.refConf, 'ADD', 'bench-other-ref', plan.others[0]);
  exec(OURS, plan.ourConf, 'ADD', 'bench-other-ours', plan.others[1]);
  try {
    for (let i = 0; i < plan.rounds + 1; i++) {
      const timed = i > 0; // round 0 warms the page cache, untimed
      const refRes = exec(ref, plan.refConf, 'ADD', 'bench-ref', plan.ctr, timed ? 'reference bridge ADD' : undefined);
      exec(ref, { ...plan.refConf, prevResult: refRes }, 'DEL', 'bench-ref', plan.ctr, timed ? 'reference bridge DEL' : undefined);
      const ourRes = exec(OURS, plan.ourConf, 'ADD', 'bench-ours', plan.ctr, timed ? 'switchyard ADD' : undefined);
      exec(OURS, { ...plan.ourConf, prevResult: ourRes }, 'DEL', 'bench-ours', plan.ctr, timed ? 'switchyard DEL' : undefined);
    }
  } finally {
    exec(ref, plan.refConf, 'DEL', 'bench-other-ref', plan.others[0]);
    exec(OURS, plan.ourConf, 'DEL', 'bench-other-ours', plan.others[1]);
  }
  process.stdout.write(`${JSON.stringify(samples)}\n`);
}

export interface CniVsBridge {
  rounds: number;
  load: string;
  summaries: Record<string, Summary>;
}

/**
 * Runs the comparison against daemon `d` (a Switchyard bridge network `cnibench` is created
 * and removed). The reference plugin's bridge lives in d's host namespace and goes with it.
 */
export function cniVsBridge(d: TestDaemon, rounds: number): CniVsBridge {
  const dir = mkdtempSync(join(tmpdir(), 'swy-cnivs-'));
  const spaces: TestNs[] = [makeNs('cnvc'), makeNs('cnvo'), makeNs('cnvp')];
  d.cli(['network', 'create', '--subnet', '10.89.0.0/24', 'cnibench']);
  try {
    const plan: Plan = {
      refConf: {
        cniVersion: '1.0.0', name: 'swy-ref', type: 'bridge', bridge: 'sycnivs0', isGateway: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
      },
      ourConf: { cniVersion: '1.0.0', name: 'swy-ours', type: 'switchyard', network: 'cnibench', host: `unix://${d.socket}` },
      ctr: spaces[0]!.name,
      others: [spaces[1]!.name, spaces[2]!.name],
      rounds,
    };
    const r = spawnSync('nsenter', [`--net=${d.host.path}`, '--', process.execPath, SELF, '--inner', JSON.stringify(plan)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`cni bench: ${r.stderr}`);
    const samples = JSON.parse(r.stdout) as Record<string, number[]>;
    const summaries: Record<string, Summary> = {};
    for (const [k, s] of Object.entries(samples)) summaries[k] = summarize(s);
    return { rounds, load: spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' '), summaries };
  } finally {
    d.cli(['network', 'rm', 'cnibench'], { allowFail: true });
    d.onHost('ip', ['link', 'del', 'sycnivs0'], { allowFail: true });
    for (const n of spaces) removeNs(n);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function cniVsBridgeTable(r: CniVsBridge): string {
  const lines = ['| plugin | op | p50 ms | p99 ms | min ms |', '|---|---|---|---|---|'];
  for (const [k, s] of Object.entries(r.summaries)) {
    const [plugin, op] = [k.slice(0, k.lastIndexOf(' ')), k.slice(k.lastIndexOf(' ') + 1)];
    lines.push(`| ${plugin} | ${op} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.min.toFixed(1)} |`);
  }
  return `${lines.join('\n')}\n\n${r.rounds} rounds, interleaved; load average ${r.load}.`;
}

if (process.argv[1] === SELF) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--inner') inner(JSON.parse(argv[1]!) as Plan);
  else {
    const d = await startDaemon({ tag: 'cnivs' });
    try {
      console.log(cniVsBridgeTable(cniVsBridge(d, Number(argv[0] ?? 30))));
    } finally {
      await d.stop();
    }
  }
}
