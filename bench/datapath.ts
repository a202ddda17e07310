/**
 * Data-path throughput (iperf3, one TCP stream), in one run, rounds alternating the paths:
 *   - sandbox ↔ sandbox on one bridge:  Switchyard  vs  plain veth + bridge  vs  Docker containers
 *   - outside → published port (DNAT):  Switchyard  vs  one hand-written nft DNAT rule  vs  Docker
 * "outside" is a netns joined to the host netns by a veth, as a client on the LAN would be.
 *
 *   node dist/bench/datapath.js [--seconds 5] [--rounds 3]        (Switchyard vs hand-built only)
 */
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { makeNs, removeNs, waitFor, type TestNs } from '../test/helpers/netns.js';
import type { DockerAnchor } from './anchors/docker.js';

function sh(args: string[]): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Runs an iperf3 server in serverNs (port 5201), a client from clientNs to addr:port; returns Gbit/s. */
async function iperf(serverNs: string, clientNs: string, addr: string, seconds: number, port = 5201): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await waitFor(() => sh(['nsenter', `--net=${serverNs}`, '--', 'ss', '-ltn']).includes(':5201'), 'iperf3 server');
    const out = sh(['nsenter', `--net=${clientNs}`, '--', 'iperf3', '-c', addr, '-p', String(port), '-t', String(seconds), '-J']);
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill();
  }
}

/** A veth from a host netns to a fresh "outside" netns: host side hostAddr/24, outside .2. */
function outsideOf(hostNs: string, net: string, tag: string): TestNs {
  const ext = makeNs(tag);
  const hostIp = (...a: string[]) => sh(['nsenter', `--net=${hostNs}`, '--', 'ip', ...a]);
  hostIp('link', 'add', 'syx0', 'type', 'veth', 'peer', 'name', 'syx1', 'netns', ext.name);
  hostIp('addr', 'add', `${net}.1/24`, 'dev', 'syx0');
  hostIp('link', 'set', 'syx0', 'up');
  sh(['ip', '-n', ext.name, 'addr', 'add', `${net}.2/24`, 'dev', 'syx1']);
  sh(['ip', '-n', ext.name, 'link', 'set', 'syx1', 'up']);
  return ext;
}

/** The same shapes built by hand: a host ns with a bridge, two sandbox namespaces, an outside ns. */
function manualTopology(): { host: TestNs; a: TestNs; b: TestNs; ext: TestNs } {
  const host = makeNs('mh');
  const a = makeNs('ma');
  const b = makeNs('mb');
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
  const ext = outsideOf(host.path, '198.18.3', 'mx');
  sh(['nsenter', `--net=${host.path}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const rules = `table ip bench { chain pre { type nat hook prerouting priority dstnat; tcp dport 5201 dnat to 10.240.0.2:5201; }; }`;
  const r = spawnSync('nsenter', [`--net=${host.path}`, '--', 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return { host, a, b, ext };
}

interface Pair { server: string; client: string; addr: string; ext: TestNs }

async function switchyardPair(d: TestDaemon): Promise<Pair> {
  d.cli(['network', 'create', '--subnet', '10.241.0.0/24', 'dp']);
  d.cli(['run', '-d', '--name', 'sa', '--network', 'dp', '-p', '5201:5201', '--', 'sleep', 'infinity']);
  d.cli(['run', '-d', '--name', 'sb', '--network', 'dp', '--', 'sleep', 'infinity']);
  const inspect = (n: string) => JSON.parse(d.cli(['inspect', n]).stdout)[0];
  return { server: inspect('sa').NetworkSettings.SandboxKey, client: inspect('sb').NetworkSettings.SandboxKey, addr: inspect('sa').NetworkSettings.Networks.dp.IPAddress, ext: outsideOf(d.host.path, '198.18.4', 'dx') };
}

async function dockerPair(dk: DockerAnchor): Promise<Pair> {
  await dk.createNetwork('dp', '10.242.0.0/24');
  const a = await dk.runContainer('dpa', 'dp', [[5201, 5201]]);
  const b = await dk.runContainer('dpb', 'dp');
  const na = await dk.netnsOf(a);
  const nb = await dk.netnsOf(b);
  return { server: na.path, client: nb.path, addr: na.ip('dp'), ext: outsideOf(dk.host.path, '198.18.5', 'dkx') };
}

export interface DatapathResult { gbps: Record<string, number[]>; seconds: number; rounds: number }

/** `d`: a running Switchyard daemon (its host netns gets one extra veth); `docker`: optional anchor. */
export async function runDatapath(opts: { d: TestDaemon; docker?: DockerAnchor; seconds: number; rounds: number }): Promise<DatapathResult> {
  const manual = manualTopology();
  const rows: Record<string, number[]> = {};
  const add = (k: string, v: number) => (rows[k] ??= []).push(Math.round(v * 100) / 100);
  const ext: TestNs[] = [manual.ext];
  try {
    const sy = await switchyardPair(opts.d);
    ext.push(sy.ext);
    const dk = opts.docker ? await dockerPair(opts.docker) : undefined;
    if (dk) ext.push(dk.ext);
    const S = opts.seconds;
    for (let r = 0; r < opts.rounds; r++) {
      add('bridge: plain veth+bridge', await iperf(manual.a.path, manual.b.path, '10.240.0.2', S));
      add('bridge: switchyard', await iperf(sy.server, sy.client, sy.addr, S));
      if (dk) add('bridge: docker', await iperf(dk.server, dk.client, dk.addr, S));
      add('published: plain nft DNAT', await iperf(manual.a.path, manual.ext.path, '198.18.3.1', S));
      add('published: switchyard', await iperf(sy.server, sy.ext.path, '198.18.4.1', S));
      if (dk) add('published: docker', await iperf(dk.server, dk.ext.path, '198.18.5.1', S));
    }
  } finally {
    for (const ns of [manual.host, manual.a, manual.b, ...ext]) removeNs(ns);
    opts.d.cli(['rm', '-f', 'sa', 'sb'], { allowFail: true });
    opts.d.cli(['network', 'rm', 'dp'], { allowFail: true });
    if (opts.docker) {
      for (const c of ['dpa', 'dpb']) await opts.docker.api('DELETE', `/containers/${c}?force=1`).catch(() => {});
      await opts.docker.removeNetwork('dp').catch(() => {});
    }
  }
  return { gbps: rows, seconds: opts.seconds, rounds: opts.rounds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
  const d = await startDaemon({ tag: 'dp' });
  try {
    const r = await runDatapath({ d, seconds: Number(values.seconds), rounds: Number(values.rounds) });
    console.log(JSON.stringify(r, null, 2));
  } finally {
    await d.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
