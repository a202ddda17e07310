/**
 * A kernel event watch for the cluster benchmarks (bench/cluster.ts, bench/routed.ts):
 * `ip -ts monitor route|neigh` inside a namespace, resolving when a line whose first field is
 * `key` (a route's prefix, a neighbour's address) arrives, with the kernel event's time as
 * `ip` stamped it (wall clock, ms). Deletions are ignored.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const wall = () => performance.timeOrigin + performance.now();

export class KernelWatch {
  private readonly proc: ChildProcess;
  private buf = '';
  private waiters = new Map<string, (ms: number) => void>();
  private seen = new Map<string, number>();

  /** `onSpawn` sees the `ip monitor` process (a caller's leak check waits for it to exit). */
  constructor(nsPath: string, what: 'route' | 'neigh', onSpawn?: (p: ChildProcess) => void) {
    this.proc = spawn('nsenter', [`--net=${nsPath}`, '--', 'ip', '-ts', 'monitor', what], { stdio: ['ignore', 'pipe', 'ignore'] });
    onSpawn?.(this.proc);
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => {
      const now = wall();
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        // [2026-12-02T17:47:37.123456] 10.63.0.64/26 via 10.150.0.1 dev uplink proto 83
        const m = /^\[(\S+)\]\s+(\S+)\s/.exec(line);
        if (!m || m[2] === 'Deleted') continue;
        const at = Date.parse(`${m[1]!.slice(0, 23)}Z`) + Number(`0.${m[1]!.slice(23, 26) || '0'}`);
        // `ip -ts` prints local time: trust it only if it is the machine's UTC (within 5 s of arrival).
        const ms = Number.isFinite(at) && Math.abs(at - now) < 5000 ? at : now;
        const w = this.waiters.get(m[2]!);
        if (w) {
          this.waiters.delete(m[2]!);
          w(ms);
        } else this.seen.set(m[2]!, ms);
      }
    });
  }

  next(key: string, timeoutMs = 15_000): Promise<number> {
    const had = this.seen.get(key);
    if (had !== undefined) {
      this.seen.delete(key);
      return Promise.resolve(had);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no kernel event for ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (ms) => {
        clearTimeout(timer);
        resolve(ms);
      });
    });
  }

  clear(): void {
    this.seen.clear();
  }

  stop(): void {
    this.proc.kill('SIGTERM');
  }
}

