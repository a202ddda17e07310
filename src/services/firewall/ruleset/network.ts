/**
 * `table inet switchyard`: the base (sets, maps, base chains) and the per-network
 * elements and chains. Pure: no I/O.
 *
 * Switchyard owns exactly this table and the anti-spoofing `table bridge switchyard`
 * (antispoof.ts), and never names any other table. The layout follows Docker 29's
 * nftables backend (moby daemon/libnetwork/drivers/bridge/internal/nftabler): base chains
 * dispatch through verdict maps keyed by bridge name to small per-network chains, so a
 * network costs a few set and map elements plus one short chain, and adding or
 * removing one never rewrites the rest of the table (moby#53466: rewriting the ruleset per
 * change took 22.8 s for 32 ports). docs/FIREWALL.md draws the layout.
 *
 * Every render* function returns nft commands for ONE transaction (Nft.run); each is
 * idempotent (create-or-verify), so running it twice leaves the same state.
 */
import { filledChain, lines, parseSubnets, validateBridge } from './elements.js';
import { FAMILY, NAMES, postroutingChain, TABLE } from './names.js';
import { ROUTED_PORT_PREFIX } from './routed.js';

const T = `${FAMILY} ${TABLE}`;

/** What the firewall needs to know about one bridge network. */
export interface FirewallNetwork {
  /** Linux bridge device name, e.g. "sy-3f2a…" (≤ 15 characters, IFNAMSIZ-1). */
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

export function validateNetwork(net: FirewallNetwork): void {
  validateBridge(net.bridge);
  parseSubnets(net.subnets);
}

/** What the base renders besides the fixed objects. */
export interface BaseOptions {
  /**
   * The families whose forwarding the daemon turned on itself: their traffic that neither
   * enters nor leaves a Switchyard bridge is not forwarded (the `not-a-router` chain).
   * Absent: that chain is created if missing and its rules are left as they are.
   */
  notARouter?: ReadonlyArray<4 | 6>;
}

/**
 * Table, sets, maps, the user chain and the base chains. Idempotent and non-destructive:
 * `add` of an existing table, set, map or chain changes nothing, so elements and the
 * user chain's rules survive. Only the base chains' own rules are flushed and re-added,
 * and there is a fixed number of them whatever the number of networks.
 *
 * Priorities: filter (0) for forward, like iptables' FORWARD; raw (-300) for the
 * prerouting filter, before conntrack and NAT; dstnat (-100) for prerouting; nft 1.0.6
 * refuses the `dstnat` keyword on the output hook, so output says -100 (same value);
 * srcnat (100) for postrouting (docs/notes/kernel-facts.md#nat-chain-priorities).
 */
export function renderBase(o: BaseOptions = {}): string {
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
    `add set ${T} ${n.noDirect} { type ifname; }`,
    `add chain ${T} ${n.user}`,
    ...notARouterChain(o.notARouter),
    ...forwardOtherChains(),
    ...filledChain(T, n.forward, 'type filter hook forward priority filter; policy accept;', forwardRules()),
    ...filledChain(T, n.rawPrerouting, 'type filter hook prerouting priority raw; policy accept;', rawPreroutingRules()),
    // Upgrade: the old set, referenced only by the old raw rule just flushed (nft 1.0.6 has
    // no `destroy`: add, a no-op when present, then delete).
    `add set ${T} ${n.legacyNoDirect} { typeof fib daddr oifname; }`,
    `delete set ${T} ${n.legacyNoDirect}`,
    ...filledChain(T, n.prerouting, 'type nat hook prerouting priority dstnat; policy accept;', dnatRules()),
    ...filledChain(T, n.output, 'type nat hook output priority -100; policy accept;', dnatRules()),
    ...filledChain(T, n.postrouting, 'type nat hook postrouting priority srcnat; policy accept;', postroutingRules()),
  );
}

/**
 * The forwarding guard (docs/FIREWALL.md "Forwarding"). Docker sets the FORWARD policy to
 * DROP when it turns ip_forward on itself; a policy would judge every table's traffic, so
 * Switchyard drops instead, at the very end of its own forward chain, only what neither
 * enters nor leaves one of its bridges, and only for a family whose forwarding it turned
 * on (a host that already forwarded is a router by the admin's choice). The admin's `user`
 * chain runs first, so an `accept` there lets chosen traffic through.
 */
function notARouterChain(families: ReadonlyArray<4 | 6> | undefined): string[] {
  const chain = [`add chain ${T} ${NAMES.notRouter}`];
  if (families === undefined) return chain;
  const proto = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');
  const wanted = ([4, 6] as const).filter((f) => families.includes(f));
  return [
    ...chain,
    `flush chain ${T} ${NAMES.notRouter}`,
    ...wanted.map((f) => `add rule ${T} ${NAMES.notRouter} meta nfproto ${proto(f)} drop comment "NOT A ROUTER"`),
  ];
}

/**
 * Before conntrack and NAT see them: loopback destinations arriving on any interface but
 * lo. Two reasons: (1) the DNAT rules run before routing, so without this a host on the
 * local network could send to 127.0.0.1:<port> and reach a port published on 127.0.0.1
 * only (moby#45610, fixed in Docker 28 by a raw-table drop); (2) publishing on 127.0.0.1
 * needs route_localnet=1 on the bridges, which would otherwise let a sandbox with
 * CAP_NET_RAW reach the host's 127.0.0.1 services (CVE-2020-8558). The kernel drops these
 * packets as martians anyway wherever route_localnet is 0, and never routes ::1 from
 * outside (RFC 4291 §2.5.3).
 * Direct routing (a packet from outside the bridges routed straight into a masquerading or
 * internal network) used to be dropped here too, with two route lookups (fib) for every
 * packet that entered the host from elsewhere; it is now a forward rule, `DIRECT ROUTING`
 * in forwardRules, which only traffic to a bridge pays. Without it a neighbour that routes
 * the subnet via this host would reach every published container port whatever HostIp it
 * was published on, bypassing DNAT. A network with masquerade off, whose sandboxes talk to
 * the outside with their own addresses, is not in the set (Docker 28 asks for
 * gateway_mode=routed there; Switchyard has no gateway modes yet), and the forward filter
 * alone decides for it (published ports only).
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
    // The same for a routed sandbox's veth (syr*, no bridge): the masquerade takes the
    // underlay's address (the veth has none on the host side).
    `oifname "${ROUTED_PORT_PREFIX}*" ct status dnat ip saddr 127.0.0.0/8 masquerade comment "LOCALHOST"`,
    `oifname "${ROUTED_PORT_PREFIX}*" ct status dnat ip saddr . meta l4proto . th dport @${n.published4} masquerade comment "HAIRPIN"`,
    `oifname "${ROUTED_PORT_PREFIX}*" ct status dnat ip6 saddr . meta l4proto . th dport @${n.published6} masquerade comment "HAIRPIN"`,
    `iifname vmap @${n.postroutingOut}`,
  ];
}

/**
 * The forward filter, in order; the first matching verdict wins.
 *
 * Bridged frames traverse this hook too, because br_netfilter is built into this kernel
 * and bridge-nf-call-iptables/ip6tables default to 1 in every netns (docs/notes/kernel-facts.md#bridged-frames-and-br_netfilter): for a frame bridged
 * between two ports of br0, iifname and oifname are both "br0". That is how ICC off can
 * stop container-to-container traffic on one bridge.
 */
function forwardRules(): string[] {
  const n = NAMES;
  const same = `iifname . oifname @${n.self}`;
  return [
    // DOCKER-USER: the admin's rules see every forwarded packet before Switchyard's.
    `jump ${n.user} comment "USER RULES FIRST"`,
    // Every rule down to OUTBOUND needs the packet to enter or leave a bridge (internal
    // bridges are bridges too), and every packet that does gets its verdict there: the rest
    // (routed ports, the not-a-router guard) skips them in one rule. On this machine's kernel
    // each rule a forwarded packet walks costs it latency (docs/BENCHMARKS.md "Routed").
    `iifname != @${n.bridges} oifname != @${n.bridges} goto ${n.forwardOther}`,
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
    // Direct routing (Docker 28's `raw PREROUTING -d <ctr> ! -i <bridge> -j DROP`, per
    // network here: one set element): a connection from outside the bridges into a
    // masquerading or internal network that was not DNATed by this host (the DNATed ones
    // to published ports were accepted above, the others are dropped either way). Replies
    // pass: on such a network every connection out is masqueraded, so a reply was addressed
    // to a host address until conntrack rewrote it. A packet without conntrack state
    // (untracked, invalid) is dropped too, as the raw rule did. Here and not in raw
    // prerouting: there it cost every packet that enters the host from elsewhere two route
    // lookups (fib), routed networks' traffic included (docs/BENCHMARKS.md "Routed").
    `oifname @${n.noDirect} iifname != @${n.bridges} ct direction original drop comment "DIRECT ROUTING"`,
    `oifname @${n.noDirect} iifname != @${n.bridges} ct state invalid,untracked drop comment "DIRECT ROUTING"`,
    `oifname @${n.bridges} ct state established,related accept comment "ESTABLISHED"`,
    // Docker's DOCKER-ISOLATION: no forwarding between two Switchyard bridges, either way.
    `iifname @${n.bridges} oifname @${n.bridges} drop comment "ISOLATION"`,
    `oifname @${n.bridges} ip daddr . meta l4proto . th dport @${n.published4} accept comment "PUBLISHED PORT"`,
    `oifname @${n.bridges} ip6 daddr . meta l4proto . th dport @${n.published6} accept comment "PUBLISHED PORT"`,
    // Containers are reachable from outside only through published ports, IPv6 included,
    // where no NAT hides them (libnetwork#2557).
    `oifname @${n.bridges} drop comment "UNPUBLISHED PORT DROP"`,
    `iifname @${n.bridges} accept comment "OUTBOUND"`,
    // Whatever is still here entered or left a Switchyard bridge and got its verdict above.
  ];
}

/**
 * What `forward` hands over when a packet neither enters nor leaves a Switchyard bridge:
 * routed ports (`syr*`) and the not-a-router guard.
 *
 * Routed networks' ports: table inet switchyard-routed decides for them (isolation,
 * anti-spoofing, ruleset/routed.ts); this table only keeps the not-a-router guard off
 * them (docs/drivers/routed.md "Isolation and anti-spoofing"). Published ports of routed
 * sandboxes (DNAT to a /32 behind its syr* veth): the routed table admits any DNATed flow
 * into or out of a sandbox; this table, which holds the published sets, keeps that to
 * published ports (docs/drivers/routed.md "Published ports").
 */
function forwardOtherChains(): string[] {
  const n = NAMES;
  const port = `"${ROUTED_PORT_PREFIX}*"`;
  const intoPort = [
    `oifname ${port} ct status dnat ct direction original ip daddr . meta l4proto . th dport @${n.published4} accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `oifname ${port} ct status dnat ct direction original ip6 daddr . meta l4proto . th dport @${n.published6} accept comment "ROUTED PUBLISHED PORT (DNAT)"`,
    `oifname ${port} ct status dnat ct direction original drop comment "ROUTED UNPUBLISHED PORT DROP"`,
  ];
  return [
    ...filledChain(T, n.fromRoutedPort, undefined, [
      ...intoPort.slice(0, 2),
      `ct status dnat ct direction reply ip saddr . meta l4proto . th sport @${n.published4} accept comment "ROUTED PUBLISHED PORT (DNAT) REPLY"`,
      `ct status dnat ct direction reply ip6 saddr . meta l4proto . th sport @${n.published6} accept comment "ROUTED PUBLISHED PORT (DNAT) REPLY"`,
      intoPort[2]!,
      'accept comment "ROUTED PORT"',
    ]),
    ...filledChain(T, n.toRoutedPort, undefined, [...intoPort, 'accept comment "ROUTED PORT"']),
    ...filledChain(T, n.forwardOther, undefined, [
      `iifname ${port} goto ${n.fromRoutedPort}`,
      `oifname ${port} goto ${n.toRoutedPort}`,
      // Whatever reaches this point neither enters nor leaves a Switchyard bridge or routed port.
      `jump ${n.notRouter} comment "NOT A ROUTER"`,
    ]),
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
  validateBridge(net.bridge);
  const b = net.bridge;
  const { v4, v6 } = parseSubnets(net.subnets);
  const masquerade = net.masquerade && !net.internal && v4.length + v6.length > 0;
  return lines(
    addMember(NAMES.bridges, `"${b}"`),
    addMember(NAMES.self, `"${b}" . "${b}"`),
    ...(net.icc ? [addMember(NAMES.icc, `"${b}"`)] : removeMember(NAMES.icc, `"${b}"`)),
    ...(net.internal ? [addMember(NAMES.internal, `"${b}"`)] : removeMember(NAMES.internal, `"${b}"`)),
    // A network that does not masquerade is routed by design: its addresses are reached
    // directly, so the forward filter alone decides (published ports only); see rawPreroutingRules.
    ...(net.masquerade || net.internal ? [addMember(NAMES.noDirect, `"${b}"`)] : removeMember(NAMES.noDirect, `"${b}"`)),
    ...(masquerade ? ensureMasquerade(b, v4.map((s) => s.text), v6.map((s) => s.text)) : removeMasquerade(b)),
  );
}

/**
 * Removes a network's elements and chains. Already gone is success: each object is added
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
    ...removeMember(NAMES.noDirect, `"${b}"`),
    ...removeMasquerade(b),
  );
}

/**
 * The membership sets emptied, for reload(): it re-adds every wanted network in the same
 * transaction, so no packet ever sees them empty. published/dnat elements are kept.
 */
export function renderFlushMembership(): string {
  const n = NAMES;
  return lines(...[n.bridges, n.self, n.icc, n.internal, n.noDirect].map((s) => `flush set ${T} ${s}`));
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

function addMember(set: string, element: string): string {
  return `add element ${T} ${set} { ${element} }`;
}

function removeMember(set: string, element: string): string[] {
  return [addMember(set, element), `delete element ${T} ${set} { ${element} }`];
}

