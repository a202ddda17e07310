/**
 * The process of a sandbox: a host command run inside the sandbox's network
 * namespace, in new UTS and mount namespaces, with the generated /etc/hosts,
 * /etc/hostname and /etc/resolv.conf bind-mounted over the host's.
 *
 * The process is started in a session of its own with its output going to a file,
 * so it keeps running when the daemon stops or crashes. A small /bin/sh wrapper
 * (about 1 MB, not a Node process) waits for the command and records its exit
 * status in a file, so the status survives a daemon restart too.
 *
 * Mount propagation is `slave`: when the daemon unmounts another sandbox's namespace
 * file, the unmount reaches this sandbox's copy of the mount table too, so no mount
 * namespace keeps a dead sandbox's network namespace alive.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SandboxProcessSpec {
  /** Directory holding hosts, hostname, resolv.conf; the exit code file goes there too. */
  dir: string;
  /** Network namespace to run in; absent = the daemon's own (host mode). */
  nsPath?: string;
  hostname: string;
  command: string[];
  env: string[];
  logPath: string;
}

export const EXIT_FILE = 'exitcode';

// $1 = dir, $2 = hostname, then the command. Exit 125 = the set-up failed (Docker's code
// for "the daemon could not run the container").
const WRAPPER = `d=$1; h=$2; shift 2
mount --bind "$d/hosts" /etc/hosts && mount --bind "$d/hostname" /etc/hostname && mount --bind "$d/resolv.conf" /etc/resolv.conf && hostname "$h" || { echo 125 > "$d/${EXIT_FILE}.tmp"; mv "$d/${EXIT_FILE}.tmp" "$d/${EXIT_FILE}"; exit 125; }
"$@" &
c=$!
trap 'kill -TERM $c 2>/dev/null' TERM
trap 'kill -INT $c 2>/dev/null' INT
while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || break; done
echo $s > "$d/${EXIT_FILE}.tmp"; mv "$d/${EXIT_FILE}.tmp" "$d/${EXIT_FILE}"
exit $s`;

export interface StartedProcess {
  pid: number;
  pidStart: string;
  /** Resolves with the exit code when the daemon is the parent; rejects never. */
  exited: Promise<number>;
}

export function startSandboxProcess(spec: SandboxProcessSpec): Promise<StartedProcess> {
  fs.rmSync(path.join(spec.dir, EXIT_FILE), { force: true });
  const out = fs.openSync(spec.logPath, 'a');
  const inner = ['unshare', '--mount', '--uts', '--propagation', 'slave', '--', '/bin/sh', '-c', WRAPPER, 'sh', spec.dir, spec.hostname, ...spec.command];
  const argv = spec.nsPath ? ['nsenter', `--net=${spec.nsPath}`, '--', ...inner] : inner;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', out, out],
      env: envObject(spec.env),
    });
    fs.closeSync(out);
    let settled = false;
    const exited = new Promise<number>((res) => {
      child.once('exit', (code, signal) => res(code ?? 128 + signalNumber(signal)));
    });
    child.once('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    child.once('spawn', () => {
      settled = true;
      child.unref();
      resolve({ pid: child.pid!, pidStart: processStartTime(child.pid!) ?? '', exited });
    });
  });
}

function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const kv of env) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
    else if (process.env[kv] !== undefined) out[kv] = process.env[kv]!;
  }
  return out;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? SIGNALS[signal] ?? 0 : 0;
}

/** Field 22 of /proc/PID/stat: the start time in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when pid is alive, not a zombie, and is the process that started at pidStart. */
export function isSandboxProcessAlive(pid: number, pidStart: string | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return false;
    return !pidStart || rest[19] === pidStart;
  } catch {
    return false;
  }
}

/** The recorded exit code, when the wrapper wrote one. */
export function readExitCode(dir: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(path.join(dir, EXIT_FILE), 'utf8').trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM to the wrapper (it forwards to the command), SIGKILL to the whole session after the grace period. */
export async function stopSandboxProcess(pid: number, pidStart: string | undefined, graceMs: number): Promise<void> {
  if (!isSandboxProcessAlive(pid, pidStart)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSandboxProcessAlive(pid, pidStart)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  signal(-pid, 'SIGKILL');
  const hard = Date.now() + 5000;
  while (Date.now() < hard && isSandboxProcessAlive(pid, pidStart)) await new Promise((r) => setTimeout(r, 10));
}

/** Kills every process of the sandbox's session at once (rm -f, crash clean-up). */
export function killSandboxSession(pid: number, pidStart: string | undefined): void {
  if (isSandboxProcessAlive(pid, pidStart)) signal(-pid, 'SIGKILL');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
