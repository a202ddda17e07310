/**
 * A BGP router for the routed labs (docs/drivers/routed.md "BGP"): a second BIRD, not run by
 * Switchyard, in a namespace of its own, with a configuration written here as a site's
 * router would have its own: one eBGP session per host, everything learned put into its
 * kernel and sent on to the other hosts (next hop self; IPv6 with the router's own address
 * on that host's segment, over the IPv4 session). Used by test/integration/routed-bgp.test.ts
 * (hosts with supervised BIRDs) and test/e2e/routed-bgp-cluster.test.ts (daemons with
 * --bgp-asn/--bgp-peer). `stop()` ends it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inNs, NETNS_DIR } from './netns.js';

export interface RouterPeer {
  /** The host's IPv4 address on the router's segment (the BGP session runs over it). */
  addr4: string;
  asn: number;
  /** The router's own IPv6 address on that host's segment: next hop of the IPv6 routes it sends the host. */
  nextHop6: string;
}

export function birdRouterConfig(o: { routerId: string; asn: number; peers: readonly RouterPeer[] }): string {
  return [
    `router id ${o.routerId};`,
    'protocol device { scan time 10; }',
    'protocol kernel { ipv4 { export all; import none; }; }',
    'protocol kernel { ipv6 { export all; import none; }; }',
    ...o.peers.map((p, n) => [
      `protocol bgp host${n + 1} {`,
      `  local as ${o.asn};`,
      `  neighbor ${p.addr4} as ${p.asn};`,
      '  direct;',
      '  hold time 6; keepalive time 2;',
      '  ipv4 { import all; export all; next hop self; };',
      `  ipv6 { import all; export all; next hop address ${p.nextHop6}; };`,
      '}',
    ].join('\n')),
    '',
  ].join('\n');
}

export interface BirdRouter {
  proc: ChildProcess;
  /** Its control socket. */
  ctl: string;
  /** `birdc -s CTL ARGS…` run in the router's namespace; its stdout. */
  birdc(args: string[]): string;
  stop(): Promise<void>;
}

/** Starts BIRD in namespace `ns` with `config`, its files in `dir` (made by the caller); stderr lines go to `log`. */
export function startBirdRouter(ns: string, dir: string, config: string, log: (line: string) => void = () => undefined): BirdRouter {
  const conf = path.join(dir, 'router.conf');
  const ctl = path.join(dir, 'router.ctl');
  fs.writeFileSync(conf, config);
  const proc = spawn('nsenter', [`--net=${NETNS_DIR}/${ns}`, '--', 'bird', '-f', '-c', conf, '-s', ctl, '-P', path.join(dir, 'router.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => log(`router: ${d.trim()}`));
  return {
    proc,
    ctl,
    birdc: (args) => inNs(ns, 'birdc', ['-s', ctl, ...args], { allowFail: true }).stdout,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

/** PIDs of processes whose command line mentions `needle` (a lab directory): the BIRD leak check. */
export function processesMentioning(needle: string): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  }).map(Number);
}
