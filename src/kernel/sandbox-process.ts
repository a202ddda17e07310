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
import { close as closeFd, pidfdOpen, readableNow } from './libc.js';

export interface SandboxProcessSpec {
  /** Directory holding hosts, hostname, resolv.conf; the exit code file goes there too. */
  dir: string;
  /** Network namespace to run in; absent = the daemon's own (host mode). */
  nsPath?: string;
  hostname: string;
  command: string[];
  env: string[];
  logPath: string;
  /** Directories covered by an empty tmpfs for the command (the daemon's data and exec roots). */
  hiddenPaths?: string[];
}

export const EXIT_FILE = 'exitcode';

// $1 = dir, $2 = hostname, $3 = how many paths to hide, those paths, then the command.
// Exit 125 = the set-up failed (Docker's code for "the daemon could not run the container").
//
// security (docs/SECURITY.md "Sandboxes and the daemon"): a sandbox runs on the host's
// filesystem, so the daemon's data and exec roots (the API socket, the store, other
// sandboxes' files) are covered by an empty read-only tmpfs in the sandbox's mount
// namespace, after the /etc bind mounts whose sources live under the data root. The
// wrapper keeps its working directory in "$d" (a cwd survives an over-mount of an
// ancestor) to record the exit status; the command starts in / instead, and without
// CAP_SYS_ADMIN (it could unmount the tmpfs or setns back) and CAP_SYS_PTRACE (it could
// walk /proc/<host pid>/root: proc(5) "/proc/pid/root", ptrace access mode checks).
const WRAPPER = `d=$1; h=$2; n=$3; shift 3
fail() { echo 125 > "$d/${EXIT_FILE}.tmp"; mv "$d/${EXIT_FILE}.tmp" "$d/${EXIT_FILE}"; exit 125; }
mount --bind "$d/hosts" /etc/hosts && mount --bind "$d/hostname" /etc/hostname && mount --bind "$d/resolv.conf" /etc/resolv.conf && hostname "$h" && cd "$d" || fail
while [ "$n" -gt 0 ]; do mount -t tmpfs -o ro,size=4k,nr_inodes=1,mode=0755 switchyard-hidden "$1" || fail; shift; n=$((n-1)); done
(cd / && exec setpriv --bounding-set -sys_admin,-sys_ptrace --inh-caps -sys_admin,-sys_ptrace -- "$@") &
c=$!
trap 'kill -TERM $c 2>/dev/null' TERM
trap 'kill -INT $c 2>/dev/null' INT
while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || break; done
echo $s > ${EXIT_FILE}.tmp; mv ${EXIT_FILE}.tmp ${EXIT_FILE}
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
  const inner = ['unshare', '--mount', '--uts', '--propagation', 'slave', '--', '/bin/sh', '-c', WRAPPER, 'sh', spec.dir, spec.hostname, ...hiddenArgs(spec.hiddenPaths ?? []), ...spec.command];
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

/** The count, then the paths; "/" and relative paths are never hidden (that would hide everything, or nothing certain). */
function hiddenArgs(paths: string[]): string[] {
  const all = [...new Set(paths.filter((p) => path.isAbsolute(p)).map((p) => path.resolve(p)))].filter((p) => p !== '/');
  // A path under another hidden one is hidden already (and no longer exists to mount on).
  const wanted = all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}/`)));
  return [String(wanted.length), ...wanted];
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

/**
 * Processes that are not the daemon's children (started before a restart), watched
 * through one pidfd each: a pidfd becomes readable when its process exits, and is bound
 * to that process, never to a later one that reuses the pid (pidfd_open(2)). exited()
 * asks the kernel about all of them in ONE poll(); reading /proc/<pid>/stat for each, as
 * before, cost ~20 µs per process per check and blocked the event loop (and the DNS
 * answers on it) for milliseconds at 1,000 sandboxes.
 */
export class ProcessWatch {
  private readonly watched = new Map<string, { fd: number; pid: number }>();

  /** Is key's process `pid` watched? */
  has(key: string, pid: number): boolean {
    return this.watched.get(key)?.pid === pid;
  }

  keys(): string[] {
    return [...this.watched.keys()];
  }

  /** Starts watching key's process (pid, started at pidStart); false when it is already gone. */
  watch(key: string, pid: number, pidStart: string | undefined): boolean {
    this.unwatch(key);
    if (!isSandboxProcessAlive(pid, pidStart)) return false;
    let fd: number;
    try {
      fd = pidfdOpen(pid);
    } catch {
      return false;
    }
    // The pid may have been reused between the check and the open: check again now that
    // the fd pins whichever process it names.
    if (!isSandboxProcessAlive(pid, pidStart)) {
      closeFd(fd);
      return false;
    }
    this.watched.set(key, { fd, pid });
    return true;
  }

  unwatch(key: string): void {
    const w = this.watched.get(key);
    if (!w) return;
    closeFd(w.fd);
    this.watched.delete(key);
  }

  /** Keys whose process has exited (they are no longer watched). */
  exited(): string[] {
    const entries = [...this.watched.entries()];
    const ready = new Set(readableNow(entries.map(([, w]) => w.fd)));
    const out: string[] = [];
    for (const [key, w] of entries) {
      if (!ready.has(w.fd)) continue;
      this.unwatch(key);
      out.push(key);
    }
    return out;
  }

  close(): void {
    for (const key of this.keys()) this.unwatch(key);
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

/**
 * Live sessions started for a sandbox directory under `root` (the wrapper's argv names
 * the directory), found by scanning /proc: a daemon killed between spawning a sandbox's
 * process and recording its pid leaves one that no record points at. Only session
 * leaders count (the spawn is `detached`, so the wrapper leads its session).
 */
export function sandboxSessionsUnder(root: string): { pid: number; dir: string }[] {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const found: { pid: number; dir: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const dir = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith(prefix) && !a.slice(prefix.length).includes('/'));
      if (!dir) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[3] === entry && rest[0] !== 'Z') found.push({ pid: Number(entry), dir }); // field 6: session id
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
