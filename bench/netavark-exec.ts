/**
 * netavark setup/teardown wall time, the way Podman pays it (a process per call), side by side
 * in one run: Debian's netavark 1.4.0 (+ aardvark-dns 1.4.0) and Switchyard's drop-in
 * (libexec/netavark: a C forwarder built from libexec/netavark.c, the work in a real daemon). The method of
 * ../shared/anchors/31-netavark-bench.sh: `nsenter --net=HOST -- netavark --config DIR
 * --rootless=false --aardvark-binary=PATH setup|teardown NETNS < options.json`, one bridge
 * network per case, the same NetworkOptions for both (the script's shape: a /22 Podman
 * network, a static IP, an alias, optionally DNS and one published tcp port), each system
 * in a host namespace of its own, rounds interleaved (ref, ours, ref, ours…).
 *   cold: the first container of the network (the setup makes the bridge and rules,
 *         the teardown removes them again: netavark's "complete teardown");
 *   warm: the network already has one container.
 *
 * An untimed 250 ms pause follows every teardown (as in `npm run bench`).
 *
 *   npm run build && node dist/bench/netavark-exec.js [ROUNDS]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeNs, removeNs, type TestNs } from '../test/helpers/netns.js';
import { REPO, startDaemon } from '../test/helpers/daemon.js';
import { summarize } from './stats.js';

const REF = '/usr/lib/podman/netavark';
const AARDVARK = '/usr/lib/podman/aardvark-dns';
const OURS = path.join(REPO, 'libexec', 'netavark');
const ROUNDS = Number(process.argv[2] ?? 30);
const SETTLE_MS = 250;

function netinfo(name: string, iface: string, pre: string, dns: boolean) {
  return {
    name, id: String(name.length).padStart(64, '0'), driver: 'bridge', network_interface: iface,
    subnets: [{ subnet: `${pre}.0.0/22`, gateway: `${pre}.0.1` }], ipv6_enabled: false, internal: false, dns_enabled: dns,
    ipam_options: { driver: 'host-local' },
  };
}
function opts(i: number, net: string, iface: string, pre: string, dns: boolean, hostPort: number): string {
  const ip = `${pre}.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 2}`;
  return JSON.stringify({
    container_id: String(i).padStart(64, '0'), container_name: `c${i}`,
    ...(hostPort ? { port_mappings: [{ host_ip: '', container_port: 80, host_port: hostPort, range: 1, protocol: 'tcp' }] } : {}),
    networks: { [net]: { static_ips: [ip], aliases: [`c${i}`], interface_name: 'eth0' } },
    network_info: { [net]: netinfo(net, iface, pre, dns) },
  });
}

interface System { label: string; bin: string; host: TestNs; env: NodeJS.ProcessEnv }

async function main(): Promise<void> {
  const d = await startDaemon({ tag: 'nvb' });
  const refHost = makeNs('nvbref');
  const conf = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-nvbench-'));
  const systems: System[] = [
    { label: 'netavark 1.4.0 (Debian)', bin: REF, host: refHost, env: process.env },
    { label: 'Switchyard libexec/netavark', bin: OURS, host: d.host, env: { ...process.env, SWITCHYARD_NETAVARK_SOCKET: d.socket } },
  ];
  const ctr = new Map(systems.map((s) => [s.label, { x: makeNs('nvbx'), a: [makeNs('nvba'), makeNs('nvbb')] }]));
  const samples = new Map<string, number[]>();
  const errors = new Map<string, number>();
  const errorText = new Set<string>();
  const call = (s: System, cmd: 'setup' | 'teardown', ns: TestNs, input: string, label?: string) => {
    const t0 = performance.now();
    const r = spawnSync('nsenter', [`--net=${s.host.path}`, '--', s.bin, '--config', conf, '--rootless=false', `--aardvark-binary=${AARDVARK}`, cmd, ns.path], { input, encoding: 'utf8', env: s.env });
    const ms = performance.now() - t0;
    if (r.status !== 0) {
      // Recorded and counted, as the anchor script does (netavark 1.4 + aardvark 1.4 now and
      // then fail a teardown with "aardvark pid not found"); a setup that failed is fatal.
      if (cmd === 'setup') throw new Error(`${s.label} ${cmd}: ${r.status} ${r.stdout} ${r.stderr}`);
      const key = `${label ?? 'untimed teardown'}\u0000${s.label}`;
      errors.set(key, (errors.get(key) ?? 0) + 1);
      errorText.add(`${s.label} ${cmd}: ${r.stdout.trim()}`);
    }
    // Untimed settle after a teardown, as `npm run bench` does (docs/BENCHMARKS.md): a
    // teardown leaves kernel work behind (veth deletion, Switchyard's deferred link
    // deletion), which would otherwise land in the next system's timing.
    if (cmd === 'teardown') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
    if (label) {
      const key = `${label}\u0000${s.label}`;
      samples.set(key, [...(samples.get(key) ?? []), ms]);
    }
  };
  const cases: [string, string][] = [
    ['plain', opts(1, 'nvplain', 'nvbr0', '10.90', false, 0)],
    ['port_dns', opts(1, 'nvdns', 'nvbr1', '10.91', true, 8080)],
  ];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of systems) {
        const { x } = ctr.get(s.label)!;
        for (const [name, o] of cases) {
          call(s, 'setup', x, o, `cold setup ${name}`);
          call(s, 'teardown', x, o, `cold teardown ${name}`);
        }
      }
    }
    const anchors: [string, string][] = [
      ['plain', opts(0, 'nvplain', 'nvbr0', '10.90', false, 0)],
      ['port_dns', opts(2, 'nvdns', 'nvbr1', '10.91', true, 0)],
    ];
    // One anchor container per network, each in a namespace of its own.
    for (const s of systems) anchors.forEach(([, o], i) => call(s, 'setup', ctr.get(s.label)!.a[i]!, o));
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of systems) {
        const { x } = ctr.get(s.label)!;
        for (const [name, o] of cases) {
          call(s, 'setup', x, o, `warm setup ${name}`);
          call(s, 'teardown', x, o, `warm teardown ${name}`);
        }
      }
    }
    for (const s of systems) anchors.forEach(([, o], i) => call(s, 'teardown', ctr.get(s.label)!.a[i]!, o));
  } finally {
    await d.stop();
    for (const { x, a } of ctr.values()) {
      removeNs(x);
      a.forEach((n) => removeNs(n));
    }
    const pidFile = path.join(conf, 'aardvark-dns', 'aardvark.pid');
    if (fs.existsSync(pidFile)) {
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      if (pid > 1) try { process.kill(pid); } catch { /* gone */ }
    }
    removeNs(refHost);
    fs.rmSync(conf, { recursive: true, force: true });
  }
  const f = (x: number) => x.toFixed(1);
  const lines = [
    `netavark setup/teardown, exec wall time in ms (${ROUNDS} rounds, interleaved; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`,
    '',
    '| operation | system | p50 | p99 | min | failed |',
    '|---|---|---|---|---|---|',
  ];
  for (const [key, v] of samples) {
    const [op, sys] = key.split('\u0000');
    const s = summarize(v);
    lines.push(`| ${op} | ${sys} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.min)} | ${errors.get(key) ?? 0} |`);
  }
  for (const e of errorText) lines.push('', `failure seen: ${e}`);
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
