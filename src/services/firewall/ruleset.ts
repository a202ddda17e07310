/**
 * The text of Switchyard's nftables table, rendered from records. Pure: no I/O.
 *
 * Switchyard owns exactly one table, `table inet switchyard` (one table serves IPv4 and
 * IPv6 alike, nft(8) "ADDRESS FAMILIES": inet), and never names any other table. The layout
 * follows Docker 29's nftables backend (moby daemon/libnetwork/drivers/bridge/internal/
 * nftabler): base chains dispatch through verdict maps keyed by bridge name to small
 * per-network chains, so a network costs a few map elements plus three short chains, and
 * adding or removing one never rewrites the rest of the table (moby#53466: rewriting the
 * ruleset per change took 22.8 s for 32 ports). docs/FIREWALL.md draws the layout.
 *
 * Every render* function returns nft commands for ONE transaction (Nft.run); each is
 * idempotent (create-or-verify), so running it twice leaves the same state.
 *
 * Per-endpoint and per-port elements are first built as structured operations
 * (antiSpoofOps, addPortOps, deletePortOps: ElementOp of kernel/nft-elements.ts); their text
 * is rendered from those, and the firewall's fast path encodes the very same operations as
 * nfnetlink bytes, so the two paths cannot name different elements.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalid } from '../../errors.js';
import { formatIpValue, tryParseIp } from '../../model/ip.js';
import type { ElementOp, ElementPart } from '../../kernel/nft-elements.js';

export const FAMILY = 'inet';
export const TABLE = 'switchyard';
const T = `${FAMILY} ${TABLE}`;

/** What the firewall needs to know about one bridge network. */
export interface FirewallNetwork {
  /** Linux bridge device name, e.g. "br-3f2a…" (≤ 15 characters, IFNAMSIZ-1). */
  bridge: string;
  /** The network's IPv4 and IPv6 subnets, as CIDRs. */
  subnets: string[];
  /** Inter-container communication on the same bridge (com.docker.network.bridge.enable_icc). */
  icc: boolean;
  /** Masquerade traffic leaving the bridge (com.docker.network.bridge.enable_ip_masquerade). */
  masquerade: boolean;
  /** `--internal`: no traffic to or from anything outside the bridge. */
  internal: boolean;
}

/** Names of the objects in the table, in one place so rules, docs and tests agree. */
export const NAMES = {
  /** Admin's chain, jumped to first from `forward`; Switchyard never writes to it. */
  user: 'user',
  forward: 'forward',
  prerouting: 'prerouting',
  output: 'output',
  postrouting: 'postrouting',
  /** set of ifname: every Switchyard bridge. */
  bridges: 'bridges',
  /** set of ifname . ifname: "br" . "br" for every bridge, to match same-bridge traffic. */
  self: 'same-bridge',
  /** set of ifname: bridges with inter-container communication on. */
  icc: 'icc',
  /** set of ifname: internal bridges. */
  internal: 'internal',
  /** vmap iifname → post-<bridge>, the masquerade chain of each masquerading network. */
  postroutingOut: 'postrouting-out',
  /** sets of (container address . l4proto . container port) that may be reached from outside. */
  published4: 'published4',
  published6: 'published6',
  /** maps (host address . l4proto . host port) → (container address . container port). */
  dnat4: 'dnat4',
  dnat6: 'dnat6',
  /** maps (l4proto . host port) → (container address . container port), for every local address. */
  dnat4Any: 'dnat4-any',
  dnat6Any: 'dnat6-any',
  /** filter chain at priority raw on prerouting: drops what must never be NATed or routed. */
  rawPrerouting: 'raw-prerouting',
} as const;

/** The only per-network chain: masquerade of the network's subnets. */
export const postroutingChain = (bridge: string): string => `post-${bridge}`;

/**
 * Bridge names become part of chain names and quoted strings in nft text, so only the
 * characters Linux and Docker use in them are allowed (no quotes, spaces or braces).
 */
const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function validateBridge(bridge: string, field = 'bridge'): void {
  if (!BRIDGE_NAME.test(bridge)) {
    throw invalid('FIREWALL_INVALID_BRIDGE', `bridge name "${bridge}" is not a valid interface name (1-15 of [A-Za-z0-9_.-], starting with a letter or digit)`, field);
  }
}

/** Splits CIDRs by family, rejecting anything that is not a CIDR (it would be pasted into nft text). */
export function splitSubnets(subnets: string[], field = 'subnets'): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  subnets.forEach((cidr, i) => {
    const [addr = '', len = '', extra] = cidr.split('/');
    const bits = /^\d{1,3}$/.test(len) ? Number(len) : -1;
    if (extra === undefined && isIPv4(addr) && bits >= 0 && bits <= 32) v4.push(cidr);
    else if (extra === undefined && isIPv6(addr) && bits >= 0 && bits <= 128) v6.push(cidr.toLowerCase());
    else throw invalid('FIREWALL_INVALID_SUBNET', `"${cidr}" is not an IPv4 or IPv6 CIDR`, `${field}[${i}]`);
  });
  return { v4, v6 };
}

export function validateNetwork(net: FirewallNetwork): void {
  validateBridge(net.bridge);
  splitSubnets(net.subnets);
}

/**
 * Table, sets, maps, the user chain and the base chains. Idempotent and non-destructive:
 * `add` of an existing table, set, map or chain changes nothing, so elements and the
 * user chain's rules survive. Only the base chains' own rules are flushed and re-added,
 * and there is a fixed number of them whatever the number of networks.
 *
 * Priorities: filter (0) for forward, like iptables' FORWARD; dstnat (-100) for
 * prerouting; nft 1.0.6 refuses the `dstnat` keyword on the output hook, so output
 * says -100 (same value); srcnat (100) for postrouting (spikes.md §4).
 */
export function renderBase(): string {
  const n = NAMES;
  return lines(
    `add table ${T}`,
    `add set ${T} ${n.bridges} { type ifname; }`,
    `add set ${T} ${n.self} { type ifname . ifname; }`,
    `add set ${T} ${n.icc} { type ifname; }`,
    `add set ${T} ${n.internal} { type ifname; }`,
    `add map ${T} ${n.postroutingOut} { type ifname : verdict; }`,
    `add set ${T} ${n.published4} { type ipv4_addr . inet_proto . inet_service; }`,
    `add set ${T} ${n.published6} { type ipv6_addr . inet_proto . inet_service; }`,
    `add map ${T} ${n.dnat4} { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${T} ${n.dnat6} { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }`,
    `add map ${T} ${n.dnat4Any} { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${T} ${n.dnat6Any} { type inet_proto . inet_service : ipv6_addr . inet_service; }`,
    `add chain ${T} ${n.user}`,
    ...baseChain(n.forward, 'type filter hook forward priority filter; policy accept;', forwardRules()),
    ...baseChain(n.rawPrerouting, 'type filter hook prerouting priority raw; policy accept;', rawPreroutingRules()),
    ...baseChain(n.prerouting, 'type nat hook prerouting priority dstnat; policy accept;', dnatRules()),
    ...baseChain(n.output, 'type nat hook output priority -100; policy accept;', dnatRules()),
    ...baseChain(n.postrouting, 'type nat hook postrouting priority srcnat; policy accept;', postroutingRules()),
  );
}

/**
 * Loopback destinations arriving on any interface but lo are dropped before NAT sees them.
 * Two reasons: (1) the DNAT rules run before routing, so without this a host on the local
 * network could send to 127.0.0.1:<port> and reach a port published on 127.0.0.1 only
 * (moby#45610, fixed in Docker 28 by a raw-table drop); (2) publishing on 127.0.0.1 needs
 * route_localnet=1 on the bridges, which would otherwise let a sandbox with CAP_NET_RAW
 * reach the host's 127.0.0.1 services (CVE-2020-8558). The kernel drops these packets as
 * martians anyway wherever route_localnet is 0, and never routes ::1 from outside
 * (RFC 4291 §2.5.3), so nothing legitimate is lost.
 */
function rawPreroutingRules(): string[] {
  return [
    `iifname != "lo" ip daddr 127.0.0.0/8 drop comment "LOOPBACK FROM OUTSIDE"`,
    `iifname != "lo" ip6 daddr ::1 drop comment "LOOPBACK FROM OUTSIDE"`,
  ];
}

/**
 * Source NAT that published ports need, before the per-network masquerade:
 * - LOCALHOST: the host's own connection to 127.0.0.1:<port> is DNATed to a sandbox; the
 *   reply could not come back to 127.0.0.1, so it leaves with the bridge's address
 *   (the output route needs route_localnet=1 on the bridge, set by the ports service).
 * - HAIRPIN: a sandbox reaching its own published port through a host address would get
 *   a packet from itself and answer over lo; Docker masquerades `-s c -d c --dport p`
 *   per port. One lookup does it here: the source is the container of a published
 *   (address . proto . port), i.e. the DNAT target itself. A sandbox reaching *another*
 *   sandbox's port on the same bridge keeps its address (conntrack undoes the DNAT on
 *   the bridged reply, br_netfilter being built in).
 * Hairpinned frames are bridged, so `iifname` is empty here (br_nf_post_routing passes no
 * input device); these rules match on oifname and conntrack only.
 */
function postroutingRules(): string[] {
  const n = NAMES;
  const dnated = `oifname @${n.bridges} ct status dnat`;
  return [
    `${dnated} ip saddr 127.0.0.0/8 masquerade comment "LOCALHOST"`,
    `${dnated} ip saddr . meta l4proto . th dport @${n.published4} masquerade comment "HAIRPIN"`,
    `${dnated} ip6 saddr . meta l4proto . th dport @${n.published6} masquerade comment "HAIRPIN"`,
    `iifname vmap @${n.postroutingOut}`,
  ];
}

/**
 * The forward filter, in order; the first matching verdict wins.
 *
 * Bridged frames traverse this hook too, because br_netfilter is built into this kernel
 * and bridge-nf-call-iptables/ip6tables default to 1 in every netns (spikes.md §4): for a
 * frame bridged between two ports of br0, iifname and oifname are both "br0". That is
 * how ICC off can stop container-to-container traffic on one bridge.
 */
function forwardRules(): string[] {
  const n = NAMES;
  const same = `iifname . oifname @${n.self}`;
  return [
    // DOCKER-USER: the admin's rules see every forwarded packet before Switchyard's.
    `jump ${n.user} comment "USER RULES FIRST"`,
    `${same} iifname @${n.icc} accept comment "ICC"`,
    // Docker 29 DOCKER-INTERNAL: nothing leaves or enters an internal bridge, not even
    // replies; placed before the conntrack accept on purpose.
    `iifname @${n.internal} drop comment "INTERNAL EGRESS"`,
    `oifname @${n.internal} drop comment "INTERNAL INGRESS"`,
    // A connection DNATed to a published port is welcome from anywhere: outside, another
    // network (isolation is about direct access, as with Docker's userland proxy), or the
    // same bridge with ICC off (hairpin), and so are its replies (which ICC DISABLED would
    // drop on the same bridge). Only DNATed flows: a sandbox on another network sending
    // straight to the container address still meets ISOLATION below. (nft 1.0.6 cannot
    // concatenate `ct reply proto-src`, hence one rule per direction.)
    `oifname @${n.bridges} ct status dnat ct direction original ip daddr . meta l4proto . th dport @${n.published4} accept comment "PUBLISHED PORT (DNAT)"`,
    `oifname @${n.bridges} ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @${n.published6} accept comment "PUBLISHED PORT (DNAT)"`,
    `iifname @${n.bridges} ct status dnat ct direction reply ip saddr . meta l4proto . th sport @${n.published4} accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `iifname @${n.bridges} ct status dnat ct direction reply ip6 saddr . meta l4proto . th sport @${n.published6} accept comment "PUBLISHED PORT (DNAT) REPLY"`,
    `${same} drop comment "ICC DISABLED"`,
    `oifname @${n.bridges} ct state established,related accept comment "ESTABLISHED"`,
    // Docker's DOCKER-ISOLATION: no forwarding between two Switchyard bridges, either way.
    `iifname @${n.bridges} oifname @${n.bridges} drop comment "ISOLATION"`,
    `oifname @${n.bridges} ip daddr . meta l4proto . th dport @${n.published4} accept comment "PUBLISHED PORT"`,
    `oifname @${n.bridges} ip6 daddr . meta l4proto . th dport @${n.published6} accept comment "PUBLISHED PORT"`,
    // Containers are reachable from outside only through published ports, IPv6 included,
    // where no NAT hides them (libnetwork#2557).
    `oifname @${n.bridges} drop comment "UNPUBLISHED PORT DROP"`,
    `iifname @${n.bridges} accept comment "OUTBOUND"`,
  ];
}

/**
 * DNAT of published ports to local addresses. The maps start empty; publishing a port is
 * adding one element (plus one to published4/6 so the forward filter lets it in), e.g.
 *   add element inet switchyard dnat4-any { tcp . 8080 : 172.18.0.2 . 80 }
 *   add element inet switchyard dnat4 { 127.0.0.1 . tcp . 8081 : 172.18.0.2 . 80 }
 * The host-address map is tried first, then the any-address one; a miss in a map lookup
 * ends that rule without a verdict. nft 1.0.6 needs the `meta l4proto { … }` match before
 * a concatenation that maps a port ("transport protocol mapping is only valid after
 * transport protocol match"). Hash maps, not one interval map with 0.0.0.0/0 as "any":
 * deleting from a concatenated interval map costs ~11 ms at 1,000 elements.
 */
function dnatRules(): string[] {
  const n = NAMES;
  const local = 'fib daddr type local meta l4proto { tcp, udp, sctp }';
  return [
    `${local} dnat ip to ip daddr . meta l4proto . th dport map @${n.dnat4} comment "DNAT"`,
    `${local} dnat ip to meta l4proto . th dport map @${n.dnat4Any} comment "DNAT"`,
    // ::1 is never DNATed: the kernel will not route a ::1 source off lo (IPv6 has no
    // route_localnet), so [::1]:<port> would hang; left alone it is refused at once.
    `${local} ip6 daddr != ::1 dnat ip6 to ip6 daddr . meta l4proto . th dport map @${n.dnat6} comment "DNAT"`,
    `${local} ip6 daddr != ::1 dnat ip6 to meta l4proto . th dport map @${n.dnat6Any} comment "DNAT"`,
  ];
}

/** Ensures one network: its set memberships and, when it masquerades, its post-<bridge> chain. */
export function renderNetwork(net: FirewallNetwork): string {
  validateNetwork(net);
  const b = net.bridge;
  const { v4, v6 } = splitSubnets(net.subnets);
  const masquerade = net.masquerade && !net.internal && v4.length + v6.length > 0;
  return lines(
    addMember(NAMES.bridges, `"${b}"`),
    addMember(NAMES.self, `"${b}" . "${b}"`),
    ...(net.icc ? [addMember(NAMES.icc, `"${b}"`)] : removeMember(NAMES.icc, `"${b}"`)),
    ...(net.internal ? [addMember(NAMES.internal, `"${b}"`)] : removeMember(NAMES.internal, `"${b}"`)),
    ...(masquerade ? ensureMasquerade(b, v4, v6) : removeMasquerade(b)),
  );
}

/**
 * Removes a network's elements and chain. Already gone is success: each object is added
 * (a no-op when present) and then deleted in the same transaction, because nft 1.0.6 has
 * no `destroy` command (added in 1.0.8).
 */
export function renderDeleteNetwork(bridge: string): string {
  validateBridge(bridge);
  const b = bridge;
  return lines(
    ...removeMember(NAMES.bridges, `"${b}"`),
    ...removeMember(NAMES.self, `"${b}" . "${b}"`),
    ...removeMember(NAMES.icc, `"${b}"`),
    ...removeMember(NAMES.internal, `"${b}"`),
    ...removeMasquerade(b),
  );
}

/**
 * The membership sets emptied, for reload(): it re-adds every wanted network in the same
 * transaction, so no packet ever sees them empty. published/dnat elements are kept.
 */
export function renderFlushMembership(): string {
  return lines(...[NAMES.bridges, NAMES.self, NAMES.icc, NAMES.internal].map((s) => `flush set ${T} ${s}`));
}

/**
 * Docker's `-s <subnet> ! -o <bridge> -j MASQUERADE`, reached through the postrouting-out
 * vmap by iifname, so only packets that came in from this bridge are looked at. The
 * vmap element always has the same data, so adding it again is a no-op.
 */
function ensureMasquerade(bridge: string, v4: string[], v6: string[]): string[] {
  const chain = postroutingChain(bridge);
  const rules: string[] = [];
  if (v4.length) rules.push(`oifname != "${bridge}" ip saddr { ${v4.join(', ')} } masquerade comment "MASQUERADE"`);
  if (v6.length) rules.push(`oifname != "${bridge}" ip6 saddr { ${v6.join(', ')} } masquerade comment "MASQUERADE"`);
  return [
    `add chain ${T} ${chain}`,
    `flush chain ${T} ${chain}`,
    ...rules.map((r) => `add rule ${T} ${chain} ${r}`),
    `add element ${T} ${NAMES.postroutingOut} { "${bridge}" : jump ${chain} }`,
  ];
}

/** Idempotent removal: add-then-delete, element first (a chain referenced by a map cannot be deleted). */
function removeMasquerade(bridge: string): string[] {
  const chain = postroutingChain(bridge);
  return [
    `add chain ${T} ${chain}`,
    `add element ${T} ${NAMES.postroutingOut} { "${bridge}" : jump ${chain} }`,
    `delete element ${T} ${NAMES.postroutingOut} { "${bridge}" }`,
    `delete chain ${T} ${chain}`,
  ];
}

// ---------------------------------------------------------------------------------------
// Published ports: elements only, never rules.

export type PortProto = 'tcp' | 'udp' | 'sctp';

/** One published host port as the table sees it. */
export interface PortElement {
  family: 4 | 6;
  /** The host address that answers, or '' for every local address of the family (the -any map). */
  hostIp: string;
  proto: PortProto;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** The forward filter's view of a published port: the container end only. */
export type PublishedElement = Pick<PortElement, 'family' | 'containerIp' | 'proto' | 'containerPort'>;

/**
 * Adds the DNAT and published elements of `ports` (one `add element` statement per map,
 * whatever the number of ports). `add` of an element already there with the same data is
 * a no-op, so restoring is idempotent; the same key with other data fails the whole
 * transaction (EBUSY), which is how a stale element is noticed.
 */
export function renderAddPorts(ports: PortElement[]): string {
  return lines(...[...bySet(addPortOps(ports))].map(([set, ops]) => `add element ${T} ${set} { ${ops.map(elementWithData).join(', ')} }`));
}

/**
 * Removes the DNAT elements of `ports` and the given published elements. Idempotent, like
 * the network removals: each element is added (with its data) then deleted in the same
 * transaction, since nft 1.0.6 has no `destroy`.
 */
export function renderDeletePorts(ports: PortElement[], published: PublishedElement[]): string {
  const out: string[] = [];
  for (const [set, ops] of bySet(uniqueOps([...ports.map(dnatOp), ...published.map(publishedOp)]))) {
    out.push(`add element ${T} ${set} { ${ops.map(elementWithData).join(', ')} }`);
    out.push(`delete element ${T} ${set} { ${ops.map((o) => elementText(o.key)).join(', ')} }`);
  }
  return out.length ? lines(...out) : '';
}

/** Deletes one DNAT key whatever its data (used to clear an element left by a crash). */
export function renderDeleteDnatKey(port: PortElement): string {
  const o = dnatOp(port);
  return lines(`delete element ${T} ${o.set} { ${elementText(o.key)} }`);
}

/** The published set key of a port; equal strings mean the same element. */
export function publishedKey(p: PublishedElement): string {
  return `${p.family === 4 ? NAMES.published4 : NAMES.published6} ${p.containerIp} . ${p.proto} . ${p.containerPort}`;
}

/**
 * The elements of renderAddPorts as structured operations (the fast path encodes these):
 * each DNAT key once (the last binding given for a key wins) and each published element once.
 */
export function addPortOps(ports: PortElement[]): ElementOp[] {
  return [...uniqueOps(ports.map(dnatOp)), ...uniqueOps(ports.map(publishedOp))];
}

/** renderDeletePorts' elements: all added (with their data), then all deleted. */
export function deletePortOps(ports: PortElement[], published: PublishedElement[]): ElementOp[] {
  const adds = uniqueOps([...ports.map(dnatOp), ...published.map(publishedOp)]);
  return [...adds, ...adds.map((o) => ({ ...o, op: 'delete' as const }))];
}

const addrPart = (family: 4 | 6, ip: string): ElementPart => (family === 4 ? { ipv4: ip } : { ipv6: ip });

/** The DNAT map element of a binding: (host address .) proto . host port : container address . port. */
function dnatOp(p: PortElement): ElementOp {
  validatePort(p);
  const data: ElementPart[] = [addrPart(p.family, p.containerIp), { port: p.containerPort }];
  const any = p.hostIp === '';
  const set = any ? (p.family === 4 ? NAMES.dnat4Any : NAMES.dnat6Any) : p.family === 4 ? NAMES.dnat4 : NAMES.dnat6;
  const key: ElementPart[] = [...(any ? [] : [addrPart(p.family, p.hostIp)]), { proto: p.proto }, { port: p.hostPort }];
  return { op: 'add', family: FAMILY, table: TABLE, set, key, data };
}

function publishedOp(p: PublishedElement): ElementOp {
  validatePublished(p);
  const set = p.family === 4 ? NAMES.published4 : NAMES.published6;
  return { op: 'add', family: FAMILY, table: TABLE, set, key: [addrPart(p.family, p.containerIp), { proto: p.proto }, { port: p.containerPort }] };
}

/** One op per (set, key), in first-seen order; a later one's data wins. */
function uniqueOps(ops: ElementOp[]): ElementOp[] {
  const seen = new Map<string, ElementOp>();
  for (const o of ops) seen.set(`${o.set} ${elementText(o.key)}`, o);
  return [...seen.values()];
}

/** Ops grouped by set, sets and elements in first-seen order. */
function bySet(ops: ElementOp[]): Map<string, ElementOp[]> {
  const out = new Map<string, ElementOp[]>();
  for (const o of ops) out.set(o.set, [...(out.get(o.set) ?? []), o]);
  return out;
}

const elementWithData = (o: ElementOp): string => (o.data ? `${elementText(o.key)} : ${elementText(o.data)}` : elementText(o.key));

const PROTOS: readonly string[] = ['tcp', 'udp', 'sctp'];
const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
const isFamilyAddr = (family: 4 | 6, a: string): boolean => (family === 4 ? isIPv4(a) : isIPv6(a));

/** Everything below is pasted into nft text, so it is checked first. */
function validatePublished(p: PublishedElement): void {
  if (!PROTOS.includes(p.proto)) throw invalid('FIREWALL_INVALID_PORT', `protocol "${p.proto}" is not tcp, udp or sctp`, 'proto');
  if (!isPort(p.containerPort)) throw invalid('FIREWALL_INVALID_PORT', `container port ${p.containerPort} is not 1-65535`, 'containerPort');
  if (!isFamilyAddr(p.family, p.containerIp)) throw invalid('FIREWALL_INVALID_PORT', `container address "${p.containerIp}" is not an IPv${p.family} address`, 'containerIp');
}

function validatePort(p: PortElement): void {
  validatePublished(p);
  if (!isPort(p.hostPort)) throw invalid('FIREWALL_INVALID_PORT', `host port ${p.hostPort} is not 1-65535`, 'hostPort');
  if (p.hostIp !== '' && !isFamilyAddr(p.family, p.hostIp)) throw invalid('FIREWALL_INVALID_PORT', `host address "${p.hostIp}" is not an IPv${p.family} address`, 'hostIp');
}

function addMember(set: string, element: string): string {
  return `add element ${T} ${set} { ${element} }`;
}

function removeMember(set: string, element: string): string[] {
  return [addMember(set, element), `delete element ${T} ${set} { ${element} }`];
}

function baseChain(name: string, spec: string, rules: string[]): string[] {
  return [`add chain ${T} ${name} { ${spec} }`, `flush chain ${T} ${name}`, ...rules.map((r) => `add rule ${T} ${name} ${r}`)];
}

function lines(...cmds: string[]): string {
  return cmds.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Anti-spoofing (docs/FIREWALL.md "Anti-spoofing"; docs/SECURITY.md): `table bridge switchyard`.
//
// Docker has none: a container with CAP_NET_ADMIN (or a raw socket) can send frames with
// another container's IP or MAC and poison the gateway's ARP cache. The check must see the
// bridge *port* a frame came in on, which only the bridge family does (in the inet family,
// with br_netfilter, iifname is the bridge itself), so it lives in a second table of the
// same name. Like the inet table, it is elements only: an endpoint is five to seven
// `add element`s keyed on its host-side veth name, never a rule.

export const BRIDGE_FAMILY = 'bridge';
const B = `${BRIDGE_FAMILY} ${TABLE}`;

export const ANTISPOOF = {
  /** set of ifname: host-side veths whose frames are checked. */
  ports: 'ports',
  /** set of (veth . MAC): the one source MAC each port may send. */
  mac: 'endpoint-mac',
  /** set of (veth . MAC . IPv4): the source addresses, for IPv4 and ARP. */
  ip4: 'endpoint-ip4',
  /** set of (veth . MAC . IPv6): the source addresses besides `::`: the global one and the EUI-64 link-local. */
  ip6: 'endpoint-ip6',
  /**
   * set of (veth . MAC . 128-bit ICMPv6 payload at offset 8): the addresses a port may name
   * as the *target* of a neighbour advertisement (or of a DAD probe), i.e. the same
   * addresses as ip6. A `typeof` set on a raw payload: nft 1.0.6 has no `icmpv6` field for
   * the ND target, and a `type … ipv6_addr` set refuses a raw payload (datatype mismatch),
   * so elements are written as 0x… integers in network byte order (ndTargetKey).
   */
  nd6: 'endpoint-nd6',
  prerouting: 'prerouting',
  check: 'antispoof',
} as const;

/** One endpoint as the anti-spoofing sets see it. */
export interface AntiSpoofEndpoint {
  /** Host-side veth name (the bridge port). */
  port: string;
  mac: string;
  /** Addresses without prefix length. */
  ipv4?: string;
  ipv6?: string;
}

/** The ICMPv6 bytes 8..23 of a neighbour solicitation or advertisement: the target address. */
const ND_TARGET = '@th,64,128';

/**
 * The table, its sets and two chains. Priority -300 on the bridge prerouting hook runs
 * before br_netfilter (priority 0) hands the frame to the IP hooks, so a spoofed packet
 * never reaches conntrack, NAT or the inet forward filter. An IPv6 source must be the
 * endpoint's global address or its EUI-64 link-local one, except `::` (DAD, MLD before an
 * address exists); a neighbour advertisement, whatever its source, and a DAD probe from
 * `::` may only name those same addresses as target, so a sandbox cannot take over a
 * peer's or the gateway's address in a neighbour cache. A sandbox is never a router on its
 * network: its router advertisements and redirects are dropped (RA guard, RFC 6105), so it
 * cannot become its peers' default router. Frames of other EtherTypes are held to the MAC
 * check only.
 *
 * Re-runnable on an existing table: `add set` is create-or-verify and the check chain is
 * flushed and re-filled, so the elements stay and an older table gains the new set.
 */
export function renderAntiSpoofBase(): string {
  const a = ANTISPOOF;
  return lines(
    `add table ${B}`,
    `add set ${B} ${a.ports} { type ifname; }`,
    `add set ${B} ${a.mac} { type ifname . ether_addr; }`,
    `add set ${B} ${a.ip4} { type ifname . ether_addr . ipv4_addr; }`,
    `add set ${B} ${a.ip6} { type ifname . ether_addr . ipv6_addr; }`,
    `add set ${B} ${a.nd6} { typeof iifname . ether saddr . ${ND_TARGET}; }`,
    `add chain ${B} ${a.check}`,
    `flush chain ${B} ${a.check}`,
    ...[
      `iifname . ether saddr != @${a.mac} drop comment "MAC SPOOF"`,
      `ether type arp iifname . arp saddr ether . arp saddr ip != @${a.ip4} drop comment "ARP SPOOF"`,
      `ether type ip iifname . ether saddr . ip saddr != @${a.ip4} drop comment "IPV4 SPOOF"`,
      `ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop comment "RA GUARD"`,
      `ether type ip6 icmpv6 type nd-neighbor-advert iifname . ether saddr . ${ND_TARGET} != @${a.nd6} drop comment "ND SPOOF"`,
      `ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit iifname . ether saddr . ${ND_TARGET} != @${a.nd6} drop comment "DAD SPOOF"`,
      `ether type ip6 ip6 saddr :: return comment "IPV6 DAD"`,
      `ether type ip6 iifname . ether saddr . ip6 saddr != @${a.ip6} drop comment "IPV6 SPOOF"`,
    ].map((r) => `add rule ${B} ${a.check} ${r}`),
    ...baseChainIn(B, a.prerouting, 'type filter hook prerouting priority -300; policy accept;', [`iifname @${a.ports} jump ${a.check}`]),
  );
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The link-local address the kernel gives an Ethernet interface by default
 * (addr_gen_mode 0, RFC 4291 §2.5.1 and appendix A): fe80::/64 plus the modified EUI-64
 * interface identifier, i.e. the MAC with the universal/local bit flipped and ff:fe
 * inserted in the middle. 02:42:ac:11:00:02 → fe80::42:acff:fe11:2.
 */
export function eui64LinkLocal(mac: string): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw invalid('FIREWALL_INVALID_ENDPOINT', `MAC address "${mac}" is not six colon-separated hex bytes`, 'mac');
  const b = m.split(':').map((x) => parseInt(x, 16));
  b[0]! ^= 0x02;
  const iid = [b[0]!, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!].reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
  return formatIpValue(6, (0xfe80n << 112n) | iid);
}

/** An IPv6 address as a 128-bit integer in network byte order, the way the nd6 set's raw payload key is written. */
export function ndTargetKey(ipv6: string): string {
  const addr = tryParseIp(ipv6);
  if (addr?.family !== 6) throw invalid('FIREWALL_INVALID_ENDPOINT', `"${ipv6}" is not an IPv6 address`, 'ipv6');
  return `0x${addr.value.toString(16).padStart(32, '0')}`;
}

/**
 * The IPv6 addresses an endpoint may send from and name as ND target, canonical text: its
 * global address if it has one, then its EUI-64 link-local address. Every endpoint has the
 * link-local one, IPv4-only ones too: the kernel gives the interface one unless IPv6 is
 * disabled there. (Anything writing the ip6 and nd6 elements another way must use this.)
 */
export function antiSpoofIpv6(e: Pick<AntiSpoofEndpoint, 'mac' | 'ipv6'>): string[] {
  const v6 = e.ipv6 === undefined ? undefined : tryParseIp(e.ipv6);
  if (e.ipv6 !== undefined && v6?.family !== 6) throw invalid('FIREWALL_INVALID_ENDPOINT', `"${e.ipv6}" is not an IPv6 address`, 'ipv6');
  const ll = eui64LinkLocal(e.mac);
  const global = v6 ? formatIpValue(6, v6.value) : undefined;
  return global === undefined || global === ll ? [ll] : [global, ll];
}

/**
 * The endpoint's elements, one per set and address, as structured operations: the text below
 * is rendered from them, and the firewall's fast path (kernel/nft-elements.ts) encodes the
 * same operations as bytes, so the two can never name different elements. Validates.
 */
export function antiSpoofOps(e: AntiSpoofEndpoint): ElementOp[] {
  validateBridge(e.port, 'port');
  const mac = e.mac.toLowerCase();
  if (!MAC.test(mac)) throw invalid('FIREWALL_INVALID_ENDPOINT', `MAC address "${e.mac}" is not six colon-separated hex bytes`, 'mac');
  if (e.ipv4 !== undefined && !isIPv4(e.ipv4)) throw invalid('FIREWALL_INVALID_ENDPOINT', `"${e.ipv4}" is not an IPv4 address`, 'ipv4');
  const own = antiSpoofIpv6(e);
  const key: ElementPart[] = [{ ifname: e.port }, { ether: mac }];
  const op = (set: string, parts: ElementPart[]): ElementOp => ({ op: 'add', family: BRIDGE_FAMILY, table: TABLE, set, key: parts });
  return [
    op(ANTISPOOF.mac, key),
    ...(e.ipv4 !== undefined ? [op(ANTISPOOF.ip4, [...key, { ipv4: e.ipv4 }])] : []),
    ...own.map((a) => op(ANTISPOOF.ip6, [...key, { ipv6: a }])),
    // The nd6 key's last part is the raw 128-bit payload: the address's bytes (ndTargetKey in text).
    ...own.map((a) => op(ANTISPOOF.nd6, [...key, { raw: Buffer.from(ndTargetKey(a).slice(2), 'hex') }])),
    op(ANTISPOOF.ports, [{ ifname: e.port }]),
  ];
}

/** renderDeleteEndpoint's elements for the fast path: all added, then all deleted ("already gone" is success). */
export function deleteAntiSpoofOps(e: AntiSpoofEndpoint): ElementOp[] {
  const adds = antiSpoofOps(e);
  return [...adds, ...adds.map((o) => ({ ...o, op: 'delete' as const }))];
}

/** nft's text for an element key or value: its parts joined by ` . `. */
export function elementText(parts: ElementPart[]): string {
  return parts
    .map((p) => {
      if ('ifname' in p) return `"${p.ifname}"`;
      if ('ether' in p) return p.ether;
      if ('ipv4' in p) return p.ipv4;
      if ('ipv6' in p) return p.ipv6;
      if ('proto' in p) return p.proto;
      if ('port' in p) return String(p.port);
      return `0x${p.raw.toString('hex')}`;
    })
    .join(' . ');
}

function antiSpoofElements(e: AntiSpoofEndpoint): [string, string][] {
  return antiSpoofOps(e).map((o) => [o.set, elementText(o.key)]);
}

/** Allows the endpoint's own sources on its port and turns the check on (idempotent). */
export function renderAddEndpoint(e: AntiSpoofEndpoint): string {
  return lines(...antiSpoofElements(e).map(([set, el]) => `add element ${B} ${set} { ${el} }`));
}

/** Removes the endpoint's elements; already gone is success (add-then-delete, as above). */
export function renderDeleteEndpoint(e: AntiSpoofEndpoint): string {
  return lines(...antiSpoofElements(e).flatMap(([set, el]) => [`add element ${B} ${set} { ${el} }`, `delete element ${B} ${set} { ${el} }`]));
}

/** Every anti-spoofing set emptied (reload re-adds the wanted endpoints in the same transaction). */
export function renderFlushEndpoints(): string {
  return lines(...[ANTISPOOF.ports, ANTISPOOF.mac, ANTISPOOF.ip4, ANTISPOOF.ip6, ANTISPOOF.nd6].map((s) => `flush set ${B} ${s}`));
}

function baseChainIn(table: string, name: string, spec: string, rules: string[]): string[] {
  return [`add chain ${table} ${name} { ${spec} }`, `flush chain ${table} ${name}`, ...rules.map((r) => `add rule ${table} ${name} ${r}`)];
}
