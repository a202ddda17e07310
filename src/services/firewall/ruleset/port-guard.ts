/**
 * Anti-spoofing on a port's own egress (docs/FIREWALL.md "Per-port egress check (netdev
 * family)"): `table netdev switchyard`, loaded inside a sandbox's namespace. Pure: no I/O.
 *
 * Why: on the overlay's fast data path (docs/drivers/overlay.md "Speed") a sandbox's
 * interface is a macvlan on the network's VXLAN device, moved into the sandbox: no veth,
 * no bridge, so nothing outside the sandbox sees which port a frame came from. The check
 * moves to the egress hook of the port device itself, inside the sandbox's namespace
 * (nftables netdev family, `hook egress`, Linux 5.16+), where a sandbox without
 * CAP_NET_ADMIN cannot remove it.
 *
 * The table holds the same five sets as `table bridge switchyard` and a regular chain with
 * the same rules (ruleset/antispoof.ts antiSpoofCheckRules), keyed on `oifname` (the port
 * device as named inside the sandbox, e.g. `eth1`) instead of the bridge port's `iifname`.
 * It has no base chain: each port gets its own, `port-<ifname>` (hook egress, device
 * <ifname>, priority -300), written as nfnetlink bytes with the port's elements in one batch
 * (kernel/nft-port-chain.ts), and deleted with the port. No fail-closed prefix rule either:
 * the hook exists exactly for the ports that were joined.
 *
 * The port chain first accepts, at once, an IPv4 frame or a non-ICMPv6 IPv6 frame whose
 * (port, MAC, source address) is in the check's ip4/ip6 set: the check would let exactly
 * these through, after a dozen rules (kernel/nft-port-chain.ts says why nothing changes).
 *
 * The port chain is not a bare `jump antispoof`: a frame goes to the check (`goto`) only when
 * skb->protocol equals its EtherType (ARP, IPv4 or IPv6) and its link-layer header can be
 * read; every other frame is dropped ("UNCHECKABLE"). On the egress hook a packet socket can
 * hand over a frame without a link-layer header offset (PACKET_QDISC_BYPASS with a protocol
 * named), or with an skb->protocol other than its EtherType, from which the netdev family
 * parses the transport header: either way the check's matches fail and its drop rules do
 * not fire. kernel/nft-port-chain.ts has the details; test/integration/port-guard.test.ts
 * shows both getting through a bare `jump` and being dropped by this chain.
 */
import type { ElementOp } from '../../../kernel/nft-elements.js';
import type { NetdevPortChain } from '../../../kernel/nft-port-chain.js';
import { antiSpoofCheckRules, antiSpoofOps, antiSpoofSets, deleteAntiSpoofOps, type AntiSpoofEndpoint } from './antispoof.js';
import { filledChain, lines, validateBridge } from './elements.js';
import { ANTISPOOF, NETDEV_FAMILY, PORT_GUARD_UNCHECKABLE, TABLE, portGuardChain } from './names.js';

const N = `${NETDEV_FAMILY} ${TABLE}`;

/** The priority of every port's egress chain (as the bridge table's prerouting chain: first). */
export const PORT_GUARD_PRIORITY = -300;

/**
 * The table, its sets and the check chain. Re-runnable on an existing table, as the bridge
 * one: `add set` is create-or-verify and the chain is flushed and re-filled, so elements and
 * the per-port chains (which jump to it) stay.
 */
export function renderPortGuardBase(): string {
  return lines(`add table ${N}`, ...antiSpoofSets(N, 'oifname'), ...filledChain(N, ANTISPOOF.check, undefined, antiSpoofCheckRules('oifname')));
}

/**
 * A port's base chain as nft text: what kernel/nft-port-chain.ts writes as bytes (tests
 * compare the two listings; nothing on the join path parses it). Validates the device name.
 */
export function renderPortGuardChain(ifname: string): string {
  validateBridge(ifname, 'ifname');
  const spec = `type filter hook egress device "${ifname}" priority ${PORT_GUARD_PRIORITY}; policy accept;`;
  return lines(
    ...filledChain(N, portGuardChain(ifname), spec, [
      `meta protocol ip ether type ip oifname . ether saddr . ip saddr @${ANTISPOOF.ip4} accept`,
      `meta protocol ip6 ether type ip6 meta l4proto != ipv6-icmp oifname . ether saddr . ip6 saddr @${ANTISPOOF.ip6} accept`,
      ...['arp', 'ip', 'ip6'].map((t) => `meta protocol ${t} ether type ${t} goto ${ANTISPOOF.check}`),
      `drop comment "${PORT_GUARD_UNCHECKABLE}"`,
    ]),
  );
}

/**
 * The port's egress chain as kernel/nft-port-chain.ts encodes it (NftElements.joinPortChain,
 * leavePortChain): `port-<ifname>` in `table netdev switchyard`, hook egress on device
 * `ifname`, priority -300, checkable frames to `antispoof`. Validates the device name.
 */
export function portGuardChainSpec(ifname: string): NetdevPortChain {
  validateBridge(ifname, 'ifname');
  return {
    table: TABLE, chain: portGuardChain(ifname), device: ifname, priority: PORT_GUARD_PRIORITY, target: ANTISPOOF.check, dropComment: PORT_GUARD_UNCHECKABLE,
    fastPath: { ip4Set: ANTISPOOF.ip4, ip6Set: ANTISPOOF.ip6 },
  };
}

/**
 * The port's elements in `table netdev switchyard` (antiSpoofOps with family netdev): `port`
 * is the device's name inside the sandbox (e.g. `eth1`). Validates.
 */
export function portGuardOps(e: AntiSpoofEndpoint): ElementOp[] {
  return antiSpoofOps(e, NETDEV_FAMILY);
}

/** The port's elements added, then deleted, in one transaction: removal where "already gone" is success. */
export function deletePortGuardOps(e: AntiSpoofEndpoint): ElementOp[] {
  return deleteAntiSpoofOps(e, NETDEV_FAMILY);
}
