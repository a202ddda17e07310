/**
 * TCP across sandboxes for the cluster e2e tests: a socat server inside a sandbox's network
 * namespace answering every connection with a fixed word (both families: an IPv6 socket
 * with ipv6only=0), and a client that connects from another sandbox and reads the word.
 * Servers are stopped by PID (`stop()`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface TcpServer {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Listens on `port` in the sandbox at `nsPath` (its SandboxKey); every connection gets `word`. */
export function tcpServer(nsPath: string, port: number, word: string): TcpServer {
  const proc = spawn('nsenter', [`--net=${nsPath}`, '--', 'socat', `TCP6-LISTEN:${port},fork,reuseaddr,ipv6only=0`, `SYSTEM:echo ${word}`], { stdio: 'ignore' });
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

/** Connects from the sandbox at `nsPath` to `addr`:`port` over TCP; what the server said ('' on failure). */
export function tcpAsk(nsPath: string, addr: string, port: number): string {
  const target = addr.includes(':') ? `TCP6:[${addr}]:${port}` : `TCP4:${addr}:${port}`;
  const r = spawnSync('nsenter', [`--net=${nsPath}`, '--', 'socat', '-T', '3', 'STDIO', `${target},connect-timeout=3`], { encoding: 'utf8', input: '', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : '';
}
