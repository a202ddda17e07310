/** Process helpers shared by the benchmarks: run a command (optionally inside a netns) and fail loudly. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunOptions {
  input?: string;
  allowFail?: boolean;
  timeoutMs?: number;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
  if (!opts.allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status ?? r.signal}: ${r.stderr || r.stdout}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `cmd` inside the network namespace at nsPath (nsenter, not `ip netns exec`, which remounts /sys). */
export function runIn(nsPath: string, cmd: string, args: string[], opts: RunOptions = {}): ReturnType<typeof run> {
  return run('nsenter', [`--net=${nsPath}`, '--', cmd, ...args], opts);
}

export function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return Math.round((kb / 1024) * 10) / 10;
}

export function dpkgVersion(pkg: string): string | undefined {
  const r = run('dpkg-query', ['-W', '-f=${Version}', pkg], { allowFail: true });
  return r.status === 0 && r.stdout ? r.stdout : undefined;
}

/** The main namespace's state that a benchmark must leave as it found it. */
export function mainNamespaceSnapshot(): { netns: string[]; links: string[]; nftTables: string[] } {
  const lines = (s: string) => s.split('\n').filter(Boolean);
  return {
    netns: lines(run('ip', ['netns'], { allowFail: true }).stdout).map((l) => l.split(' ')[0]!).sort(),
    links: lines(run('ip', ['-o', 'link'], { allowFail: true }).stdout).map((l) => l.split(': ')[1]!.split('@')[0]!).sort(),
    nftTables: lines(run('nft', ['list', 'tables'], { allowFail: true }).stdout).sort(),
  };
}

export function diffSnapshots(a: ReturnType<typeof mainNamespaceSnapshot>, b: ReturnType<typeof mainNamespaceSnapshot>): string[] {
  const out: string[] = [];
  for (const k of ['netns', 'links', 'nftTables'] as const) {
    // Other engineers' tests create and remove their own swy-* namespaces meanwhile: only ours count.
    const ours = (x: string) => k !== 'netns' || /^swy-(bench|dock|nvk|nvk0|cni|cnk0|nvs|cns|nvb|cnb|nvd|mh|ma|mb|mx|dx|dkx|dp|prof)-/.test(x);
    const added = b[k].filter((x) => !a[k].includes(x) && ours(x));
    if (added.length) out.push(`${k} left behind: ${added.join(', ')}`);
  }
  return out;
}
