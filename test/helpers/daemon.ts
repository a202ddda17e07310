/**
 * A real Switchyard daemon for end-to-end tests: started inside a throwaway "host"
 * namespace with private data and exec roots and its own socket, driven through the
 * API client and the real CLI, and torn down with a leak check.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchyardClient } from '../../src/api/client.js';
import { makeNs, removeNs, waitFor, assertNoLeaks, type TestNs } from './netns.js';
import { releaseNetnsDir } from '../../src/kernel/netns.js';
import { sandboxSessionsUnder } from '../../src/kernel/sandbox-process.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(REPO, 'bin', 'switchyard');

export interface TestDaemon {
  host: TestNs;
  root: string;
  dataRoot: string;
  execRoot: string;
  socket: string;
  client: SwitchyardClient;
  proc: ChildProcess;
  log: () => string;
  /** Runs the CLI against this daemon (from inside the host namespace, like a user on that host). */
  cli: (args: string[], opts?: { allowFail?: boolean; input?: string; timeoutMs?: number; env?: Record<string, string> }) => SpawnSyncReturns<string>;
  /** Runs a command in the host namespace. */
  onHost: (cmd: string, args: string[], opts?: { allowFail?: boolean }) => SpawnSyncReturns<string>;
  /** Runs a command inside a sandbox's network namespace (by SandboxKey). */
  inSandbox: (nsPath: string, cmd: string, args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }) => SpawnSyncReturns<string>;
  restart: (opts?: { kill?: boolean; extraArgs?: string[] }) => Promise<void>;
  stop: (opts?: { keepHost?: boolean }) => Promise<void>;
}

export interface StartOptions {
  tag?: string;
  args?: string[];
  /** Reuse a host namespace (a second daemon on the same simulated host is not supported). */
  host?: TestNs;
}

function run(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 30_000,
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  if (!opts.allowFail && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} → ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

export async function startDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const host = opts.host ?? makeNs(opts.tag ?? 'e2e');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-e2e-'));
  const dataRoot = path.join(root, 'data');
  const execRoot = path.join(root, 'run');
  const socket = path.join(execRoot, 'switchyard.sock');
  const logFile = path.join(root, 'daemon.log');
  let proc!: ChildProcess;

  const launch = async (extra: string[] = []) => {
    const out = fs.openSync(logFile, 'a');
    proc = spawn(
      'nsenter',
      // SWY_DAEMON_NODE_ARGS: node flags for the daemons (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile a lab's daemons).
      [`--net=${host.path}`, '--', process.execPath, ...(process.env.SWY_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CLI, 'daemon', '--data-root', dataRoot, '--exec-root', execRoot, '-H', `unix://${socket}`, '--log-level', 'debug', ...(opts.args ?? []), ...extra],
      { stdio: ['ignore', out, out] },
    );
    fs.closeSync(out);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    let dead = false;
    void exited.then(() => (dead = true));
    const client = new SwitchyardClient({ host: `unix://${socket}` });
    try {
      // 60 s: on a machine shared by many builds, node's own start-up can take tens of seconds.
      await waitFor(async () => {
        if (dead) throw new Error(`daemon exited during start-up:\n${fs.readFileSync(logFile, 'utf8')}`);
        return client.ping().then(() => true, () => false);
      }, 'daemon ready', Number(process.env.SWY_DAEMON_READY_MS ?? 60_000), 25);
    } catch (err) {
      // Never leave a daemon that did not come up running (nobody would stop it).
      if (!dead) {
        proc.kill('SIGKILL');
        await exited;
      }
      throw err;
    } finally {
      client.close();
    }
  };
  // The daemon bind-mounts its exec root's netns directory before it can fail (a node name
  // the cluster already has, say): a failed first start takes back what this helper made.
  const release = () => {
    for (const nsDir of [path.join(execRoot, 'netns'), path.join(execRoot, 'overlay')]) {
      for (const entry of safeReaddir(nsDir)) spawnSync('umount', ['-l', path.join(nsDir, entry)]);
      releaseNetnsDir(nsDir);
    }
  };
  try {
    await launch();
  } catch (err) {
    release();
    fs.rmSync(root, { recursive: true, force: true });
    if (!opts.host) removeNs(host);
    throw err;
  }

  const d: TestDaemon = {
    host,
    root,
    dataRoot,
    execRoot,
    socket,
    client: new SwitchyardClient({ host: `unix://${socket}` }),
    get proc() {
      return proc;
    },
    log: () => fs.readFileSync(logFile, 'utf8'),
    cli: (args, o = {}) => run('nsenter', [`--net=${host.path}`, '--', process.execPath, CLI, '-H', `unix://${socket}`, ...args], o),
    onHost: (cmd, args, o = {}) => run('nsenter', [`--net=${host.path}`, '--', cmd, ...args], o),
    inSandbox: (nsPath, cmd, args, o = {}) => run('nsenter', [`--net=${nsPath}`, '--', cmd, ...args], o),
    async restart(o = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill(o.kill ? 'SIGKILL' : 'SIGTERM');
        await exited;
      }
      await launch(o.extraArgs);
    },
    async stop(o = {}) {
      d.client.close();
      const c = new SwitchyardClient({ host: `unix://${socket}` });
      try {
        for (const s of await c.listSandboxes(true)) await c.removeSandbox(s.Id, true).catch(() => {});
      } catch {
        /* daemon already gone */
      }
      c.close();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      // Sandboxes the daemon could not remove (it died, or a test killed it): kill their
      // sessions by PID so no process outlives the test.
      for (const { pid } of sandboxSessionsUnder(path.join(dataRoot, 'sandboxes'))) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      // Sandboxes' namespaces, and the overlay networks' (left pinned when a daemon dies).
      release();
      if (!o.keepHost) removeNs(host);
      const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root));
      fs.rmSync(root, { recursive: true, force: true });
      if (mounts.length) throw new Error(`leak: mounts left under ${root}:\n${mounts.join('\n')}`);
      if (!o.keepHost) assertNoLeaks([host.name]);
    },
  };
  return d;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
