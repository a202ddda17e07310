/**
 * BIRD 2's configuration for a host of routed networks (docs/drivers/routed.md "BGP").
 * Pure: the text only; services/bgp/supervisor.ts writes it and runs BIRD.
 *
 * What it says:
 * - router id: the host's data-path IPv4 address; local AS: `--bgp-asn`.
 * - The host's own blocks are static `blackhole` routes in BIRD's tables only (never put in
 *   the kernel by BIRD: the driver routes each endpoint's /32 to its veth); they are what
 *   the host exports to its peers.
 * - Routes learned over BGP go into the kernel's main table with metric KERNEL_METRIC and
 *   BIRD's route protocol (RTPROT_BIRD), so our BGP routes are told apart from any other.
 *   Only prefixes inside the routed networks' subnets are accepted (a peer cannot move the
 *   host's default route or its underlay), and never one of the host's own blocks.
 * - `persist` on the kernel protocols: when BIRD exits or dies, its routes stay in the
 *   kernel, so traffic keeps flowing while the supervisor restarts it. `graceful restart`
 *   on the BGP sessions (RFC 4724) and on the kernel protocols, and the supervisor's
 *   restart runs `bird -R`: the peers keep this host's routes as stale while it comes back,
 *   and the restarted BIRD does not flush the kernel before it has re-learned them.
 */
import { formatCidr, parseCanonicalCidr, tryParseIp } from '../../model/ip.js';
import { invalid } from '../../errors.js';
import type { BgpPeer } from './flags.js';

/** The kernel metric of every route BIRD installs for Switchyard (RTPROT_BIRD + this metric = ours). */
export const KERNEL_METRIC = 377;
/** linux/rtnetlink.h RTPROT_BIRD: what BIRD's kernel protocol marks its routes with. */
export const RTPROT_BIRD = 12;

export interface BirdConfigInput {
  /** The host's data-path IPv4 address: BGP router id. */
  routerId: string;
  asn: number;
  peers: readonly BgpPeer[];
  /** This host's blocks, both families (canonical CIDRs): announced. */
  blocks: readonly string[];
  /** Every routed network's subnets (canonical CIDRs): what may be learned. */
  subnets: readonly string[];
  /** Next hop for IPv6 routes sent over an IPv4 session (the host's IPv6 data-path address); absent = no IPv6 over IPv4 sessions. */
  nextHop6?: string;
  /** BGP hold time in seconds (default BIRD's 240); tests use a short one. */
  holdTime?: number;
  /** Graceful restart on the sessions (default on); off only for a test's control run. */
  gracefulRestart?: boolean;
}

const fam = (cidr: string): 4 | 6 => (cidr.includes(':') ? 6 : 4);

function checkInput(i: BirdConfigInput): void {
  const id = tryParseIp(i.routerId);
  if (!id || id.family !== 4) throw invalid('INVALID_BGP_CONFIG', `BGP router id ${JSON.stringify(i.routerId)} must be an IPv4 address (the data-path address)`, 'routerId');
  if (i.nextHop6 !== undefined && tryParseIp(i.nextHop6)?.family !== 6) throw invalid('INVALID_BGP_CONFIG', `IPv6 next hop ${JSON.stringify(i.nextHop6)} must be an IPv6 address`, 'nextHop6');
  for (const c of [...i.blocks, ...i.subnets]) parseCanonicalCidr(c, 'blocks');
  for (const p of i.peers) if (!tryParseIp(p.address)) throw invalid('INVALID_BGP_CONFIG', `BGP peer ${JSON.stringify(p.address)} is not an address`, 'peers');
  if (i.holdTime !== undefined && !(Number.isInteger(i.holdTime) && (i.holdTime === 0 || (i.holdTime >= 3 && i.holdTime <= 65535)))) {
    throw invalid('INVALID_BGP_CONFIG', `BGP hold time ${i.holdTime}: want 0 or 3-65535 seconds`, 'holdTime');
  }
}

/** A BIRD prefix set of the subnets of one family (`[ 10.1.0.0/16+ ]`), or undefined when there are none. */
function prefixSet(subnets: readonly string[], family: 4 | 6): string | undefined {
  const of = subnets.filter((s) => fam(s) === family).map((s) => formatCidr(parseCanonicalCidr(s, 'subnets')));
  return of.length ? `[ ${of.map((s) => `${s}+`).join(', ')} ]` : undefined;
}

/** The BIRD protocol name of the n-th peer (names are identifiers: no dots or colons). */
export const peerProtocol = (n: number): string => `sy_peer${n + 1}`;

export function renderBirdConfig(i: BirdConfigInput): string {
  checkInput(i);
  const out: string[] = [
    '# Written by Switchyard (services/bgp/config.ts) and rewritten on every change: do not edit.',
    `router id ${i.routerId};`,
    'log stderr { info, remote, warning, error, auth, fatal, bug };',
    '',
    '# Interfaces and their addresses, for next hops on directly connected networks.',
    'protocol device sy_device { scan time 10; }',
    '',
  ];
  for (const family of [4, 6] as const) {
    const blocks = i.blocks.filter((b) => fam(b) === family).map((b) => formatCidr(parseCanonicalCidr(b, 'blocks')));
    const own = blocks.length ? `[ ${blocks.join(', ')} ]` : undefined;
    const learnable = prefixSet(i.subnets, family);
    const ch = `ipv${family}`;
    out.push(
      `# This host's IPv${family} blocks: announced, never put in the kernel by BIRD.`,
      `protocol static sy_blocks${family} {`,
      `  ${ch};`,
      ...blocks.map((b) => `  route ${b} blackhole;`),
      '}',
      '',
      `filter sy_export${family} {`,
      `  if proto = "sy_blocks${family}" then accept;`,
      '  reject;',
      '}',
      '',
      `# Learned from peers: only blocks of the routed networks' subnets, never our own.`,
      `filter sy_import${family} {`,
      ...(learnable ? [`  if net ~ ${learnable}${own ? ` && !(net ~ ${own})` : ''} then accept;`] : []),
      '  reject;',
      '}',
      '',
      `protocol kernel sy_kernel${family} {`,
      `  ${ch} { import none; export where source = RTS_BGP; };`,
      `  metric ${KERNEL_METRIC};`,
      '  persist;',
      '  graceful restart;',
      '  scan time 20;',
      '}',
      '',
    );
  }
  i.peers.forEach((p, n) => {
    const v6Peer = p.address.includes(':');
    const carries4 = !v6Peer;
    const carries6 = v6Peer || i.nextHop6 !== undefined;
    out.push(
      `protocol bgp ${peerProtocol(n)} {`,
      `  local as ${i.asn};`,
      `  neighbor ${p.address} as ${p.asn};`,
      '  direct;',
      `  graceful restart ${i.gracefulRestart === false ? 'off' : 'on'};`,
      ...(i.holdTime !== undefined ? [`  hold time ${i.holdTime};`, `  keepalive time ${Math.max(1, Math.floor(i.holdTime / 3))};`] : []),
      ...(carries4 ? ['  ipv4 {', '    import filter sy_import4;', '    export filter sy_export4;', '    next hop self;', '    gateway direct;', '  };'] : []),
      ...(carries6
        ? ['  ipv6 {', '    import filter sy_import6;', '    export filter sy_export6;', ...(!v6Peer ? [`    next hop address ${i.nextHop6};`] : ['    next hop self;']), '    gateway direct;', '  };']
        : []),
      '}',
      '',
    );
  });
  return out.join('\n');
}
