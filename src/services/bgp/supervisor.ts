/**
 * Runs BIRD (Debian's bird2) as Switchyard's BGP speaker: writes its configuration
 * (services/bgp/config.ts) under the exec root, starts `bird -f` in the daemon's namespace,
 * reloads it with `birdc configure` when the configuration changes, restarts it with
 * backoff when it dies, and stops it by PID. No BGP code of our own.
 * docs/drivers/routed.md "BGP".
 *
 * Kernel routes survive BIRD: its kernel protocols have `persist`, so a BIRD that dies (or
 * is stopped for a daemon restart) leaves the routes it learned; a restart runs `bird -R`
 * (graceful-restart recovery) so the new BIRD does not flush them before it has re-learned
 * them, and its peers, with `graceful restart on`, keep this host's routes as stale
 * meanwhile. Stopping for good (`stop({ withdraw: true })`) removes them (purgeBirdRoutes).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { internal, unavailable } from '../../errors.js';
import { systemTool, TOOL_ENV } from '../../kernel/system-tools.js';
import type { Rtnl } from '../../kernel/netlink/index.js';
import { KERNEL_METRIC, RTPROT_BIRD, renderBirdConfig, type BirdConfigInput } from './config.js';

export interface BirdSupervisorOptions {
  /** Directory for bird.conf, bird.ctl (its control socket) and bird.pid: under the exec root. */
  dir: string;
  /** Runs BIRD inside this network namespace (tests); default: the daemon's own. */
  netnsPath?: string;
  /** First restart delay after BIRD dies; doubles up to maxBackoffMs, back to the first after a run of `stableMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  stableMs?: number;
  log: (msg: string) => void;
}

export interface BirdPaths {
  config: string;
  socket: string;
  pidFile: string;
}

/** Where the daemon keeps BIRD's files: `<exec-root>/bird` (system reset looks there too). */
export const birdDirOf = (execRoot: string): string => path.join(execRoot, 'bird');

export const birdPaths = (dir: string): BirdPaths => ({
  config: path.join(dir, 'bird.conf'),
  socket: path.join(dir, 'bird.ctl'),
  pidFile: path.join(dir, 'bird.pid'),
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The command line of a process, or undefined when it is gone. */
function cmdlineOf(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Runs birdc against the socket; resolves with its output, rejects with it. */
export function birdc(socket: string, args: readonly string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(systemTool('birdc'), ['-s', socket, ...args], { env: TOOL_ENV, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(unavailable('BIRD_CONTROL_FAILED', `birdc ${args.join(' ')}: ${(stderr || stdout || String(err)).trim()}`, err));
      else resolve(stdout);
    });
  });
}

/** Checks a configuration with `bird -p` (parse only) before it replaces the running one. */
function checkConfig(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(systemTool('bird'), ['-p', '-c', file], { env: TOOL_ENV, timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(internal('BIRD_CONFIG_REJECTED', `bird refused the configuration it was given: ${(stderr || stdout).trim()}`, err));
      else resolve();
    });
  });
}

export class BirdSupervisor {
  readonly paths: BirdPaths;
  private child: ChildProcess | undefined;
  private config = '';
  private input: BirdConfigInput | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private startedAt = 0;
  /** How many times BIRD was started (the first start included). */
  starts = 0;

  constructor(private readonly o: BirdSupervisorOptions) {
    this.paths = birdPaths(o.dir);
    this.backoff = o.backoffMs ?? 250;
  }

  /** BIRD's PID while it runs. */
  get pid(): number | undefined {
    return this.child?.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Writes the configuration and starts BIRD (a BIRD a previous daemon left is stopped first); resolves when it answers. */
  async start(input: BirdConfigInput): Promise<void> {
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    await this.stopLeftover();
    await this.writeConfig(renderBirdConfig(input));
    this.input = input;
    this.stopping = false;
    this.spawnBird(false);
    await this.waitReady();
  }

  /** A new configuration: written and loaded (`birdc configure`) when it differs; nothing when it does not. */
  async update(input: BirdConfigInput): Promise<boolean> {
    const text = renderBirdConfig(input);
    if (text === this.config) return false;
    await this.writeConfig(text);
    this.input = input;
    if (this.pid === undefined) return true; // a restart pending will read it
    const out = await birdc(this.paths.socket, ['configure']);
    if (!/Reconfigur(ed|ation in progress)/.test(out)) throw internal('BIRD_CONFIG_REJECTED', `birdc configure: ${out.trim()}`);
    return true;
  }

  /**
   * Stops BIRD by its PID (SIGTERM, then SIGKILL after 5 s). Its kernel routes stay
   * (`persist`), and its peers keep this host's routes as stale for their graceful-restart
   * time: right for a daemon restart. `withdraw` (stopping for good): BIRD first announces
   * nothing (a configuration without blocks, so every peer gets explicit withdrawals, which
   * graceful restart does not hold back), then stops, and `rtnl` (the daemon's namespace)
   * loses every route BIRD put there. `graceful`: a planned restart (`birdc graceful restart`).
   */
  async stop(o: { withdraw?: boolean; graceful?: boolean; rtnl?: Rtnl } = {}): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (o.withdraw && this.input && this.pid !== undefined) {
      try {
        // A session still coming up (BIRD just restarted) would get nothing to withdraw, and
        // its peer would keep the old session's routes as stale: let it come up first.
        await this.waitEstablished(5000).catch((err) => this.o.log(`bird: ${String(err)}`));
        await this.update({ ...this.input, blocks: [] });
        await this.waitExported(0, 5000);
      } catch (err) {
        this.o.log(`bird: withdrawing before the stop: ${String(err)}`);
      }
    }
    this.stopping = true;
    const child = this.child;
    if (child && this.pid !== undefined) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (o.graceful) await birdc(this.paths.socket, ['graceful', 'restart']).catch((err) => this.o.log(`bird: ${String(err)}`));
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    if (o.withdraw && o.rtnl) purgeBirdRoutes(o.rtnl);
    if (o.withdraw) for (const f of Object.values(this.paths)) fs.rmSync(f, { force: true });
  }

  private async writeConfig(text: string): Promise<void> {
    const tmp = `${this.paths.config}.new`;
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    try {
      await checkConfig(tmp);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.renameSync(tmp, this.paths.config);
    this.config = text;
  }

  /** A BIRD started by a previous daemon on the same files (its PID file, our config on its command line): stopped. */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.paths.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    const cmd = cmdlineOf(pid);
    if (!Number.isInteger(pid) || pid <= 1 || !cmd || !cmd.includes(this.paths.config)) return;
    this.o.log(`bird: stopping the BIRD (pid ${pid}) a previous daemon left`);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }

  private spawnBird(recovering: boolean): void {
    const args = ['-f', '-c', this.paths.config, '-s', this.paths.socket, '-P', this.paths.pidFile, ...(recovering ? ['-R'] : [])];
    const [cmd, argv] = this.o.netnsPath
      ? [systemTool('nsenter'), [`--net=${this.o.netnsPath}`, '--', systemTool('bird'), ...args]]
      : [systemTool('bird'), args];
    const child = spawn(cmd, argv, { env: TOOL_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.starts++;
    this.startedAt = Date.now();
    let tail = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      tail = (tail + d).slice(-2000);
      for (const line of d.split('\n')) if (/<(ERR|WARN|FATAL|BUG)>/.test(line)) this.o.log(`bird: ${line.trim()}`);
    });
    child.on('error', (err) => this.o.log(`bird: ${String(err)}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child || this.stopping) return;
      this.child = undefined;
      const ran = Date.now() - this.startedAt;
      if (ran >= (this.o.stableMs ?? 30_000)) this.backoff = this.o.backoffMs ?? 250;
      this.o.log(`bird (pid ${child.pid}) exited (${signal ?? `code ${code}`}) after ${ran} ms; restarting in ${this.backoff} ms${tail ? `: ${tail.trim().split('\n').pop()}` : ''}`);
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 10_000);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.stopping) this.spawnBird(true);
      }, delay);
    });
  }

  /** The BGP state of each peer session (`Established` when up), by BIRD protocol name. */
  async peerStates(): Promise<Record<string, string>> {
    const out = await birdc(this.paths.socket, ['show', 'protocols']);
    const states: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const m = /^(sy_peer\d+)\s+BGP\s+\S+\s+\S+\s+\S+\s+(\S+)/.exec(line);
      if (m) states[m[1]!] = m[2]!;
    }
    return states;
  }

  /** Waits until every peer session is Established. */
  async waitEstablished(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = Object.values(await this.peerStates());
      if (states.every((st) => st === 'Established')) return;
      if (Date.now() > deadline) throw unavailable('BIRD_NOT_CONVERGED', `BGP sessions not established after ${timeoutMs} ms (${states.join(', ')})`);
      await sleep(100);
    }
  }

  /** Routes BIRD exports to its BGP peers now (the sum over every peer's channels). */
  async exportedRoutes(): Promise<number> {
    const out = await birdc(this.paths.socket, ['show', 'protocols', 'all']);
    let n = 0;
    let inPeer = false;
    for (const line of out.split('\n')) {
      if (/^\S/.test(line)) inPeer = /^sy_peer\d+\s/.test(line);
      const m = inPeer ? /Routes:\s+\d+ imported,(?:\s+\d+ filtered,)?\s+(\d+) exported/.exec(line) : null;
      if (m) n += Number(m[1]);
    }
    return n;
  }

  /** Waits until BIRD exports `count` routes to its peers (announcements and withdrawals sent). */
  async waitExported(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.exportedRoutes()) !== count) {
      if (Date.now() > deadline) throw unavailable('BIRD_NOT_CONVERGED', `bird still exports routes other than ${count} after ${timeoutMs} ms`);
      await sleep(50);
    }
    // The count drops when the routes leave BIRD's export table; the UPDATE goes out with the next write.
    await sleep(200);
  }

  /** Waits until BIRD answers on its control socket (5 s at most). */
  async waitReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.pid !== undefined && fs.existsSync(this.paths.socket)) {
        try {
          await birdc(this.paths.socket, ['show', 'status'], 1000);
          return;
        } catch (err) {
          last = String(err);
        }
      }
      await sleep(50);
    }
    throw unavailable('BIRD_NOT_READY', `bird did not answer on ${this.paths.socket} within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
  }
}

/** Deletes every route BIRD installed for Switchyard (RTPROT_BIRD with KERNEL_METRIC) from rtnl's namespace. */
export function purgeBirdRoutes(rtnl: Rtnl): number {
  let n = 0;
  for (const family of [4, 6] as const) {
    for (const r of rtnl.listRoutes(family)) {
      if (r.protocol !== RTPROT_BIRD || r.metric !== KERNEL_METRIC) continue;
      rtnl.deleteRoute({ dst: r.dst, family, metric: KERNEL_METRIC, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.oif !== undefined ? { oif: r.oif } : {}) });
      n++;
    }
  }
  return n;
}
