/**
 * Overlay figures on the cluster lab (test/helpers/cluster-lab.ts: host namespaces on an
 * underlay bridge, real etcd, one real daemon per host), in one run:
 *   - throughput (iperf3, one TCP stream) and RTT (ping, p50/p99) between sandboxes on two
 *     hosts over a Switchyard overlay, vs a hand-built VXLAN pair between the SAME sandbox
 *     namespaces (a bare vxlan device in each, socket on the same underlay: the kernel's
 *     limit for this encapsulation), vs the plain underlay (host namespace to host namespace);
 *     rounds alternate the three paths;
 *   - time from `run -d` (create + start through the API) on host A to the first successful
 *     ping from a sandbox on host B;
 *   - overlay network create/remove and attach/detach (connect/disconnect of a running
 *     sandbox) p50, next to a bridge network's on the same daemon.
 *
 *   node dist/bench/overlay.js [--hosts 3] [--seconds 5] [--rounds 3] [--iterations 30]
 * `npm run bench` runs it (skip with --skip overlay).
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startClusterLab, type ClusterLab } from '../test/helpers/cluster-lab.js';
import { waitFor } from '../test/helpers/netns.js';
import { summarize, type Summary } from './stats.js';

function sh(args: string[], allowFail = false): { status: number | null; stdout: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (!allowFail && r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
}
const inNs = (nsPath: string, ...args: string[]) => sh(['nsenter', `--net=${nsPath}`, '--', ...args]).stdout;

async function iperf(serverNs: string, clientNs: string, addr: string, seconds: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => inNs(serverNs, 'ss', '-ltn').includes(':5201'), 'iperf3 server');
    const out = inNs(clientNs, 'iperf3', '-c', addr, '-p', '5201', '-t', String(seconds), '-J');
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

/** Per-packet RTTs (ms) of `count` pings 5 ms apart. */
function rtts(fromNs: string, addr: string, count: number): number[] {
  const out = sh(['nsenter', `--net=${fromNs}`, '--', 'ping', '-n', '-c', String(count), '-i', '0.005', '-W', '1', addr], true).stdout;
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

export interface OverlayBenchResult {
  hosts: number;
  throughputGbps: Record<'overlay' | 'hand-built vxlan' | 'underlay', number[]>;
  rttMs: Record<'overlay' | 'hand-built vxlan' | 'underlay', Summary>;
  runToPingMs: Summary;
  ops: Record<string, Summary>;
  /** The lab's leak check at the end, if it failed (as bench/run.ts records `leftovers`). */
  leakCheck?: string;
}

type Inspect = { State: { Pid: number }; NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } };

export async function runOverlayBench(o: { hosts?: number; seconds?: number; rounds?: number; iterations?: number; log?: (m: string) => void } = {}): Promise<OverlayBenchResult> {
  const hosts = o.hosts ?? 3;
  const seconds = o.seconds ?? 5;
  const rounds = o.rounds ?? 3;
  const iterations = o.iterations ?? 30;
  const log = o.log ?? ((m: string) => console.error(`[overlay bench] ${m}`));
  let lab: ClusterLab | undefined;
  let result: OverlayBenchResult | undefined;
  const hand: { host: number; pid: number }[] = [];
  try {
    lab = await startClusterLab({ hosts });
    const c0 = lab.hosts[0]!.daemon.client;
    const c1 = lab.hosts[1]!.daemon.client;
    await c0.createNetwork({ Name: 'ovb', Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: '10.181.0.0/24' }] } });
    const run = async (c: typeof c0, name: string, net = 'ovb'): Promise<Inspect> => {
      const { Id } = await c.createSandbox({ Name: name, Cmd: ['sleep', 'infinity'], NetworkMode: net });
      await c.startSandbox(Id);
      return (await c.inspectSandbox(Id)) as unknown as Inspect;
    };
    const a = await run(c0, 'ba');
    const b = await run(c1, 'bb');
    const aNs = a.NetworkSettings.SandboxKey;
    const bNs = b.NetworkSettings.SandboxKey;
    const bIp = b.NetworkSettings.Networks['ovb']!.IPAddress;
    await waitFor(() => sh(['nsenter', `--net=${aNs}`, '--', 'ping', '-c1', '-W1', bIp], true).status === 0, 'overlay ping', 10_000, 50);

    // The hand-built pair: a bare VXLAN device (VNI 999, port 4790) made in each host's
    // namespace (its socket on the underlay) and moved into the same sandbox namespaces.
    for (const [i, sb, self, peer, addr] of [[0, a, lab.hosts[0]!, lab.hosts[1]!, '10.182.0.1'], [1, b, lab.hosts[1]!, lab.hosts[0]!, '10.182.0.2']] as const) {
      sh(['ip', '-n', self.ns.name, 'link', 'add', 'syhv', 'type', 'vxlan', 'id', '999', 'local', self.address, 'remote', peer.address, 'dstport', '4790', 'dev', 'uplink']);
      sh(['ip', '-n', self.ns.name, 'link', 'set', 'syhv', 'netns', String(sb.State.Pid)]);
      hand.push({ host: i, pid: sb.State.Pid });
      const ns = sb.NetworkSettings.SandboxKey;
      inNs(ns, 'ip', 'addr', 'add', `${addr}/24`, 'dev', 'syhv');
      inNs(ns, 'ip', 'link', 'set', 'syhv', 'mtu', '1450', 'up');
    }
    await waitFor(() => sh(['nsenter', `--net=${aNs}`, '--', 'ping', '-c1', '-W1', '10.182.0.2'], true).status === 0, 'hand-built ping', 10_000, 50);

    const paths = {
      overlay: { server: bNs, client: aNs, addr: bIp },
      'hand-built vxlan': { server: bNs, client: aNs, addr: '10.182.0.2' },
      underlay: { server: lab.hosts[1]!.ns.path, client: lab.hosts[0]!.ns.path, addr: lab.hosts[1]!.address },
    } as const;
    type P = keyof typeof paths;
    const tp: Record<P, number[]> = { overlay: [], 'hand-built vxlan': [], underlay: [] };
    const rt: Record<P, number[]> = { overlay: [], 'hand-built vxlan': [], underlay: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of Object.keys(paths) as P[]) {
        const p = paths[k];
        tp[k].push(await iperf(p.server, p.client, p.addr, seconds));
        rt[k].push(...rtts(p.client, p.addr, 200));
        log(`round ${r + 1} ${k}: ${tp[k].at(-1)!.toFixed(2)} Gbit/s`);
      }
    }

    // run -d on host0 → first ping from bb on host1.
    const toPing: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      const x = await run(c0, `bx${i}`);
      const ip = x.NetworkSettings.Networks['ovb']!.IPAddress;
      await waitFor(() => sh(['nsenter', `--net=${bNs}`, '--', 'ping', '-c1', '-W0.2', ip], true).status === 0, 'first ping', 10_000, 0);
      toPing.push(performance.now() - t0);
      await c0.removeSandbox(`bx${i}`, true);
    }
    log(`run -d → first ping p50 ${summarize(toPing).p50.toFixed(1)} ms`);

    // create/rm and connect/disconnect: overlay vs bridge on host0, interleaved.
    const ops: Record<string, number[]> = {};
    const timed = async (k: string, fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      (ops[k] ??= []).push(performance.now() - t);
    };
    for (let i = 0; i < iterations; i++) {
      await timed('overlay create', () => c0.createNetwork({ Name: `ovc${i}`, Driver: 'overlay', Attachable: true, IPAM: { Config: [{ Subnet: `10.183.${i}.0/24` }] } }));
      await timed('bridge create', () => c0.createNetwork({ Name: `brc${i}`, IPAM: { Config: [{ Subnet: `10.184.${i}.0/24` }] } }));
      await timed('overlay remove', () => c0.removeNetwork(`ovc${i}`));
      await timed('bridge remove', () => c0.removeNetwork(`brc${i}`));
    }
    await c0.createNetwork({ Name: 'brb', IPAM: { Config: [{ Subnet: '10.185.0.0/24' }] } });
    await c0.createNetwork({ Name: 'brh', IPAM: { Config: [{ Subnet: '10.186.0.0/24' }] } });
    await run(c0, 'bc', 'brh');
    for (let i = 0; i < iterations; i++) {
      await timed('overlay connect', () => c0.connectNetwork('ovb', 'bc'));
      await timed('overlay disconnect', () => c0.disconnectNetwork('ovb', 'bc'));
      await timed('bridge connect', () => c0.connectNetwork('brb', 'bc'));
      await timed('bridge disconnect', () => c0.disconnectNetwork('brb', 'bc'));
    }
    const summary = (m: Record<P, number[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)])) as Record<P, Summary>;
    result = {
      hosts,
      throughputGbps: tp,
      rttMs: summary(rt),
      runToPingMs: summarize(toPing),
      ops: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, summarize(v)])),
    };
    return result;
  } finally {
    try {
      await lab?.close();
    } catch (err) {
      // The figures are kept, with the failure beside them (it may be another process's
      // leftover in the main namespace: the check compares with the state at start).
      if (!result) throw err;
      result.leakCheck = String(err);
      log(`leak check after the bench: ${String(err)}`);
    }
  }
}

const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

export function overlayMarkdown(r: OverlayBenchResult): string {
  const out: string[] = [];
  const L = (line = '') => out.push(line);
  const ov = med(r.throughputGbps.overlay);
  const hb = med(r.throughputGbps['hand-built vxlan']);
  L(`### Overlay across two lab hosts (${r.hosts} hosts, real etcd)`);
  L('| path | throughput (median of rounds) | RTT p50 / p99 |');
  L('|---|---|---|');
  for (const k of ['overlay', 'hand-built vxlan', 'underlay'] as const) {
    L(`| ${k} | ${med(r.throughputGbps[k]).toFixed(2)} Gbit/s | ${r.rttMs[k].p50.toFixed(3)} / ${r.rttMs[k].p99.toFixed(3)} ms |`);
  }
  L(`Overlay / hand-built VXLAN throughput: ${((100 * ov) / hb).toFixed(0)} %.`);
  L();
  L(`\`run -d\` on host0 → first ping from host1: p50 ${r.runToPingMs.p50.toFixed(1)} ms, p99 ${r.runToPingMs.p99.toFixed(1)} ms (n=${r.runToPingMs.n}).`);
  L();
  L('| operation | overlay p50 | bridge p50 |');
  L('|---|---|---|');
  for (const op of ['create', 'remove', 'connect', 'disconnect']) {
    L(`| ${op} | ${r.ops[`overlay ${op}`]!.p50.toFixed(1)} ms | ${r.ops[`bridge ${op}`]!.p50.toFixed(1)} ms |`);
  }
  if (r.leakCheck) L(`\nLeak check after the run: ${r.leakCheck}`);
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const { values } = parseArgs({ options: { hosts: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, iterations: { type: 'string' } } });
  const r = await runOverlayBench({
    hosts: Number(values.hosts ?? 3),
    seconds: Number(values.seconds ?? 5),
    rounds: Number(values.rounds ?? 3),
    iterations: Number(values.iterations ?? 30),
  });
  console.log(JSON.stringify(r, null, 2));
  console.log(overlayMarkdown(r));
}
