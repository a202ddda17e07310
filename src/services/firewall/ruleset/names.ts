/**
 * Names of Switchyard's two nftables tables and of every object in them, in one place so
 * rules, the firewall, the stale-element sweep, docs and tests agree. Pure constants.
 */

/** `table inet switchyard`: networks, published ports, the forwarding guard. */
export const FAMILY = 'inet';
export const TABLE = 'switchyard';
/** `table bridge switchyard`: anti-spoofing on bridge ports (ruleset/antispoof.ts). */
export const BRIDGE_FAMILY = 'bridge';

/**
 * `table netdev switchyard`, inside a sandbox's namespace: the anti-spoofing check on the
 * egress hook of the sandbox's own port device (ruleset/port-guard.ts).
 */
export const NETDEV_FAMILY = 'netdev';

/** The objects of `table inet switchyard`. */
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
  /**
   * set of ifname: bridges of networks whose sandboxes are not reached by routing straight
   * to them from outside (every masquerading or internal network).
   */
  noDirect: 'no-direct',
  /**
   * The same set as releases before the DIRECT ROUTING rule moved to forward made it
   * (`typeof fib daddr oifname`, a string type that `oifname` will not match): deleted by
   * renderBase when present.
   */
  legacyNoDirect: 'no-direct-routing',
  /**
   * Regular chain jumped to at the end of `forward` by traffic that neither enters nor leaves
   * a Switchyard bridge: empty, or a drop per family whose forwarding the daemon turned on.
   */
  notRouter: 'not-a-router',
  /**
   * Regular chain that `forward` hands everything that neither enters nor leaves a Switchyard
   * bridge to, in one rule, so that routed traffic does not walk the bridge rules.
   */
  forwardOther: 'forward-other',
  /** Regular chains for packets from / to a routed port (`syr*`) that are not bridged. */
  fromRoutedPort: 'from-routed-port',
  toRoutedPort: 'to-routed-port',
} as const;

/** The per-network masquerade chain. */
export const postroutingChain = (bridge: string): string => `post-${bridge}`;

/** The objects of `table bridge switchyard`. */
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

/**
 * The per-port base chain of `table netdev switchyard` (ruleset/port-guard.ts): hook egress
 * on device `ifname` (the port's name inside the sandbox); frames the check can read go to
 * `antispoof`, the others are dropped with the comment PORT_GUARD_UNCHECKABLE.
 */
export const portGuardChain = (ifname: string): string => `port-${ifname}`;
export const PORT_GUARD_UNCHECKABLE = 'UNCHECKABLE';

/**
 * The host-side name prefix of every sandbox port the bridge driver makes
 * (drivers/bridge.ts: `syv…`). A frame from a port with this prefix that is not in
 * `@ports` is dropped: the check fails closed.
 */
export const SANDBOX_PORT_PREFIX = 'syv';
