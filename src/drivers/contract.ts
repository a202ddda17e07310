/**
 * The contract between the engine and a network driver. The engine owns records, IPAM
 * and the store; a driver plans its own part of the records (pure hooks) and turns
 * records into kernel state and back (effect hooks). Drivers are stateless: every call
 * gets the records it needs. This file imports only model/ and errors, so a driver (or a
 * test's toy driver) needs nothing from the engine. docs/ARCHITECTURE.md "Adding a driver".
 *
 * Shaped after netavark's NetworkDriver (validate/setup/teardown over plain data) and
 * moby's driverapi (a required Driver plus optional extensions, and a Capability).
 */
import type { DriverOptions } from '../model/driver-options.js';
import type { EndpointRecord, NetworkDriverState, NetworkRecord } from '../model/records.js';

/** What a driver is, for the engine's decisions (never its name). */
export interface DriverCapabilities {
  /** Where its networks' state is valid: this host only, or every host sharing the store (moby Capability.DataScope). */
  scope: 'local' | 'global';
  /** Its networks have address pools and its endpoints get addresses. */
  needsIpam: boolean;
  /** Users may create networks with it (`network create -d NAME`). */
  creatable: boolean;
  /** At most one network (the predefined one); creating another is refused. */
  singleton: boolean;
  /**
   * What a sandbox on one of its networks gets: `endpoint` (an interface per endpoint, made
   * by join), `host-netns` (the daemon's namespace itself: the `host` network) or
   * `loopback-only` (its own namespace with only lo: the `none` network).
   */
  attach: 'endpoint' | 'host-netns' | 'loopback-only';
  /**
   * It can make an endpoint's links and hand the sandbox end over to the caller instead of
   * moving it into a namespace itself (Docker's remote-driver Join: SrcName/DstPrefix).
   */
  handsOverLinks: boolean;
  /** The network the daemon creates for it at start (`bridge`, `host`, `none`), if any. */
  predefined?: string;
}

/**
 * The capabilities of a local driver whose networks users create and whose endpoints get
 * addresses and an interface in the sandbox (bridge, macvlan); a driver spreads it and
 * changes what differs.
 */
export const LOCAL_ENDPOINT_DRIVER: DriverCapabilities = {
  scope: 'local',
  needsIpam: true,
  creatable: true,
  singleton: false,
  attach: 'endpoint',
  handsOverLinks: false,
};

export interface SandboxNs {
  id: string;
  nsPath: string;
}

export interface JoinOptions {
  /** This endpoint carries the sandbox's default route for its families. */
  gateway: boolean;
  /**
   * The sandbox's namespace is sealed (model/namespace-seal.ts): no process let into it can
   * hold CAP_NET_ADMIN there, so a check placed inside it stays. Absent: not sealed.
   */
  sealed?: boolean;
  /**
   * Held: the port is made whole (interface, addresses, checks) but passes no traffic
   * until `release` (only asked of a driver that has `release`). The engine joins held while
   * the endpoint's cluster txn is in flight, so that the kernel work and etcd's commit
   * overlap, and releases once the txn has succeeded (endpoint-ops.ts, docs/CLUSTER.md).
   */
  held?: boolean;
}

export interface NetworkPlanInput {
  id: string;
  name: string;
  /** The typed options, parsed once from the user's text (model/driver-options.ts). */
  options: DriverOptions;
  /** The daemon's own predefined network (its options are the daemon's, not a user's). */
  predefined: boolean;
  /** Every other network, for uniqueness checks (e.g. bridge device names). */
  others: readonly NetworkRecord[];
  /** The network is `--internal` (macvlan/ipvlan: a dummy parent of its own, the given one unused). */
  internal?: boolean;
}

/** A link in the daemon's namespace, as reconcile's garbage collection sees it. */
export interface HostLink {
  name: string;
  /** IFLA_IFALIAS; links Switchyard makes carry `switchyard:<kind>:<id12>`. */
  alias?: string;
  /** IFLA_GROUP. */
  group?: number;
}

/** Where a network publishes ports: the link the DNAT'ed traffic leaves by, and the default host address. */
export interface DriverPublishTarget {
  link: string;
  /**
   * The link is each endpoint's own host link (its `hostLink`, e.g. the routed driver's
   * `syr…` veth), not one per network; `link` is then ignored.
   */
  endpointLink?: boolean;
  /** The network's default host address for `-p` without one (undefined: the daemon's --ip). */
  defaultHostIp?: string;
}

/**
 * An endpoint that another host of the cluster runs on a global network, as the cluster
 * layer learned it from the shared store. A global driver turns these into kernel state on
 * this host (overlay: static FDB and neighbour entries; routed: routes to the host's blocks).
 */
export interface PeerEndpoint {
  endpointId: string;
  networkId: string;
  /** The host it runs on: its node id and the address its encapsulated or routed traffic goes to (--data-path-addr). */
  nodeId: string;
  nodeAddress: string;
  mac: string;
  /** CIDR form, as on an EndpointRecord. */
  ipv4?: string;
  ipv6?: string;
}

/** A block of a routed network that another host holds (the cluster layer's claims, model/ip-blocks.ts). */
export interface RemoteBlock {
  nodeId: string;
  /** The host's data-path address: the next hop of the block's route. */
  nodeAddress: string;
  /** Canonical CIDR of the block. */
  cidr: string;
}

/** Every link alias Switchyard sets starts with this (`switchyard system reset` relies on it). */
export const LINK_ALIAS_PREFIX = 'switchyard:';

/** What rotateSecret decides from (engine/cluster-keys.ts gathers it). */
export interface SecretRotationInput {
  /** Node ids of the hosts taking part in the network. */
  hosts: readonly string[];
  /** The hosts' published reports (secretReport's output), as stored. */
  reports: readonly string[];
  now: Date;
  /** The secret's lifetime (--overlay-key-rotation). */
  intervalMs: number;
  graceMs?: number;
}

export interface NetworkDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  // Pure planning: no kernel, no store. Throws SwitchyardError on bad input.
  /** The driver's part of a new network record (validates and refuses what it does not implement). */
  planNetwork(input: NetworkPlanInput): NetworkDriverState;
  /** The options (as text, as Docker shows them) of its predefined network, from the daemon's flags. */
  predefinedOptions?(daemon: { mtu: number; defaultBindIp: string }): Record<string, string>;
  /** The links in the daemon's namespace that make up a network's kernel state (bridge: its bridge device). */
  networkLinks(net: NetworkRecord): string[];
  /**
   * The driver's part of a new endpoint record (e.g. the host-side link name). `ep.mac` is the
   * MAC the user asked for, if any; a returned `mac` is the one the interface will really
   * carry when the driver decides it (ipvlan: its parent's), recorded instead of a random one.
   */
  planEndpoint(net: NetworkRecord, ep: { id: string; ifname: string; mac?: string }): { hostLink?: string; mac?: string };
  /** Refuses one more running endpoint on `net` when the network cannot hold it (`attached` = running now). */
  admit?(net: NetworkRecord, attached: number): void;
  /** Where ports published through an endpoint on `net` go; undefined = this network cannot publish. */
  publishTarget?(net: NetworkRecord): DriverPublishTarget | undefined;

  // Effects.
  /** Creates or verifies the network's kernel state (idempotent). */
  ensureNetwork(net: NetworkRecord): void;
  /** Removes the network's kernel state (already gone = success). */
  deleteNetwork(net: NetworkRecord): Promise<void>;
  /** Creates the endpoint's interface inside the sandbox, with addresses and routes. */
  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: JoinOptions): void;
  /**
   * Lets a port joined `held` pass traffic (its link brought up: the overlay's port or proxy,
   * the routed driver's host end with its host routes). Drivers without it are never asked
   * to hold a join: the engine then commits first and joins after.
   */
  release?(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): void;
  /** Removes the endpoint's interface; the slow kernel part may finish after the promise. */
  leave(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void>;
  /** Moves the default route to/from this endpoint (moby ExtConner); absent = nothing to move. */
  setGateway?(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gateway: boolean): void;
  /** True when the endpoint's kernel state exists (for reconcile); with `sb`, its sandbox end is checked too. */
  endpointPresent(net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean;
  /**
   * True when the endpoint's port relies on its sandbox's namespace being sealed (its check
   * lives inside it: the overlay's direct ports). The engine joins it again unsealed when a
   * sandbox that may hold CAP_NET_ADMIN comes to share that namespace. Absent: never.
   */
  portSealed?(ep: EndpointRecord): boolean;
  /** True for a host link this driver made (reconcile deletes only such links when no record explains them). */
  ownsLink(link: HostLink): boolean;
  /**
   * The sandbox's namespace was deleted, taking its interfaces with it (no leave ran):
   * release what else its endpoints on this driver's networks held (e.g. firewall elements).
   */
  releaseSandbox?(sb: SandboxNs, endpoints: readonly { net: NetworkRecord; ep: EndpointRecord }[]): void;
  /** Rebuilds the driver's firewall state from the records (firewall reload, start-up). */
  reloadFirewall?(networks: readonly NetworkRecord[], runningEndpoints: readonly EndpointRecord[], sandboxNs?: (sandboxId: string) => string | undefined): void;
  /** False when firewall state the driver keeps outside the daemon's tables is gone (the watchdog then reloads). */
  firewallComplete?(): boolean;

  // Global drivers (scope 'global'): the cluster layer hands over what other hosts run.
  // The engine calls ensureNetwork on a host when its first local endpoint joins a global
  // network (and deleteNetwork after its last one leaves), then syncPeers at once, then
  // peerJoin/peerLeave as the store's watch reports changes.
  /**
   * The full set of remote endpoints of `net` now (after ensureNetwork, after a restart, after
   * missed watch events): the driver programs exactly these and removes any others it programmed.
   */
  syncPeers?(net: NetworkRecord, peers: readonly PeerEndpoint[]): void;
  /**
   * Names a network of this driver holds exclusively across the cluster (overlay: `vni/<n>`).
   * The engine claims each create-only in the network's create transaction (a clash is a
   * conflict and nothing is made) and frees them in its remove transaction.
   */
  uniqueClaims?(net: NetworkRecord): string[];
  /**
   * Routed networks: the full set of blocks of `net` that other hosts hold now (after
   * ensureNetwork, and whenever the claims change); the driver routes exactly these and
   * removes its other routes into the network's subnets.
   */
  syncRemoteBlocks?(net: NetworkRecord, blocks: readonly RemoteBlock[]): void;
  /**
   * A secret a new global network shares across its hosts (overlay `-o encrypted`: its key
   * ring, encoded), or undefined. The engine writes it in the network's create txn under its
   * own shared key (never in the network record, never in inspect) and deletes it with the
   * network.
   */
  newSecret?(net: NetworkRecord): string | undefined;
  /**
   * The network's secret as it is in the shared store now: handed before ensureNetwork and
   * again at every change (a key rotation). True when this host applied it to its kernel
   * (it takes part in the network); the engine then publishes this host's progress.
   */
  syncSecret?(net: NetworkRecord, secret: string): boolean;
  /** This host's progress with `secret` after applying it, published under its node id (overlay: HostKeyReport JSON). */
  secretReport?(net: NetworkRecord, secret: string, nodeId: string): string;
  /**
   * The secret's next version when it is due to change (overlay: a key rotation's next step,
   * from the hosts' reports), or undefined. Pure; the engine's leader writes it with a
   * compare-and-swap.
   */
  rotateSecret?(net: NetworkRecord, secret: string, input: SecretRotationInput): string | undefined;
  /** One more remote endpoint (idempotent). */
  peerJoin?(net: NetworkRecord, peer: PeerEndpoint): void;
  /** A remote endpoint went away (already gone = success). */
  peerLeave?(net: NetworkRecord, peer: PeerEndpoint): void;
  /** Resolves when the driver's background work (e.g. batched link deletion) has finished. */
  close?(): Promise<void>;
}

/** The drivers a daemon runs, by name (drivers/registry.ts builds it). */
export interface DriverRegistry {
  get(name: string): NetworkDriver | undefined;
  all(): readonly NetworkDriver[];
}
