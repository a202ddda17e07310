/**
 * Data-path throughput (iperf3, one TCP stream), Switchyard against the same topology
 * built by hand without Switchyard, in one run:
 *   - sandbox ↔ sandbox on one bridge        vs  plain veth + bridge
 *   - outside → published port (DNAT)         vs  a routed path with one hand-written nft DNAT rule
 *
 *   node dist/bench/datapath.js [--seconds 5] [--rounds 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);

function sh(args: string[]): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Runs an iperf3 server in nsPath (port 5201), a client from clientNs to addr:port; returns Gbit/s. */
async function iperf(serverNs: string, clientNs: string, addr: string, port = 5201): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => sh(['nsenter', `--net=${serverNs}`, '--', 'ss', '-ltn']).includes(':5201'), 'iperf3 server');
    const out = sh(['nsenter', `--net=${clientNs}`, '--', 'iperf3', '-c', addr, '-p', String(port), '-t', String(SECONDS), '-J']);
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

/** The same shapes built by hand: a host ns with a bridge, two sandbox namespaces, an outside ns. */
function manualTopology(): { host: TestNs; a: TestNs; b: TestNs; ext: TestNs } {
  const host = makeNs('mh');
  const a = makeNs('ma');
  const b = makeNs('mb');
  const ext = makeNs('mx');
  const ip = (ns: TestNs, ...args: string[]) => sh(['ip', '-n', ns.name, ...args]);
  ip(host, 'link', 'add', 'sybr', 'type', 'bridge');
  ip(host, 'addr', 'add', '10.240.0.1/24', 'dev', 'sybr');
  ip(host, 'link', 'set', 'sybr', 'up');
  for (const [ns, addr, n] of [[a, '10.240.0.2', 'a'], [b, '10.240.0.3', 'b']] as const) {
    ip(host, 'link', 'add', `syv${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    ip(host, 'link', 'set', `syv${n}`, 'master', 'sybr', 'up');
    ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip(ns, 'link', 'set', 'eth0', 'up');
    ip(ns, 'route', 'add', 'default', 'via', '10.240.0.1');
  }
  ip(host, 'link', 'add', 'syx0', 'type', 'veth', 'peer', 'name', 'syx1', 'netns', ext.name);
  ip(host, 'addr', 'add', '198.18.3.1/24', 'dev', 'syx0');
  ip(host, 'link', 'set', 'syx0', 'up');
  ip(ext, 'addr', 'add', '198.18.3.2/24', 'dev', 'syx1');
  ip(ext, 'link', 'set', 'syx1', 'up');
  sh(['nsenter', `--net=${host.path}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  return { host, a, b, ext };
}

function manualNat(host: TestNs): void {
  const rules = `table ip bench { chain pre { type nat hook prerouting priority dstnat; tcp dport 5201 dnat to 10.240.0.2:5201; }; }`;
  const r = spawnSync('nsenter', [`--net=${host.path}`, '--', 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

async function switchyardTopology(): Promise<{ d: TestDaemon; a: string; b: string; bIp: string; ext: TestNs }> {
  const d = await startDaemon({ tag: 'dp' });
  try {
    return await buildOn(d);
  } catch (err) {
    await d.stop();
    throw err;
  }
}

async function buildOn(d: TestDaemon): Promise<{ d: TestDaemon; a: string; b: string; bIp: string; ext: TestNs }> {
  d.cli(['network', 'create', '--subnet', '10.241.0.0/24', 'dp']);
  d.cli(['run', '-d', '--name', 'sa', '--network', 'dp', '-p', '5201:5201', '--', 'sleep', 'infinity']);
  d.cli(['run', '-d', '--name', 'sb', '--network', 'dp', '--', 'sleep', 'infinity']);
  const inspect = (n: string) => JSON.parse(d.cli(['inspect', n]).stdout)[0];
  const ext = makeNs('dx');
  d.onHost('ip', ['link', 'add', 'syx0', 'type', 'veth', 'peer', 'name', 'syx1', 'netns', ext.name]);
  d.onHost('ip', ['addr', 'add', '198.18.4.1/24', 'dev', 'syx0']);
  d.onHost('ip', ['link', 'set', 'syx0', 'up']);
  sh(['ip', '-n', ext.name, 'addr', 'add', '198.18.4.2/24', 'dev', 'syx1']);
  sh(['ip', '-n', ext.name, 'link', 'set', 'syx1', 'up']);
  return { d, a: inspect('sa').NetworkSettings.SandboxKey, b: inspect('sb').NetworkSettings.SandboxKey, bIp: inspect('sa').NetworkSettings.Networks.dp.IPAddress, ext };
}

async function main(): Promise<void> {
  const manual = manualTopology();
  const rows: Record<string, number[]> = { plainBridge: [], syBridge: [], plainNat: [], syPublished: [] };
  let sy: Awaited<ReturnType<typeof switchyardTopology>> | undefined;
  try {
    manualNat(manual.host);
    sy = await switchyardTopology();
    for (let r = 0; r < ROUNDS; r++) {
      rows.plainBridge!.push(await iperf(manual.a.path, manual.b.path, '10.240.0.2'));
      rows.syBridge!.push(await iperf(sy.a, sy.b, sy.bIp));
      rows.plainNat!.push(await iperf(manual.a.path, manual.ext.path, '198.18.3.1'));
      rows.syPublished!.push(await iperf(sy.a, sy.ext.path, '198.18.4.1'));
    }
  } finally {
    for (const ns of [manual.host, manual.a, manual.b, manual.ext]) removeNs(ns);
    if (sy) {
      removeNs(sy.ext);
      await sy.d.stop();
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const f = (x: number) => x.toFixed(1);
  console.log(`| Path | Switchyard Gbit/s (median of ${ROUNDS}) | hand-built Gbit/s | ratio |`);
  console.log('|---|---|---|---|');
  console.log(`| sandbox ↔ sandbox, one bridge | ${f(med(rows.syBridge!))} | ${f(med(rows.plainBridge!))} (veth + bridge) | ${(med(rows.syBridge!) / med(rows.plainBridge!)).toFixed(2)} |`);
  console.log(`| outside → published port | ${f(med(rows.syPublished!))} | ${f(med(rows.plainNat!))} (one nft DNAT rule) | ${(med(rows.syPublished!) / med(rows.plainNat!)).toFixed(2)} |`);
  console.log(`\nraw: ${JSON.stringify(rows)}`);
}

await main();
