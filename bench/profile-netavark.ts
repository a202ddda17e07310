/**
 * Where a warm netavark teardown's time goes (docs/BENCHMARKS.md, netavark section): a real
 * daemon, one anchor container on a Podman network, then N warm setup/teardown cycles of a
 * second container through `libexec/netavark` (no nsenter), each teardown timed whole, next to
 * a call of the no-op `update` route (the cost of the exec and the HTTP round trip alone).
 *
 *   npm run build && node dist/bench/profile-netavark.js [N]
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeNs, removeNs } from '../test/helpers/netns.js';
import { REPO, startDaemon } from '../test/helpers/daemon.js';
import { summarize } from './stats.js';

const N = Number(process.argv[2] ?? 20);
const BIN = path.join(REPO, 'libexec', 'netavark');

function opts(i: number, dns: boolean): string {
  return JSON.stringify({
    container_id: String(i).padStart(64, '0'), container_name: `c${i}`,
    networks: { pnet: { static_ips: [`10.93.0.${i + 2}`], aliases: [`c${i}`], interface_name: 'eth0' } },
    network_info: { pnet: { name: 'pnet', id: '7'.repeat(64), driver: 'bridge', network_interface: 'nvpbr0', subnets: [{ subnet: '10.93.0.0/22', gateway: '10.93.0.1' }], ipv6_enabled: false, internal: false, dns_enabled: dns, ipam_options: { driver: 'host-local' } } },
  });
}

const d = await startDaemon({ tag: 'nvp' });
const a = makeNs('nvpa');
const x = makeNs('nvpx');
const env = { ...process.env, SWITCHYARD_NETAVARK_SOCKET: d.socket };
const run = (cmd: string, ns: string, input: string) => {
  const t0 = performance.now();
  const r = spawnSync(BIN, [cmd, ns], { input, encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stdout} ${r.stderr}`);
  return performance.now() - t0;
};
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
try {
  run('setup', a.path, opts(0, false));
  const td: number[] = [];
  const su: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < N; i++) {
    su.push(run('setup', x.path, opts(1, false)));
    sleep(100);
    td.push(run('teardown', x.path, opts(1, false)));
    sleep(250);
    noop.push(run('update', 'pnet', ''));
  }
  run('teardown', a.path, opts(0, false));
  const f = (v: number[]) => { const s = summarize(v); return `p50 ${s.p50.toFixed(1)} min ${s.min.toFixed(1)} p99 ${s.p99.toFixed(1)}`; };
  console.log(`warm setup    ${f(su)}\nwarm teardown ${f(td)}\nno-op update  ${f(noop)}`);
} finally {
  await d.stop();
  removeNs(a);
  removeNs(x);
}
