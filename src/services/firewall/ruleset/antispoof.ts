/**
 * Anti-spoofing (docs/FIREWALL.md "Anti-spoofing"; docs/SECURITY.md): `table bridge switchyard`.
 * Pure: no I/O.
 *
 * Docker has none: a container with CAP_NET_ADMIN (or a raw socket) can send frames with
 * another container's IP or MAC and poison the gateway's ARP cache. The check must see the
 * bridge *port* a frame came in on, which only the bridge family does (in the inet family,
 * with br_netfilter, iifname is the bridge itself), so it lives in a second table of the
 * same name. Like the inet table, it is elements only: an endpoint is five to seven
 * `add element`s keyed on its host-side veth name, never a rule.
 *
 * The endpoint's elements are first built as structured operations (antiSpoofOps); their
 * text is rendered from those, and the firewall's fast path encodes the very same
 * operations as nfnetlink bytes, so the two paths cannot name different elements.
 */
import { invalid } from '../../../errors.js';
import type { ElementOp, ElementPart } from '../../../kernel/nft-elements.js';
import { formatIpValue, tryParseIp } from '../../../model/ip.js';
import { addThenDelete, canonicalMac, elementText, filledChain, isFamilyAddr, lines, validateBridge } from './elements.js';
import { ANTISPOOF, BRIDGE_FAMILY, NETDEV_FAMILY, SANDBOX_PORT_PREFIX, TABLE } from './names.js';

const B = `${BRIDGE_FAMILY} ${TABLE}`;

/** The families whose `switchyard` table holds the anti-spoofing sets. */
export type AntiSpoofFamily = typeof BRIDGE_FAMILY | typeof NETDEV_FAMILY;

/** One endpoint as the anti-spoofing sets see it. */
export interface AntiSpoofEndpoint {
  /** Host-side veth name (the bridge port); in `table netdev switchyard`, the port device's name inside the sandbox. */
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
 * never reaches conntrack, NAT or the inet forward filter.
 *
 * What a port may send:
 * - only its own source MAC, and only untagged ARP, IPv4 or IPv6. An 802.1Q frame, even
 *   priority-tagged (VLAN 0), reads `ether type 8021q` here, and every receiver (a peer's
 *   veth, the bridge device) strips a VID-0 tag and takes the frame as plain IP or ARP:
 *   without this rule it would bypass every check below and, since br_netfilter skips
 *   tagged frames, ICC off too. Other EtherTypes are a covert channel between sandboxes
 *   of a network with ICC off.
 * - ARP naming its own MAC and IPv4 as sender; an ARP probe (sender 0.0.0.0, RFC 5227
 *   duplicate-address detection) naming its own MAC.
 * - IPv4 from its own address.
 * - IPv6 from its global address or its EUI-64 link-local one; from `::` only the ICMPv6
 *   messages that may have no address yet (RFC 4861 §4.1, §4.3 and RFC 3810 §5.2.13:
 *   router and neighbour solicitations, MLD reports). A neighbour advertisement,
 *   whatever its source, and a DAD probe may only name its own addresses as target, so a
 *   sandbox cannot take over a peer's or the gateway's address in a neighbour cache. A
 *   sandbox is never a router on its network: its router advertisements and redirects are
 *   dropped (RA guard, RFC 6105), so it cannot become its peers' default router.
 *
 * Fail closed: a frame from a sandbox port (`syv…`, the bridge driver's names) that is
 * not in `@ports` is dropped, so a port whose elements are missing (being re-added by a
 * reload, or left by a process that escaped its sandbox's teardown) carries nothing.
 *
 * Re-runnable on an existing table: `add set` is create-or-verify and the chains are
 * flushed and re-filled, so the elements stay and an older table gains the new set.
 */
export function renderAntiSpoofBase(): string {
  const portPrefix = SANDBOX_PORT_PREFIX;
  const a = ANTISPOOF;
  return lines(
    `add table ${B}`,
    ...antiSpoofSets(B, 'iifname'),
    ...filledChain(B, a.check, undefined, antiSpoofCheckRules('iifname')),
    ...filledChain(B, a.prerouting, 'type filter hook prerouting priority -300; policy accept;', [
      `iifname @${a.ports} jump ${a.check}`,
      `iifname "${portPrefix}*" iifname != @${a.ports} drop comment "UNKNOWN PORT"`,
    ]),
  );
}

/**
 * Which interface name a frame's port is: `iifname` on the bridge's prerouting hook (the
 * frame comes in on the host-side veth), `oifname` on a port's own egress hook inside the
 * sandbox (ruleset/port-guard.ts).
 */
export type PortKey = 'iifname' | 'oifname';

/** The five anti-spoofing sets of `table` (e.g. `bridge switchyard`), keyed on the port by `port`. */
export function antiSpoofSets(table: string, port: PortKey): string[] {
  const a = ANTISPOOF;
  return [
    `add set ${table} ${a.ports} { type ifname; }`,
    `add set ${table} ${a.mac} { type ifname . ether_addr; }`,
    `add set ${table} ${a.ip4} { type ifname . ether_addr . ipv4_addr; }`,
    `add set ${table} ${a.ip6} { type ifname . ether_addr . ipv6_addr; }`,
    `add set ${table} ${a.nd6} { typeof ${port} . ether saddr . ${ND_TARGET}; }`,
  ];
}

/**
 * The rules of the check chain (what a port may send, above), the port named by `port`:
 * one list for the bridge table and the per-port egress one, so the two cannot drift.
 */
export function antiSpoofCheckRules(port: PortKey): string[] {
  const a = ANTISPOOF;
  const probe = 'ether type arp arp saddr ip 0.0.0.0';
  return [
    `${port} . ether saddr != @${a.mac} drop comment "MAC SPOOF"`,
    `ether type != { arp, ip, ip6 } drop comment "NOT UNTAGGED IP"`,
    `ether type arp arp saddr ip != 0.0.0.0 ${port} . arp saddr ether . arp saddr ip != @${a.ip4} drop comment "ARP SPOOF"`,
    `${probe} arp operation != request drop comment "ARP PROBE"`,
    `${probe} ${port} . arp saddr ether != @${a.mac} drop comment "ARP PROBE"`,
    `ether type ip ${port} . ether saddr . ip saddr != @${a.ip4} drop comment "IPV4 SPOOF"`,
    `ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop comment "RA GUARD"`,
    `ether type ip6 icmpv6 type nd-neighbor-advert ${port} . ether saddr . ${ND_TARGET} != @${a.nd6} drop comment "ND SPOOF"`,
    `ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit ${port} . ether saddr . ${ND_TARGET} != @${a.nd6} drop comment "DAD SPOOF"`,
    `ether type ip6 ip6 saddr :: icmpv6 type { nd-router-solicit, nd-neighbor-solicit, mld-listener-report, mld2-listener-report } return comment "IPV6 DAD"`,
    `ether type ip6 ${port} . ether saddr . ip6 saddr != @${a.ip6} drop comment "IPV6 SPOOF"`,
  ];
}

/**
 * The link-local address the kernel gives an Ethernet interface by default
 * (addr_gen_mode 0, RFC 4291 §2.5.1 and appendix A): fe80::/64 plus the modified EUI-64
 * interface identifier, i.e. the MAC with the universal/local bit flipped and ff:fe
 * inserted in the middle. 02:42:ac:11:00:02 → fe80::42:acff:fe11:2.
 */
export function eui64LinkLocal(mac: string): string {
  const b = canonicalMac(mac).split(':').map((x) => parseInt(x, 16));
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
 * `family`: the table's, `bridge` here; `netdev` for the per-port egress check
 * (ruleset/port-guard.ts portGuardOps), whose sets are the same.
 */
export function antiSpoofOps(e: AntiSpoofEndpoint, family: AntiSpoofFamily = BRIDGE_FAMILY): ElementOp[] {
  validateBridge(e.port, 'port');
  const mac = canonicalMac(e.mac);
  if (e.ipv4 !== undefined && !isFamilyAddr(4, e.ipv4)) throw invalid('FIREWALL_INVALID_ENDPOINT', `"${e.ipv4}" is not an IPv4 address`, 'ipv4');
  const own = antiSpoofIpv6({ mac, ...(e.ipv6 !== undefined ? { ipv6: e.ipv6 } : {}) });
  const key: ElementPart[] = [{ ifname: e.port }, { ether: mac }];
  const op = (set: string, parts: ElementPart[]): ElementOp => ({ op: 'add', family, table: TABLE, set, key: parts });
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
export function deleteAntiSpoofOps(e: AntiSpoofEndpoint, family: AntiSpoofFamily = BRIDGE_FAMILY): ElementOp[] {
  return addThenDelete(antiSpoofOps(e, family));
}

const opText = (o: ElementOp): string => `${o.op} element ${B} ${o.set} { ${elementText(o.key)} }`;

/** Allows the endpoint's own sources on its port and turns the check on (idempotent). */
export function renderAddEndpoint(e: AntiSpoofEndpoint): string {
  return lines(...antiSpoofOps(e).map(opText));
}

/** Removes the endpoint's elements; already gone is success (add-then-delete, as above). */
export function renderDeleteEndpoint(e: AntiSpoofEndpoint): string {
  // The fast path's operations (all adds, then all deletes), written each add next to its delete.
  const ops = deleteAntiSpoofOps(e);
  const half = ops.length / 2;
  return lines(...ops.slice(0, half).flatMap((o, i) => [opText(o), opText(ops[half + i]!)]));
}

/** Every anti-spoofing set emptied (reload re-adds the wanted endpoints in the same transaction). */
export function renderFlushEndpoints(): string {
  return lines(...[ANTISPOOF.ports, ANTISPOOF.mac, ANTISPOOF.ip4, ANTISPOOF.ip6, ANTISPOOF.nd6].map((s) => `flush set ${B} ${s}`));
}
