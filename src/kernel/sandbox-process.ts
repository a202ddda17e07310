/**
 * The process of a sandbox: a host command run inside the sandbox's network
 * namespace, in new PID, mount and UTS namespaces, with the generated /etc/hosts,
 * /etc/hostname and /etc/resolv.conf bind-mounted (read-only) over the host's, a private
 * /proc, a read-only /sys and /proc/sys, and Docker's capability set
 * (model/capabilities.ts). docs/SECURITY.md "What a sandbox can do" lists each protection
 * with the test that shows it.
 *
 * Process tree: `nsenter --net` (absent in host mode) execs `unshare`, which forks the
 * wrapper: a small /bin/sh (about 1 MB, not a Node process) that is PID 1 of the sandbox's
 * PID namespace. The wrapper mounts, then runs the command through setpriv and env, waits
 * for it and records its exit status in a file, so the status survives a daemon restart.
 * The recorded pid (State.Pid) is the outer process's (unshare, in the sandbox's network,
 * mount and UTS namespaces; its pid_for_children namespace is the sandbox's): it is known as
 * soon as the spawn returns. Killing the wrapper kills every process of the PID namespace,
 * including ones that called setsid or double-forked (pid_namespaces(7)), and
 * `unshare --kill-child` kills the wrapper when unshare is killed. The whole tree runs in a
 * session of its own with its output going to a file, so it keeps running when the daemon
 * stops or crashes.
 *
 * Nothing of the request applies to the host-side tools: they are run by absolute path
 * with a fixed environment; the sandbox's Env is applied by `env -i` as the last step,
 * for the command only.
 *
 * Mount propagation is `slave`: when the daemon unmounts another sandbox's namespace
 * file, the unmount reaches this sandbox's copy of the mount table too, so no mount
 * namespace keeps a dead sandbox's network namespace alive.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { close as closeFd, pidfdOpen, readableNow } from './libc.js';
import { setprivCapList } from '../model/capabilities.js';
import { commandArgv, commandEnv } from '../model/sandbox-env.js';
import { MASKED_PATHS, READONLY_PATHS, renderSandboxFstab } from '../model/sandbox-mounts.js';
import { TOOL_ENV, systemTool } from './system-tools.js';

import type { SandboxProcessSpec } from '../model/sandbox-process-spec.js';
export type { SandboxProcessSpec };

export const EXIT_FILE = 'exitcode';
/** The wrapper's fstab (model/sandbox-mounts.ts), written at every start. */
export const MOUNTS_FILE = 'mounts';

// Arguments: dir, hostname, privileged (0/1), a network namespace of its own (0/1),
// setpriv's capability list, then env -i's arguments (NAME=VALUE…, the command). Exit 125 =
// the set-up failed (Docker's code for "the daemon could not run the container").
//
// security (docs/SECURITY.md "What a sandbox can do"): a sandbox runs on the host's
// filesystem, so the daemon's data and exec roots (the API socket, the store, other
// sandboxes' files) are covered by an empty read-only tmpfs, and the API's TLS key by
// /dev/null, after the read-only /etc bind mounts whose sources live under the data root
// (all in "$d/mounts", model/sandbox-mounts.ts, read by mount before the cover hides it).
// /proc is the sandbox's own (its PID namespace); /sys is a new sysfs of the sandbox's
// network namespace (in host mode, or when the namespace's sysfs is mounted with other
// flags already, a bind of /sys without its submounts), read-only unless --privileged;
// /proc/sys and the other kernel knobs Docker protects are read-only, and the files Docker
// masks are covered, unless --privileged. The wrapper keeps its working directory in "$d"
// (a cwd survives an over-mount of an ancestor) to record the exit status; the command
// starts in /.
const WRAPPER = `d=$1; h=$2; priv=$3; ownnet=$4; caps=$5; shift 5
fail() { echo 125 > "$d/${EXIT_FILE}.tmp"; mv "$d/${EXIT_FILE}.tmp" "$d/${EXIT_FILE}"; exit 125; }
hostname "$h" && cd "$d" || fail
if [ "$priv" = 1 ]; then o=rw; else o=ro; fi
if [ "$ownnet" = 1 ]; then mount -t sysfs -o $o,nosuid,nodev,noexec swy-sysfs /sys 2>/dev/null || mount -o bind,$o,nosuid,nodev,noexec /sys /sys || fail
else mount -o bind,$o,nosuid,nodev,noexec /sys /sys || fail; fi
mount --fstab "$d/${MOUNTS_FILE}" -a || fail
if [ "$priv" = 1 ]; then (cd / && exec env -i "$@") & else (cd / && exec setpriv --bounding-set "$caps" --inh-caps "$caps" -- env -i "$@") & fi
c=$!
trap 'kill -TERM $c 2>/dev/null' TERM
trap 'kill -INT $c 2>/dev/null' INT
while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || break; done
echo $s > ${EXIT_FILE}.tmp; mv ${EXIT_FILE}.tmp ${EXIT_FILE}
exit $s`;

export interface StartedProcess {
  /** The outer process (unshare; State.Pid): its one child is the wrapper, PID 1 of the sandbox. */
  pid: number;
  pidStart: string;
  /** Resolves with the exit code when the daemon is the parent; rejects never. */
  exited: Promise<number>;
}

/** The argv of the whole tree (pure, for tests and for the GC's recognition of our sessions). */
export function sandboxArgv(spec: SandboxProcessSpec): string[] {
  const unshareFlags = ['--mount', '--uts', '--propagation', 'slave', ...(spec.pidHost ? [] : ['--pid']), '--fork', '--kill-child'];
  const inner = [
    systemTool('unshare'), ...unshareFlags, '--', '/bin/sh', '-c', WRAPPER, 'sh',
    spec.dir, spec.hostname, spec.privileged ? '1' : '0', spec.nsPath ? '1' : '0', setprivCapList(spec.capabilities),
    ...commandEnv(spec.env), ...commandArgv(spec.command),
  ];
  return spec.nsPath ? [systemTool('nsenter'), `--net=${spec.nsPath}`, '--', ...inner] : inner;
}

/** Which of Docker's read-only and masked paths this kernel has (the same for every sandbox). */
let presentPaths: Map<string, 'file' | 'dir'> | undefined;
function kernelPaths(): ReadonlyMap<string, 'file' | 'dir'> {
  if (presentPaths) return presentPaths;
  presentPaths = new Map();
  for (const p of [...READONLY_PATHS, ...MASKED_PATHS]) {
    try {
      presentPaths.set(p, fs.statSync(p).isDirectory() ? 'dir' : 'file');
    } catch {
      // not on this kernel
    }
  }
  return presentPaths;
}

/** The wrapper's fstab for this spec. */
export function sandboxFstab(spec: SandboxProcessSpec): string {
  return renderSandboxFstab({
    dir: spec.dir,
    ownProc: !spec.pidHost,
    privileged: !!spec.privileged,
    present: kernelPaths(),
    hiddenDirs: hiddenDirs(spec.hiddenPaths ?? []),
    hiddenFiles: [...new Set((spec.hiddenFiles ?? []).filter((p) => path.isAbsolute(p)).map((p) => path.resolve(p)))].filter((p) => fs.existsSync(p)),
  });
}

export function startSandboxProcess(spec: SandboxProcessSpec): Promise<StartedProcess> {
  fs.rmSync(path.join(spec.dir, EXIT_FILE), { force: true });
  fs.writeFileSync(path.join(spec.dir, MOUNTS_FILE), sandboxFstab(spec), { mode: 0o600 });
  const out = fs.openSync(spec.logPath, 'a', 0o600);
  fs.fchmodSync(out, 0o600); // an older log keeps its mode otherwise (docs/SECURITY.md)
  const argv = sandboxArgv(spec);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...TOOL_ENV },
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
      // The outer process stands for the sandbox: waiting for unshare to fork the wrapper
      // would add a scheduling round trip (~100 ms on a loaded machine) to every start.
      resolve({ pid: child.pid!, pidStart: processStartTime(child.pid!) ?? '', exited });
    });
  });
}

/** The wrapper (PID 1 of the sandbox) of a sandbox's outer process; undefined when gone. */
export function wrapperOf(pid: number): number | undefined {
  return childrenOf(pid)[0];
}

/** The children of pid (/proc/PID/task/PID/children). */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** "/" and relative paths are never hidden (that would hide everything, or nothing certain). */
function hiddenDirs(paths: string[]): string[] {
  const all = [...new Set(paths.filter((p) => path.isAbsolute(p)).map((p) => path.resolve(p)))].filter((p) => p !== '/');
  // A path under another hidden one is hidden already (and no longer exists to mount on).
  return all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}/`)));
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

/**
 * SIGTERM to the wrapper (it forwards to the command), SIGKILL after the grace period:
 * to the wrapper, which ends its whole PID namespace, and to its process group.
 */
export async function stopSandboxProcess(pid: number, pidStart: string | undefined, graceMs: number): Promise<void> {
  if (!isSandboxProcessAlive(pid, pidStart)) return;
  // unshare blocks SIGTERM while it waits for its child: the wrapper gets it (and forwards it).
  signal(wrapperOf(pid) ?? pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSandboxProcessAlive(pid, pidStart)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  killSandboxSession(pid, pidStart);
  const hard = Date.now() + 5000;
  while (Date.now() < hard && isSandboxProcessAlive(pid, pidStart)) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Kills every process of the sandbox at once (rm -f, crash clean-up): SIGKILL to the
 * wrapper ends its PID namespace, every process in it included, whatever session it
 * made for itself (pid_namespaces(7)); SIGKILL to the outer process's group takes the
 * outer process (and, through `--kill-child`, the wrapper if it was not found) and, with
 * --pid host, what stayed in the group.
 */
export function killSandboxSession(pid: number, pidStart: string | undefined): void {
  if (!isSandboxProcessAlive(pid, pidStart)) return;
  const wrapper = wrapperOf(pid);
  if (wrapper !== undefined) signal(wrapper, 'SIGKILL');
  const group = processGroupOf(pid);
  signal(pid, 'SIGKILL');
  // Only a group of its own (the spawn is detached: its leader leads a session too), never ours.
  if (group !== undefined && group > 1 && group !== processGroupOf(process.pid) && group === sessionOf(group)) signal(-group, 'SIGKILL');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 5 of /proc/PID/stat. */
export function processGroupOf(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[2]) : undefined;
}

/** Field 6 of /proc/PID/stat: the session the process belongs to. */
export function sessionOf(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[3]) : undefined;
}

/**
 * Live sessions started for a sandbox directory under `root`, found by scanning /proc: a
 * daemon killed between spawning a sandbox's process and recording its pid leaves one
 * that no record points at. Only session leaders count (the spawn is `detached`, so the
 * outer process leads its session), and only those whose argv is the wrapper's own
 * (the exact script, then the directory): a user's `less <dir>/output.log`, even in a
 * session of its own, is never taken for one.
 */
export function sandboxSessionsUnder(root: string): { pid: number; dir: string }[] {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const found: { pid: number; dir: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf(WRAPPER);
      if (at < 0 || argv[at + 1] !== 'sh') continue;
      const dir = argv[at + 2];
      if (!dir || !dir.startsWith(prefix) || dir.slice(prefix.length).includes('/')) continue;
      const rest = statFields(Number(entry));
      if (rest && rest[3] === entry && rest[0] !== 'Z') found.push({ pid: Number(entry), dir }); // field 6: session id
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Caps a sandbox's output.log (docs/SECURITY.md "Disk"): past maxBytes, its content moves
 * to output.log.1 (replacing the previous one) and output.log is truncated in place. The
 * command keeps writing through its O_APPEND descriptor, so its next line lands at the
 * start of the emptied file: logrotate's "copytruncate". What the command writes between
 * the copy and the truncation is lost. Returns true when it rotated.
 */
export async function capLogFile(logPath: string, maxBytes: number): Promise<boolean> {
  let size: number;
  try {
    size = (await fs.promises.stat(logPath)).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  const old = `${logPath}.1`;
  await fs.promises.copyFile(logPath, old);
  await fs.promises.chmod(old, 0o600);
  await fs.promises.truncate(logPath, 0);
  return true;
}
