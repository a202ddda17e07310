/**
 * A side experiment for docs/BENCHMARKS.md "Routed across the cluster lab": how much of the
 * gap between the routed path and plain routing one nftables rule with conntrack explains.
 * Plain routing between two fresh sandbox namespaces through two clean host namespaces on a
 * lab underlay (no daemon), rounds alternating between
 *   - none:      no nftables ruleset in the host namespaces;
 *   - conntrack: in both, one table with one forward rule, `ct state established,related
 *                accept` (which switches conntrack on for every forwarded packet, as the
 *                daemon's own tables do in its host namespace).
 * iperf3 (one TCP stream) and ping (200 packets 5 ms apart, mean) per round; paired ratios.
 *
 *   npm run build && node dist/bench/routed-conntrack.js [--rounds 6] [--seconds 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startClusterLab } from '../test/helpers/cluster-lab.js';
import { makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '3' } } });
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);

function sh(args: string[], input?: string): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (nsPath: string, ...args: string[]) => sh(['nsenter', `--net=${nsPath}`, '--', ...args]);

async function iperf(serverNs: string, clientNs: string, addr: string): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => inNs(serverNs, 'ss', '-ltn').includes(':5201'), 'iperf3 server');
    const out = inNs(clientNs, 'iperf3', '-c', addr, '-p', '5201', '-t', String(SECONDS), '-J');
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}
const rttMs = (fromNs: string, addr: string) => Number(/= [\d.]+\/([\d.]+)\//.exec(inNs(fromNs, 'ping', '-n', '-q', '-c', '200', '-i', '0.005', addr))![1]);
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

const TABLE = 'table inet swyct {\n chain f {\n  type filter hook forward priority 0; policy accept;\n  ct state established,related accept\n }\n}\n';
const lab = await startClusterLab({ hosts: 0 });
const sandboxes: TestNs[] = [];
try {
  const hosts = [lab.addNamespace('rbch'), lab.addNamespace('rbch')];
  const net = ['10.62.7', '10.62.8'];
  for (const k of [0, 1]) {
    const h = hosts[k]!;
    const s = makeNs('rbcs');
    sandboxes.push(s);
    sh(['ip', 'netns', 'exec', h.ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    sh(['ip', '-n', h.ns.name, 'link', 'add', 'syrbc', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.name]);
    sh(['ip', '-n', h.ns.name, 'addr', 'add', `${net[k]}.1/24`, 'dev', 'syrbc']);
    sh(['ip', '-n', h.ns.name, 'link', 'set', 'syrbc', 'up']);
    inNs(s.path, 'ip', 'addr', 'add', `${net[k]}.2/24`, 'dev', 'eth0');
    inNs(s.path, 'ip', 'link', 'set', 'eth0', 'up');
    inNs(s.path, 'ip', 'route', 'add', 'default', 'via', `${net[k]}.1`);
    sh(['ip', '-n', h.ns.name, 'route', 'add', `${net[1 - k]}.0/24`, 'via', hosts[1 - k]!.address]);
  }
  const [client, server] = [sandboxes[0]!.path, sandboxes[1]!.path];
  const addr = `${net[1]}.2`;
  await waitFor(() => spawnSync('nsenter', [`--net=${client}`, '--', 'ping', '-c1', '-W1', addr]).status === 0, 'plain ping', 10_000, 50);
  const res = { none: { gbps: [] as number[], rtt: [] as number[] }, conntrack: { gbps: [] as number[], rtt: [] as number[] } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of (r % 2 ? ['conntrack', 'none'] : ['none', 'conntrack']) as (keyof typeof res)[]) {
      for (const h of hosts) {
        inNs(h.ns.path, 'nft', 'flush', 'ruleset');
        if (k === 'conntrack') sh(['nsenter', `--net=${h.ns.path}`, '--', 'nft', '-f', '-'], TABLE);
      }
      res[k].gbps.push(await iperf(server, client, addr));
      res[k].rtt.push(rttMs(client, addr));
    }
  }
  const tp = res.conntrack.gbps.map((v, i) => v / res.none.gbps[i]!);
  const rt = res.conntrack.rtt.map((v, i) => v / res.none.rtt[i]!);
  console.log(JSON.stringify(res));
  console.log(`none: ${res.none.gbps.map((x) => x.toFixed(2)).join(', ')} Gbit/s; RTT ${res.none.rtt.map((x) => x.toFixed(3)).join(', ')} ms`);
  console.log(`conntrack: ${res.conntrack.gbps.map((x) => x.toFixed(2)).join(', ')} Gbit/s; RTT ${res.conntrack.rtt.map((x) => x.toFixed(3)).join(', ')} ms`);
  console.log(`conntrack / none per round: throughput ${tp.map((x) => `${(100 * x).toFixed(0)} %`).join(', ')} (median ${(100 * median(tp)).toFixed(0)} %); RTT ${rt.map((x) => x.toFixed(2)).join(', ')} (median ${median(rt).toFixed(2)}×)`);
} finally {
  for (const s of sandboxes) removeNs(s);
  await lab.close();
}
