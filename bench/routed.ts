/**
 * Routed networks' data path (docs/drivers/routed.md): two hosts on one segment, a sandbox
 * on each, traffic between the sandboxes across the hosts, in rounds alternating
 *   - plain: the same namespaces wired by hand with `ip` (a veth per sandbox, a /24 on each
 *     side, a route to the other host's /24 via its underlay address; no nftables), and
 *   - routed: the routed driver (veth, /32 and link-local gateway, a route per remote block,
 *     its nftables table with anti-spoofing and isolation).
 * iperf3 (one TCP stream, Gbit/s) and ping RTT (200 echo requests, 10 ms apart, mean µs).
 * Not part of `npm run bench` yet: the overlay next to it, and the propagation and
 * route-table-size figures of issue 14, are still to be added (routed networks now run on the
 * cluster layer: engine/routed-blocks.ts).
 *
 *   npm run build && node dist/bench/routed.js [--seconds 5] [--rounds 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { inNs, sh, type TestNs } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';
import { routedEndpoint, routedNetwork, RoutedLab } from '../test/helpers/routed-lab.js';

interface Pair {
  client: TestNs;
  server: TestNs;
  serverAddr: string;
}

async function iperf(p: Pair, seconds: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${p.server.path}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => inNs(p.server.name, 'ss', ['-ltn']).stdout.includes(':5201'), 'iperf3 server');
    const out = inNs(p.client.name, 'iperf3', ['-c', p.serverAddr, '-p', '5201', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 }).stdout;
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

function rttMicros(p: Pair): number {
  const out = inNs(p.client.name, 'ping', ['-q', '-c', '200', '-i', '0.01', p.serverAddr]).stdout;
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  if (!m) throw new Error(`ping: ${out}`);
  return Number(m[1]) * 1000;
}

/** Two hosts on a segment with a sandbox each, wired by hand. */
function plain(lab: RoutedLab): Pair {
  const seg = lab.segment('bps');
  const hosts = [1, 2].map((n) => {
    const h = lab.ns('bph');
    inNs(h.name, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    lab.plug(h, seg, 'sywan0', [`10.98.0.${n}/24`]);
    const s = lab.ns('bpsb');
    sh('ip', ['-n', h.name, 'link', 'add', 'syv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.name]);
    sh('ip', ['-n', h.name, 'addr', 'add', `10.97.${n}.1/24`, 'dev', 'syv0']);
    sh('ip', ['-n', h.name, 'link', 'set', 'syv0', 'up']);
    sh('ip', ['-n', s.name, 'addr', 'add', `10.97.${n}.2/24`, 'dev', 'eth0']);
    sh('ip', ['-n', s.name, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', s.name, 'route', 'add', 'default', 'via', `10.97.${n}.1`]);
    sh('ip', ['-n', h.name, 'route', 'add', `10.97.${3 - n}.0/24`, 'via', `10.98.0.${3 - n}`]);
    return s;
  });
  return { client: hosts[0]!, server: hosts[1]!, serverAddr: '10.97.2.2' };
}

/** The same with the routed driver. */
function routed(lab: RoutedLab): Pair {
  const seg = lab.segment('brs');
  const net = routedNetwork('be'.repeat(32), ['10.96.0.0/16']);
  const sandboxes = [1, 2].map((n) => {
    const h = lab.host('brh');
    lab.plug(h.ns, seg, 'sywan0', [`10.95.0.${n}/24`]);
    const s = lab.ns('brsb');
    const ep = routedEndpoint(net, `10.96.0.${(n - 1) * 64 + 2}`);
    h.run(() => {
      h.driver.ensureNetwork(net);
      h.driver.join(net, ep, { id: ep.sandboxId, nsPath: s.path }, { gateway: true });
      h.driver.syncRemoteBlocks(net, [{ nodeId: `n${3 - n}`, nodeAddress: `10.95.0.${3 - n}`, cidr: `10.96.0.${(2 - n) * 64}/26` }]);
    });
    return s;
  });
  return { client: sandboxes[0]!, server: sandboxes[1]!, serverAddr: '10.96.0.66' };
}

export async function runRoutedBench(o: { seconds: number; rounds: number }): Promise<Record<string, { gbps: number[]; rttUs: number[] }>> {
  const lab = new RoutedLab();
  try {
    const paths = { plain: plain(lab), routed: routed(lab) };
    const out: Record<string, { gbps: number[]; rttUs: number[] }> = { plain: { gbps: [], rttUs: [] }, routed: { gbps: [], rttUs: [] } };
    for (let r = 0; r < o.rounds; r++) {
      for (const [name, p] of Object.entries(paths)) {
        out[name]!.gbps.push(await iperf(p, o.seconds));
        out[name]!.rttUs.push(rttMicros(p));
      }
    }
    return out;
  } finally {
    await lab.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
  if (spawnSync('iperf3', ['--version']).error) throw new Error('iperf3 is not installed (scripts/install.sh)');
  const res = await runRoutedBench({ seconds: Number(values.seconds), rounds: Number(values.rounds) });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, r] of Object.entries(res)) {
    console.log(`${name.padEnd(7)} throughput ${median(r.gbps).toFixed(2)} Gbit/s (${r.gbps.map((x) => x.toFixed(2)).join(', ')})  RTT ${median(r.rttUs).toFixed(0)} µs (${r.rttUs.map((x) => x.toFixed(0)).join(', ')})`);
  }
  const ratio = median(res.routed!.gbps) / median(res.plain!.gbps);
  console.log(`routed / plain throughput: ${(ratio * 100).toFixed(1)} %`);
}
