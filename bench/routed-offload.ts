/**
 * The routed driver's flowtable offload against plain routing, side by side in one run
 * (issue 14: "≥ 98 % of plain routing between the same namespaces without Switchyard"). Two
 * lab hosts on an underlay segment, one routed network, a sandbox on each
 * (test/helpers/routed-lab.ts routedPair), rounds of three cases over the same sandboxes,
 * veths and routes:
 *   - offload:     the driver's tables as made (the flowtable takes established TCP/UDP flows);
 *   - no offload:  the same tables without their OFFLOAD rules (every packet walks the hooks);
 *   - no firewall: `nft flush ruleset` in both host namespaces (plain routing).
 * Per case and round: iperf3 (one TCP stream), the median of 300 UDP round trips on one flow
 * (offloaded after its first packets), and ping (ICMP, which a flowtable never takes). The
 * figures are medians of per-round ratios to no firewall.
 *
 * Needs nf_flow_table, which this machine's kernel lacks: on such a host the script runs itself
 * inside the VM (../shared/kernel-vm/kernel-vm.sh beside the clone, Debian 12's stock kernel
 * under emulation, as `npm run test:vm` does), where only the ratios mean anything.
 *
 *   npm run build && node dist/bench/routed-offload.js [--seconds 3] [--rounds 5] [--here]
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { warmThreadpool } from '../src/kernel/netns.js';
import { assertNoLeaks, inNs, waitFor } from '../test/helpers/netns.js';
import { dropOffloadRules, PAIR_ADDR, routedPair } from '../test/helpers/routed-lab.js';
import { iperf3 } from './iperf.js';
import { rerunInVm } from './in-vm.js';

const UDP_ECHO = 'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(("0.0.0.0", 6400))\nwhile True:\n    d, a = s.recvfrom(64)\n    s.sendto(d, a)\n';
/** 320 UDP round trips from one socket (one flow), the first 20 left out; the median in ms. */
const UDP_PING = 'import socket, sys, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(2)\ns.connect((sys.argv[1], 6400))\nts = []\nfor i in range(320):\n    t0 = time.perf_counter()\n    s.send(b"x")\n    s.recv(64)\n    ts.append(time.perf_counter() - t0)\nts = sorted(ts[20:])\nprint(1000 * ts[len(ts) // 2])\n';

type Case = 'offload' | 'no offload' | 'no firewall';
const CASES: Case[] = ['offload', 'no offload', 'no firewall'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function inGuest(seconds: number, rounds: number): Promise<void> {
  await warmThreadpool();
  const { lab, h, net, s, logs } = routedPair();
  try {
    if (logs.some((l) => l.includes('no flowtable'))) throw new Error(`this kernel has no flowtable: ${logs.join('; ')}`);
    const m = Object.fromEntries(CASES.map((c) => [c, { gbps: [] as number[], udpMs: [] as number[], pingMs: [] as number[] }])) as Record<Case, { gbps: number[]; udpMs: number[]; pingMs: number[] }>;
    const echo = spawn('ip', ['netns', 'exec', s[1]!.ns.name, 'python3', '-c', UDP_ECHO], { stdio: 'ignore' });
    try {
      await waitFor(() => inNs(s[1]!.ns.name, 'ss', ['-lun']).stdout.includes(':6400'), 'udp echo', 30_000, 100);
      for (let r = 0; r < rounds; r++) {
        for (const c of CASES) {
          for (const [i, x] of h.entries()) x.run(() => x.driver.reloadFirewall([net], [s[i]!.ep]));
          if (c === 'no offload') for (const x of h) dropOffloadRules(x);
          if (c === 'no firewall') for (const x of h) inNs(x.ns.name, 'nft', ['flush', 'ruleset']);
          m[c].gbps.push(await iperf3(s[1]!.ns.path, s[0]!.ns.path, PAIR_ADDR[1], seconds));
          m[c].udpMs.push(Number(inNs(s[0]!.ns.name, 'python3', ['-c', UDP_PING, PAIR_ADDR[1]]).stdout.trim()));
          const ping = inNs(s[0]!.ns.name, 'ping', ['-n', '-c', '100', '-i', '0.01', PAIR_ADDR[1]]).stdout;
          m[c].pingMs.push(median([...ping.matchAll(/time=([\d.]+)/g)].map((x) => Number(x[1]))));
          console.error(`[routed-offload] round ${r + 1} ${c}: ${m[c].gbps.at(-1)!.toFixed(2)} Gbit/s, UDP ${m[c].udpMs.at(-1)!.toFixed(3)} ms, ping ${m[c].pingMs.at(-1)!.toFixed(3)} ms`);
        }
      }
    } finally {
      echo.kill();
    }
    const ratio = (c: Case, k: 'gbps' | 'udpMs' | 'pingMs') => median(m[c][k].map((v, i) => v / m['no firewall'][k][i]!));
    console.log(JSON.stringify({ kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(), seconds, rounds, m }));
    console.log('| case | throughput, median (Gbit/s) | / no firewall | UDP round trip p50 (ms) | / no firewall | ping p50 (ms) | / no firewall |');
    console.log('|---|---|---|---|---|---|---|');
    for (const c of CASES) {
      console.log(`| ${c} | ${median(m[c].gbps).toFixed(2)} | ${(100 * ratio(c, 'gbps')).toFixed(1)} % | ${median(m[c].udpMs).toFixed(3)} | ${ratio(c, 'udpMs').toFixed(2)}× | ${median(m[c].pingMs).toFixed(3)} | ${ratio(c, 'pingMs').toFixed(2)}× |`);
    }
  } finally {
    const names = lab.names();
    await lab.destroy();
    assertNoLeaks(names);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' }, here: { type: 'boolean', default: false } } });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (process.env.SWY_KVM_GUEST === '1' || values.here) return inGuest(seconds, rounds);
  rerunInVm(import.meta.url, ['--seconds', String(seconds), '--rounds', String(rounds)], { timeoutSeconds: 180 + rounds * 3 * (seconds + 20) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
