/**
 * One iperf3 TCP stream between two network namespaces, for the data-path benches
 * (overlay.ts, routed.ts, routed-rules.ts): a one-shot server in `serverNs`, the client in
 * `clientNs`, the received rate in Gbit/s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { waitFor } from '../test/helpers/netns.js';

function inNs(nsPath: string, ...args: string[]): string {
  const r = spawnSync('nsenter', [`--net=${nsPath}`, '--', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} in ${nsPath}: ${r.stderr}`);
  return r.stdout;
}

/** `onSpawn` sees the server process (a bench's leak check tracks what it started). */
export async function iperf3(serverNs: string, clientNs: string, addr: string, seconds: number, onSpawn?: (p: ChildProcess) => void): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  onSpawn?.(server);
  try {
    await waitFor(() => inNs(serverNs, 'ss', '-ltn').includes(':5201'), 'iperf3 server');
    const out = inNs(clientNs, 'iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-J');
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}
