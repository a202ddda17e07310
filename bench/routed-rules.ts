/**
 * What Switchyard's firewall costs a routed packet, piece by piece (docs/BENCHMARKS.md
 * "Routed across the cluster lab"). Plain routing between two fresh sandbox namespaces
 * through two clean host namespaces on a lab underlay (no daemon): each sandbox has a veth
 * named like a routed port (`syrbc`) to its host namespace, and each host routes the other
 * sandbox's /24 via the other host's underlay address. Rounds alternate (the order rotates)
 * between rulesets loaded in both host namespaces:
 *   - none:       no nftables ruleset;
 *   - conntrack:  one table with one forward rule, `ct state established,related accept`
 *                 (conntrack on for every forwarded packet, as any table with `ct` or NAT);
 *   - routed:     `table inet switchyard-routed` as src/ renders it, with this pair's port,
 *                 its source address and one routed network (10.62.0.0/16);
 *   - switchyard: that plus `table inet switchyard` and `table bridge switchyard` (renderBase,
 *                 renderAntiSpoofBase), everything a daemon's host namespace holds.
 * ping (400 packets 3 ms apart: mean of the fastest 90 %) and iperf3 (one TCP stream) per
 * round; ratios to `none` are paired per round, then the median.
 *
 *   npm run build && node dist/bench/routed-rules.js [--rounds 6] [--seconds 3] [--variants none,conntrack,routed,switchyard]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startClusterLab } from '../test/helpers/cluster-lab.js';
import { makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';
import { renderBase } from '../src/services/firewall/ruleset/network.js';
import { renderAntiSpoofBase } from '../src/services/firewall/ruleset/antispoof.js';
import { renderRoutedReload } from '../src/services/firewall/ruleset/routed.js';
import { iperf3 } from './iperf.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '3' }, variants: { type: 'string', default: 'none,conntrack,routed,switchyard' } },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const VARIANTS = values.variants!.split(',');

function sh(args: string[], input?: string): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (nsPath: string, ...args: string[]) => sh(['nsenter', `--net=${nsPath}`, '--', ...args]);

/** Mean of the fastest 90 % of 400 pings (ping prints µs steps; the mean resolves finer). */
function rttMs(fromNs: string, addr: string): number {
  const xs = [...inNs(fromNs, 'ping', '-n', '-c', '400', '-i', '0.003', addr).matchAll(/time=([\d.]+)/g)].map((m) => Number(m[1])).sort((p, q) => p - q);
  const kept = xs.slice(0, Math.floor(xs.length * 0.9));
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

const NET = ['10.62.7', '10.62.8'] as const;
const CONNTRACK = 'table inet swyct {\n chain f {\n  type filter hook forward priority 0; policy accept;\n  ct state established,related accept\n }\n}\n';
function ruleset(variant: string, k: 0 | 1): string {
  const routed = renderRoutedReload([{ subnets: ['10.62.0.0/16'], internal: false }], [{ port: 'syrbc', ipv4: `${NET[k]}.2` }]);
  switch (variant) {
    case 'none': return '';
    case 'conntrack': return CONNTRACK;
    case 'routed': return routed;
    case 'switchyard': return renderBase() + renderAntiSpoofBase() + routed;
    default: throw new Error(`unknown variant ${variant}`);
  }
}

const lab = await startClusterLab({ hosts: 0 });
const sandboxes: TestNs[] = [];
try {
  const hosts = [lab.addNamespace('rbch'), lab.addNamespace('rbch')];
  for (const k of [0, 1] as const) {
    const h = hosts[k]!;
    const s = makeNs('rbcs');
    sandboxes.push(s);
    sh(['ip', 'netns', 'exec', h.ns.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    sh(['ip', '-n', h.ns.name, 'link', 'add', 'syrbc', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s.name]);
    sh(['ip', '-n', h.ns.name, 'addr', 'add', `${NET[k]}.1/24`, 'dev', 'syrbc']);
    sh(['ip', '-n', h.ns.name, 'link', 'set', 'syrbc', 'up']);
    inNs(s.path, 'ip', 'addr', 'add', `${NET[k]}.2/24`, 'dev', 'eth0');
    inNs(s.path, 'ip', 'link', 'set', 'eth0', 'up');
    inNs(s.path, 'ip', 'route', 'add', 'default', 'via', `${NET[k]}.1`);
    sh(['ip', '-n', h.ns.name, 'route', 'add', `${NET[1 - k]}.0/24`, 'via', hosts[1 - k]!.address]);
  }
  const [client, server] = [sandboxes[0]!.path, sandboxes[1]!.path];
  const addr = `${NET[1]}.2`;
  const res = Object.fromEntries(VARIANTS.map((v) => [v, { gbps: [] as number[], rtt: [] as number[] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!)) {
      for (const [k, h] of hosts.entries()) {
        inNs(h.ns.path, 'nft', 'flush', 'ruleset');
        const text = ruleset(v, k as 0 | 1);
        if (text) sh(['nsenter', `--net=${h.ns.path}`, '--', 'nft', '-f', '-'], text);
      }
      // Every variant must carry the traffic (a ruleset that drops it would measure nothing).
      await waitFor(() => spawnSync('nsenter', [`--net=${client}`, '--', 'ping', '-c1', '-W1', addr]).status === 0, `${v}: ping`, 10_000, 50);
      res[v]!.rtt.push(rttMs(client, addr));
      res[v]!.gbps.push(await iperf3(server, client, addr, SECONDS));
    }
  }
  console.log(JSON.stringify(res));
  const base = res[VARIANTS[0]!]!;
  for (const v of VARIANTS) {
    const tp = res[v]!.gbps.map((x, i) => x / base.gbps[i]!);
    const rt = res[v]!.rtt.map((x, i) => x / base.rtt[i]!);
    console.log(`${v}: throughput ${median(res[v]!.gbps).toFixed(2)} Gbit/s (${(100 * median(tp)).toFixed(1)} % of ${VARIANTS[0]}), RTT ${(1000 * median(res[v]!.rtt)).toFixed(1)} µs (${median(rt).toFixed(2)}×)`);
  }
} finally {
  for (const s of sandboxes) removeNs(s);
  await lab.close();
}
