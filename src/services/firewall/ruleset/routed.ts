/**
 * The routed driver's firewall (docs/drivers/routed.md "Isolation"): `table inet
 * switchyard-routed`, in the style of the firewall service's tables (a fixed base of chains
 * and sets; a network or an endpoint is a few elements, never a rule). Pure: text only.
 *
 * What it enforces, on the host where a sandbox's veth ends:
 * - anti-spoofing (prerouting, priority raw: before conntrack, routing and NAT): a packet
 *   from a sandbox's veth (`syr*`; one not in `@ports` carries nothing: fail closed) must come from that sandbox's own address
 *   (`@src4`/`@src6`: veth . address); link-local to link-local/multicast IPv6 (neighbour
 *   discovery, MLD), which is never forwarded, is the one exception.
 * - isolation (forward): a sandbox reaches the addresses of its own network on every host
 *   (`@same4/6`: subnet . subnet), never another routed network (`@routed4/6`: every routed
 *   subnet), and anything else only when its network is not internal (`@egress4/6`); into a
 *   sandbox only its own network's addresses, replies (ct established) and DNATed flows
 *   come; table inet switchyard keeps the DNATed ones to published ports.
 * - masquerade of egress (postrouting): a non-internal network's traffic to an address
 *   outside every routed subnet leaves with the host's address.
 * - offload (when the kernel has nf_flow_table): a TCP or UDP flow between two sandboxes of
 *   the same network, once conntrack has confirmed it, is added to the flowtable `fastpath`,
 *   whose ingress hook on the routed ports and the underlay forwards its later packets
 *   straight to the output device, past every hook of every table. Only what `same4/6`
 *   admits is offloaded (no NAT, no published port); a flow's entry holds its input device
 *   and both addresses, so a packet with any other source still takes the normal path and
 *   meets the source check (docs/drivers/routed.md "Offload").
 */
import { invalid } from '../../../errors.js';
import { formatCidr, parseCanonicalCidr, tryParseIp } from '../../../model/ip.js';
import { filledChain, lines } from './elements.js';
import { isValidIfname } from '../../../model/driver-options.js';

export const ROUTED_FAMILY = 'inet';
/** Every host end of a routed endpoint is named `syr…` (drivers/routed.ts planEndpoint). */
export const ROUTED_PORT_PREFIX = 'syr';
export const ROUTED_TABLE = 'switchyard-routed';
const T = `${ROUTED_FAMILY} ${ROUTED_TABLE}`;

export const ROUTED_NAMES = {
  ports: 'ports',
  src4: 'src4',
  src6: 'src6',
  same4: 'same4',
  same6: 'same6',
  routed4: 'routed4',
  routed6: 'routed6',
  egress4: 'egress4',
  egress6: 'egress6',
  prerouting: 'prerouting',
  checkSource: 'check-source',
  forward: 'forward',
  fromSandbox: 'from-sandbox',
  toSandbox: 'to-sandbox',
  postrouting: 'postrouting',
  /** The flowtable of established same-network flows (renderRoutedBase({ offload: true })). */
  flowtable: 'fastpath',
} as const;

/** What the base renders besides the fixed objects. */
export interface RoutedBaseOptions {
  /** The kernel has nf_flow_table: the flowtable and the rules that fill it. */
  offload?: boolean;
}

/** A routed network as the firewall sees it. */
export interface RoutedFirewallNetwork {
  /** Canonical CIDRs of its pools. */
  subnets: readonly string[];
  internal: boolean;
}

/** An endpoint: its host-side veth and bare addresses. */
export interface RoutedFirewallEndpoint {
  port: string;
  ipv4?: string;
  ipv6?: string;
}

/** The table, its sets and its chains; re-runnable (sets are create-or-verify, chains flushed and re-filled, elements stay). */
export function renderRoutedBase(o: RoutedBaseOptions = {}): string {
  const n = ROUTED_NAMES;
  // Its devices are added one by one as they appear (renderOffloadDevices); a device that
  // goes is dropped from it by the kernel.
  const flowtable = o.offload ? [`add flowtable ${T} ${n.flowtable} { hook ingress priority filter; }`] : [];
  const offload = o.offload
    ? [
        `meta l4proto { tcp, udp } ip saddr . ip daddr @${n.same4} flow add @${n.flowtable} accept comment "OFFLOAD"`,
        `meta l4proto { tcp, udp } ip6 saddr . ip6 daddr @${n.same6} flow add @${n.flowtable} accept comment "OFFLOAD"`,
      ]
    : [];
  return lines(
    `add table ${T}`,
    ...flowtable,
    `add set ${T} ${n.ports} { type ifname; }`,
    `add set ${T} ${n.src4} { type ifname . ipv4_addr; }`,
    `add set ${T} ${n.src6} { type ifname . ipv6_addr; }`,
    `add set ${T} ${n.same4} { type ipv4_addr . ipv4_addr; flags interval; }`,
    `add set ${T} ${n.same6} { type ipv6_addr . ipv6_addr; flags interval; }`,
    `add set ${T} ${n.routed4} { type ipv4_addr; flags interval; }`,
    `add set ${T} ${n.routed6} { type ipv6_addr; flags interval; }`,
    `add set ${T} ${n.egress4} { type ipv4_addr; flags interval; }`,
    `add set ${T} ${n.egress6} { type ipv6_addr; flags interval; }`,
    ...filledChain(T, n.checkSource, undefined, [
      // Fail closed: a routed port whose elements are missing carries nothing.
      `iifname != @${n.ports} counter drop comment "UNKNOWN PORT"`,
      'ip6 saddr fe80::/10 ip6 daddr { fe80::/10, ff02::/16 } return',
      `meta nfproto ipv4 iifname . ip saddr @${n.src4} return`,
      `meta nfproto ipv6 iifname . ip6 saddr @${n.src6} return`,
      'counter drop comment "ROUTED SPOOF"',
    ]),
    ...filledChain(T, n.prerouting, 'type filter hook prerouting priority raw; policy accept;', [`iifname "${ROUTED_PORT_PREFIX}*" jump ${n.checkSource}`]),
    ...filledChain(T, n.fromSandbox, undefined, [
      // The common case first: every rule above OTHER ROUTED NETWORK accepts, so their order
      // is free, and each rule a forwarded packet walks costs it (docs/BENCHMARKS.md "Routed").
      // With offload, the same-network TCP/UDP flows are also handed to the flowtable.
      ...offload,
      `ip saddr . ip daddr @${n.same4} accept`,
      `ip6 saddr . ip6 daddr @${n.same6} accept`,
      // A published port's replies (table inet switchyard checks it is one).
      'ct status dnat ct direction reply accept comment "PUBLISHED PORT (DNAT) REPLY"',
      // A non-internal sandbox reaching a published port (DNATed by this host), whatever the
      // target's network, as from a bridge network.
      `ip saddr @${n.egress4} ct status dnat ct direction original accept comment "PUBLISHED PORT (DNAT)"`,
      `ip6 saddr @${n.egress6} ct status dnat ct direction original accept comment "PUBLISHED PORT (DNAT)"`,
      `ip daddr @${n.routed4} counter drop comment "OTHER ROUTED NETWORK"`,
      `ip6 daddr @${n.routed6} counter drop comment "OTHER ROUTED NETWORK"`,
      `ip saddr @${n.egress4} accept`,
      `ip6 saddr @${n.egress6} accept`,
      'counter drop comment "NO EGRESS"',
    ]),
    ...filledChain(T, n.toSandbox, undefined, [
      `oifname != @${n.ports} counter drop comment "UNKNOWN PORT"`,
      'ct state established,related accept',
      // A published port (DNAT to this sandbox's address); table inet switchyard, which
      // holds the published sets, drops a DNATed flow to any other port (ruleset/network.ts).
      'ct status dnat ct direction original accept comment "PUBLISHED PORT (DNAT)"',
      `ip saddr . ip daddr @${n.same4} accept`,
      `ip6 saddr . ip6 daddr @${n.same6} accept`,
      'counter drop comment "NOT THIS NETWORK"',
    ]),
    ...filledChain(T, n.forward, 'type filter hook forward priority filter; policy accept;', [
      `iifname "${ROUTED_PORT_PREFIX}*" jump ${n.fromSandbox}`,
      `oifname "${ROUTED_PORT_PREFIX}*" jump ${n.toSandbox}`,
    ]),
    ...filledChain(T, n.postrouting, 'type nat hook postrouting priority srcnat; policy accept;', [
      `oifname != "${ROUTED_PORT_PREFIX}*" ip saddr @${n.egress4} ip daddr != @${n.routed4} masquerade`,
      `oifname != "${ROUTED_PORT_PREFIX}*" ip6 saddr @${n.egress6} ip6 daddr != @${n.routed6} masquerade`,
    ]),
  );
}

const canonical = (s: string): { text: string; v6: boolean } => {
  const c = parseCanonicalCidr(s, 'subnets');
  return { text: formatCidr(c), v6: c.family === 6 };
};

/** `add element` lines (op add) or `delete element` lines (op delete) of a network. */
export function routedNetworkElements(op: 'add' | 'delete', net: RoutedFirewallNetwork): string[] {
  const n = ROUTED_NAMES;
  const out: string[] = [];
  for (const s of net.subnets.map(canonical)) {
    const f = s.v6 ? 6 : 4;
    out.push(`${op} element ${T} ${f === 4 ? n.same4 : n.same6} { ${s.text} . ${s.text} }`);
    out.push(`${op} element ${T} ${f === 4 ? n.routed4 : n.routed6} { ${s.text} }`);
    if (!net.internal) out.push(`${op} element ${T} ${f === 4 ? n.egress4 : n.egress6} { ${s.text} }`);
  }
  return out;
}

/** `add element` / `delete element` lines of an endpoint. */
export function routedEndpointElements(op: 'add' | 'delete', ep: RoutedFirewallEndpoint): string[] {
  const n = ROUTED_NAMES;
  if (!isValidIfname(ep.port)) throw invalid('INVALID_INTERFACE_NAME', `${JSON.stringify(ep.port)} is not an interface name`, 'port');
  const out = [`${op} element ${T} ${n.ports} { "${ep.port}" }`];
  if (ep.ipv4) {
    if (tryParseIp(ep.ipv4)?.family !== 4) throw invalid('INVALID_ADDRESS', `${JSON.stringify(ep.ipv4)} is not an IPv4 address`, 'ipv4');
    out.push(`${op} element ${T} ${n.src4} { "${ep.port}" . ${ep.ipv4} }`);
  }
  if (ep.ipv6) {
    if (tryParseIp(ep.ipv6)?.family !== 6) throw invalid('INVALID_ADDRESS', `${JSON.stringify(ep.ipv6)} is not an IPv6 address`, 'ipv6');
    out.push(`${op} element ${T} ${n.src6} { "${ep.port}" . ${ep.ipv6} }`);
  }
  return out;
}

/** Devices (routed ports, the underlay) whose ingress the flowtable hooks; adding one twice changes nothing. */
export function renderOffloadDevices(devices: readonly string[]): string {
  for (const d of devices) if (!isValidIfname(d)) throw invalid('INVALID_INTERFACE_NAME', `${JSON.stringify(d)} is not an interface name`, 'devices');
  if (!devices.length) return '';
  return lines(`add flowtable ${T} ${ROUTED_NAMES.flowtable} { hook ingress priority filter; devices = { ${devices.map((d) => `"${d}"`).join(', ')} }; }`);
}

/** The whole state from the records: base, every set flushed, then every element (firewall reload). */
export function renderRoutedReload(networks: readonly RoutedFirewallNetwork[], endpoints: readonly RoutedFirewallEndpoint[], o: RoutedBaseOptions = {}): string {
  const n = ROUTED_NAMES;
  const sets = [n.ports, n.src4, n.src6, n.same4, n.same6, n.routed4, n.routed6, n.egress4, n.egress6];
  return (
    renderRoutedBase(o) +
    lines(
      ...sets.map((s) => `flush set ${T} ${s}`),
      ...networks.flatMap((net) => routedNetworkElements('add', net)),
      ...endpoints.flatMap((ep) => routedEndpointElements('add', ep)),
    )
  );
}

/** Deletes the whole table (`system reset`, the last routed network gone). */
export const renderRoutedDelete = (): string => lines(`delete table ${T}`);
