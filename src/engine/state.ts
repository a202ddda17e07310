/**
 * The engine's records: held in memory for reads (a connect must not wait on a
 * disk read), written through to the store in one transaction per operation.
 *
 * Store schema (docs/STORE.md "Schema (engine)"):
 *   /networks/<id>          NetworkRecord
 *   /sandboxes/<id>         SandboxRecord
 *   /endpoints/<id>         EndpointRecord
 *   /ipam/<netid>/<ip>      the endpoint id holding that address
 * An address is claimed with a create-only compare (createRevision = 0) in the same
 * transaction that writes the endpoint, so it can never be handed out twice, not
 * even by two daemons sharing an etcd.
 */
import type { Store, Op, Compare } from '../store/contract.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';
import {
  decodeEndpointRecord, decodeNetworkRecord, decodeSandboxRecord, encodeEndpointRecord, encodeNetworkRecord, encodeSandboxRecord,
} from '../model/record-codec.js';
import { asSwitchyardError, conflict, forbidden, invalid, type SwitchyardError } from '../errors.js';
import { parseIp } from '../model/ip.js';
import type { KeyValue, TxnResult, WatchEvent } from '../store/contract.js';
import { SHARED_KEY, encodeSharedEndpoint, splitSharedEndpoint } from './shared-keys.js';
import { BLOCKS_PREFIX, BlockTable } from './routed-blocks.js';
/** The nodes' alive keys (engine/cluster-nodes.ts CLUSTER_KEY.alive). */
const ALIVE_PREFIX = '/nodes-alive/';
import { blockClaimKey } from '../model/ip-blocks.js';
import type { PhaseTrace } from './phase-trace.js';
import { PENDING_UNDO_PREFIX, decodePendingUndo, pendingRestoreOf, pendingUndoKey, pendingUndoOf, type RemovedEndpoint } from './pending-undo.js';
import { JOIN_INTENT_PREFIX, decodeJoinIntent, encodeJoinIntent, joinIntentKey, type JoinIntent } from './join-intent.js';

export const KEY = {
  networks: '/networks/',
  sandboxes: '/sandboxes/',
  endpoints: '/endpoints/',
  ipam: '/ipam/',
  network: (id: string) => `/networks/${id}`,
  sandbox: (id: string) => `/sandboxes/${id}`,
  endpoint: (id: string) => `/endpoints/${id}`,
  address: (netId: string, ip: string) => `/ipam/${netId}/${ip}`,
};

export interface AddressClaim {
  networkId: string;
  ip: string; // bare address
  owner: string; // endpoint id
  /** Routed networks: a block this host claims with it (create-only `/blocks/<net>/<cidr>`, engine/routed-blocks.ts). */
  block?: string;
}

export interface Change {
  networks?: NetworkRecord[];
  sandboxes?: SandboxRecord[];
  endpoints?: EndpointRecord[];
  claims?: AddressClaim[];
  removeNetworks?: string[];
  removeSandboxes?: string[];
  removeEndpoints?: string[];
  releases?: { networkId: string; ip: string }[];
  /** Cluster mode: a new global network's driver claims (`/claims/<driver>/<name>`), create-only. */
  uniqueClaims?: string[];
  /** Cluster mode: a new global network's shared secret (NetworkDriver.newSecret), written in its create txn. */
  secrets?: { networkId: string; value: string }[];
}

/** Cluster mode: the shared store and this node's id (docs/STORE.md "Cluster key layout"). */
export interface SharedStoreOptions {
  store: Store;
  nodeId: string;
}

/** An endpoint another host runs on a global network, as read from the shared store. */
export interface RemoteEndpoint {
  endpoint: EndpointRecord;
  node: string;
  sandboxName: string;
}

/** What a batch of shared-store events changed in memory (cluster-sync.ts hands it to the drivers). */
export interface SharedDelta {
  networksAdded: NetworkRecord[];
  networksRemoved: NetworkRecord[];
  peersJoined: RemoteEndpoint[];
  peersLeft: RemoteEndpoint[];
  nodesChanged: boolean;
  /** Global networks whose shared secret changed (created or rotated): hand it to their driver again. */
  secretsChanged?: string[];
  /** Nodes removed in this batch: forget their addresses (forgetNodes) after handing peersLeft to the drivers. */
  forgetNodes?: string[];
  /** Routed networks whose block claims changed in this batch (engine/routed-blocks.ts). */
  blocksChanged?: Set<string>;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid('INVALID_RECORD', 'invalid record: not JSON');
  }
}

const bare = (cidr: string): string => cidr.split('/')[0]!;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The bare addresses an endpoint holds. */
export function endpointAddresses(ep: EndpointRecord): string[] {
  const out: string[] = [];
  if (ep.ipv4) out.push(bare(ep.ipv4));
  if (ep.ipv6) out.push(bare(ep.ipv6));
  return out;
}

/** A stored record that load() did not trust, with the reason. */
export interface RefusedRecord {
  key: string;
  error: SwitchyardError;
}

export class EngineState {
  readonly networks = new Map<string, NetworkRecord>();
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  private readonly byNetwork = new Map<string, Set<string>>();
  private readonly bySandbox = new Map<string, Set<string>>();
  private gen = 0;
  /** Ids of the records load() refused: reconcile leaves what they name alone. */
  refusedIds: ReadonlySet<string> = new Set();
  /** Next-fit cursors of the allocator: `<netId>/<family>` → last address handed out. */
  readonly cursors = new Map<string, bigint>();
  /** networkId → bare address → endpoint id. */
  private readonly used = new Map<string, Map<string, string>>();
  /** networkId → numeric addresses held, the allocator's input. */
  private readonly usedNumbers = new Map<string, Set<bigint>>();

  /** Cluster mode: endpoints of other hosts on global networks (never in `endpoints`). */
  readonly remote = new Map<string, RemoteEndpoint>();
  private readonly remoteByNetwork = new Map<string, Set<string>>();
  /** Cluster mode: node id → its data-path address (for PeerEndpoint), from /nodes/. */
  readonly nodeAddresses = new Map<string, { name: string; address: string; dataPathAddress: string; dataPathAddress6?: string }>();
  /** Cluster mode: global networks whose kernel state this host has made (it has a running local endpoint). */
  readonly participating = new Set<string>();
  /** Cluster mode: block claims of routed networks, every host's (engine/routed-blocks.ts). */
  readonly blocks = new BlockTable();
  /** Cluster mode: nodes whose alive key (`/nodes-alive/<id>`, under their lease) is present: `ready` (routed networks route only to them). */
  readonly aliveNodes = new Set<string>();
  /** Called after a commit that released addresses (the engine releases empty routed blocks). */
  onReleased: ((netIds: string[]) => void) | undefined;
  /** Cluster mode: the shared store's revision this memory reflects (0: not read yet). */
  sharedRevision = 0;
  /** Cluster mode: callers waiting for memory to reflect a revision (waitForSharedRevision). */
  private sharedWaiters: { revision: number; resolve: (reached: boolean) => void }[] = [];
  /** Cluster mode: why the shared state could not be read at load, if it could not. */
  sharedLoadError: SwitchyardError | undefined;
  /** Cluster mode: global networks' shared secrets (overlay key rings) and their modRevision (0: our own write not seen yet). */
  readonly secrets = new Map<string, { value: string; modRevision: number }>();
  /** Cluster mode: network id → node id → that host's progress report with the secret (JSON). */
  readonly secretReports = new Map<string, Map<string, string>>();
  /** Cluster mode: this host's endpoints on global networks whose sandbox is gone (load found them; reconcile deletes them). */
  orphanShared: KeyValue[] = [];
  /** Cluster mode: told after a failed call's shared write was recorded for undoing (engine/undo-settler.ts settles it). */
  onPendingUndo: (() => void) | undefined;
  /** Cluster mode: record failed calls' shared writes for undoing (default); false: the engine before (the tests' control). */
  recordUndos = true;
  /**
   * Cluster mode: the modRevision of this node's fence (SHARED_KEY.fence) as last seen (0: no
   * such key), which every shared txn compares unchanged; moved by bumpFence.
   */
  fenceRevision = 0;
  /** Cluster mode: shared txns compare the fence (default); false: the engine before (the tests' control). */
  fenceWrites = true;
  /**
   * Cluster mode: ids (endpoint or network) of the intents in the local store. A full read
   * never takes an endpoint named here for this host's own (reconcile would join it): it is
   * a failed call's write, to be undone (its addresses count as used until then).
   */
  readonly pendingUndoIds = new Set<string>();
  /**
   * Cluster mode: failed detaches whose records are to be put back (restore intents, by
   * intent id): the endpoint key and the value it held. A full read at start takes such an
   * endpoint for this host's own even when etcd has lost it (the delete applied), so the
   * sandbox keeps it until the settler puts its records back.
   */
  private readonly pendingRestores = new Map<string, { key: string; value: string }>();
  /** Cluster mode: the join intents found at start (join-intent.ts), until reconcile settles them. */
  joinIntents: JoinIntent[] = [];

  constructor(
    private readonly store: Store,
    readonly shared?: SharedStoreOptions,
  ) {}

  get clustered(): boolean {
    return !!this.shared;
  }

  /**
   * Cluster mode: resolves true once memory reflects `revision` of the shared store (the
   * watch has applied it), false after `timeoutMs` without.
   */
  waitForSharedRevision(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.sharedRevision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        revision,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          this.sharedWaiters = this.sharedWaiters.filter((w) => w !== waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      timer.unref();
      this.sharedWaiters.push(waiter);
    });
  }

  private wakeSharedWaiters(): void {
    for (const w of this.sharedWaiters) if (this.sharedRevision >= w.revision) w.resolve(true);
  }

  /**
   * Reads every record through its codec (model/record-codec.ts). A record that does not
   * decode (malformed, a newer schema version, written by hand or by another host) is not
   * trusted: it is left out of memory, left untouched in the store for an operator, and
   * reported in `refused`. Legacy records are upgraded in memory (written as v1 at their
   * next change).
   */
  async load(): Promise<{ strayClaims: string[]; refused: RefusedRecord[] }> {
    const refused: RefusedRecord[] = [];
    const each = async <T>(prefix: string, decode: (v: unknown) => T, keep: (r: T, key: string) => void): Promise<void> => {
      for (const kv of await this.store.range(prefix)) {
        let rec: T;
        try {
          const r = decode(parseJson(kv.value));
          if ((r as { id: string }).id !== kv.key.slice(prefix.length)) throw invalid('INVALID_RECORD', 'invalid record: its id does not match its key', 'id');
          rec = r;
        } catch (err) {
          refused.push({ key: kv.key, error: asSwitchyardError(err) });
          continue;
        }
        keep(rec, kv.key);
      }
    };
    await each(KEY.networks, decodeNetworkRecord, (n) => this.setNetwork(n));
    await each(KEY.sandboxes, decodeSandboxRecord, (s) => this.sandboxes.set(s.id, s));
    await each(KEY.endpoints, decodeEndpointRecord, (e) => {
      // An endpoint of a network or sandbox that was refused (or is missing) cannot be served.
      if (!this.networks.has(e.networkId) || !this.sandboxes.has(e.sandboxId)) {
        refused.push({ key: KEY.endpoint(e.id), error: invalid('INVALID_RECORD', `endpoint ${e.id.slice(0, 12)} belongs to a network or sandbox that is not loaded`) });
        return;
      }
      this.setEndpoint(e);
    });
    // Claims without a live endpoint can only come from a bug or a hand edit: report them.
    // (A claim held by a refused endpoint is kept: the address is not handed out again.)
    const refusedIds = new Set(refused.map((r) => r.key.slice(r.key.lastIndexOf('/') + 1)));
    const stray: string[] = [];
    for (const kv of await this.store.range(KEY.ipam)) {
      const [netId, ip] = kv.key.slice(KEY.ipam.length).split('/') as [string, string];
      if (refusedIds.has(kv.value)) {
        this.claim(netId, ip, kv.value);
        continue;
      }
      if (this.used.get(netId)?.get(ip) !== kv.value) stray.push(kv.key);
    }
    this.refusedIds = refusedIds;
    if (this.shared) {
      for (const kv of await this.store.range(JOIN_INTENT_PREFIX)) {
        const i = decodeJoinIntent(kv.key, kv.value);
        if (i) this.joinIntents.push(i);
        else refused.push({ key: kv.key, error: invalid('INVALID_RECORD', 'a join intent that does not decode') });
      }
      for (const kv of await this.store.range(PENDING_UNDO_PREFIX)) {
        this.pendingUndoIds.add(kv.key.slice(PENDING_UNDO_PREFIX.length));
        const p = decodePendingUndo(kv.value);
        if (p?.kind === 'restore') this.pendingRestores.set(p.id, p.keys[0]!);
      }
      try {
        refused.push(...(await this.loadShared()));
      } catch (err) {
        // etcd unreachable at start: local work goes on; cluster-sync reads the shared state
        // as soon as it can (sharedRevision stays 0 until then).
        this.sharedLoadError = asSwitchyardError(err);
      }
    }
    return { strayClaims: stray, refused };
  }

  /**
   * Cluster mode: reads the shared state in one read-only txn (a consistent snapshot and its
   * revision: the watch starts at revision + 1). Global networks join `networks`; endpoints
   * of this node whose sandbox is here join `endpoints`, those whose sandbox is gone are
   * kept in `orphanShared` for reconcile; other nodes' endpoints go to `remote`. Every
   * address claim counts as used.
   */
  async loadShared(): Promise<RefusedRecord[]> {
    const shared = this.shared!;
    const res = await shared.store.txn({
      compare: [],
      success: [
        { type: 'range', prefix: SHARED_KEY.networks },
        { type: 'range', prefix: SHARED_KEY.endpoints },
        { type: 'range', prefix: SHARED_KEY.ipam },
        { type: 'range', prefix: SHARED_KEY.nodes },
        { type: 'range', prefix: BLOCKS_PREFIX },
        { type: 'range', prefix: ALIVE_PREFIX },
        { type: 'range', prefix: SHARED_KEY.secrets },
        { type: 'range', prefix: SHARED_KEY.secretReports },
        { type: 'get', key: SHARED_KEY.fence(shared.nodeId) },
      ],
    });
    this.fenceRevision = res.results[8]?.[0]?.modRevision ?? 0;
    const refused: RefusedRecord[] = [];
    // A re-read (after a compacted watch) starts from what the store says now.
    for (const n of [...this.networks.values()]) if (n.scope === 'global') this.dropGlobalNetwork(n.id);
    this.clearRemote();
    this.orphanShared = [];
    this.nodeAddresses.clear();
    this.blocks.clear();
    for (const kv of res.results[3] ?? []) this.setNodeAddress(kv);
    for (const kv of res.results[4] ?? []) this.blocks.applyKv(kv, false);
    this.aliveNodes.clear();
    for (const kv of res.results[5] ?? []) this.aliveNodes.add(kv.key.slice(ALIVE_PREFIX.length));
    for (const kv of res.results[0] ?? []) {
      try {
        const n = decodeNetworkRecord(parseJson(kv.value));
        if (n.id !== kv.key.slice(SHARED_KEY.networks.length) || n.scope !== 'global') throw invalid('INVALID_RECORD', 'invalid record: not a global network under its id', 'id');
        this.setNetwork(n);
      } catch (err) {
        refused.push({ key: kv.key, error: asSwitchyardError(err) });
      }
    }
    for (const kv of res.results[1] ?? []) {
      try {
        this.putSharedEndpoint(kv, true);
      } catch (err) {
        refused.push({ key: kv.key, error: asSwitchyardError(err) });
      }
    }
    // A failed detach whose delete etcd applied, not put back yet: the endpoint is still this
    // host's while its sandbox is here (never an orphan to delete: etcd no longer has it).
    const inStore = new Set((res.results[1] ?? []).map((kv) => kv.key));
    for (const { key, value } of this.pendingRestores.values()) {
      if (inStore.has(key)) continue;
      try {
        const split = splitSharedEndpoint(parseJson(value));
        const ep = split ? decodeEndpointRecord(split.record) : undefined;
        if (ep && this.networks.has(ep.networkId) && this.sandboxes.has(ep.sandboxId) && !this.endpoints.has(ep.id)) this.setEndpoint(ep);
      } catch (err) {
        refused.push({ key, error: asSwitchyardError(err) });
      }
    }
    for (const kv of res.results[2] ?? []) {
      const [netId, ip] = kv.key.slice(SHARED_KEY.ipam.length).split('/') as [string, string];
      if (this.networks.get(netId)?.scope === 'global' && !this.used.get(netId)?.has(ip)) this.claim(netId, ip, kv.value);
    }
    this.secrets.clear();
    this.secretReports.clear();
    for (const kv of res.results[6] ?? []) this.putSecret(kv);
    for (const kv of res.results[7] ?? []) this.putSecretReport(kv);
    this.sharedRevision = res.revision;
    this.wakeSharedWaiters();
    this.gen++;
    return refused;
  }

  /** A shared secret's key into memory; true when its value changed. */
  private putSecret(kv: KeyValue): boolean {
    const id = kv.key.slice(SHARED_KEY.secrets.length);
    const before = this.secrets.get(id);
    this.secrets.set(id, { value: kv.value, modRevision: kv.modRevision });
    return before?.value !== kv.value;
  }

  private putSecretReport(kv: KeyValue, remove = false): void {
    const [netId, node] = kv.key.slice(SHARED_KEY.secretReports.length).split('/') as [string, string];
    if (!netId || !node) return;
    let m = this.secretReports.get(netId);
    if (remove) {
      m?.delete(node);
      if (m && !m.size) this.secretReports.delete(netId);
      return;
    }
    if (!m) this.secretReports.set(netId, (m = new Map()));
    m.set(node, kv.value);
  }

  private setNodeAddress(kv: KeyValue): void {
    try {
      const r = JSON.parse(kv.value) as { id?: unknown; name?: unknown; address?: unknown; dataPathAddress?: unknown; dataPathAddress6?: unknown };
      if (typeof r.id === 'string' && typeof r.name === 'string' && typeof r.address === 'string' && typeof r.dataPathAddress === 'string') {
        // dataPathAddress6: node records v2 (engine/cluster-nodes.ts).
        const six = typeof r.dataPathAddress6 === 'string' ? { dataPathAddress6: r.dataPathAddress6 } : {};
        this.nodeAddresses.set(r.id, { name: r.name, address: r.address, dataPathAddress: r.dataPathAddress, ...six });
      }
    } catch {
      // not a node record: ignored
    }
  }

  /** A shared endpoint key's value into memory: ours (local sandbox) or a remote one. */
  private putSharedEndpoint(kv: KeyValue, atLoad: boolean): RemoteEndpoint | undefined {
    const split = splitSharedEndpoint(parseJson(kv.value));
    if (!split) throw invalid('INVALID_RECORD', 'invalid shared endpoint: node or sandboxName missing', 'node');
    const ep = decodeEndpointRecord(split.record);
    const [netId, epId] = kv.key.slice(SHARED_KEY.endpoints.length).split('/');
    if (ep.id !== epId || ep.networkId !== netId) throw invalid('INVALID_RECORD', 'invalid record: its id does not match its key', 'id');
    if (!this.networks.has(ep.networkId)) throw invalid('INVALID_RECORD', `endpoint ${ep.id.slice(0, 12)} belongs to a network that is not loaded`);
    if (split.extra.node === this.shared!.nodeId) {
      if (!atLoad) return undefined; // our own write: memory has it already
      if (this.pendingUndoIds.has(ep.id)) return undefined; // a failed call's: undone by undo-settler.ts
      if (this.sandboxes.has(ep.sandboxId)) this.setEndpoint(ep);
      else this.orphanShared.push(kv);
      return undefined;
    }
    const r: RemoteEndpoint = { endpoint: ep, ...split.extra };
    this.setRemote(r);
    return r;
  }

  private setRemote(r: RemoteEndpoint): void {
    const id = r.endpoint.id;
    this.unsetRemote(id);
    this.remote.set(id, r);
    let set = this.remoteByNetwork.get(r.endpoint.networkId);
    if (!set) this.remoteByNetwork.set(r.endpoint.networkId, (set = new Set()));
    set.add(id);
    for (const ip of endpointAddresses(r.endpoint)) this.claim(r.endpoint.networkId, ip, id);
  }

  private unsetRemote(id: string): RemoteEndpoint | undefined {
    const r = this.remote.get(id);
    if (!r) return undefined;
    this.remote.delete(id);
    this.remoteByNetwork.get(r.endpoint.networkId)?.delete(id);
    for (const ip of endpointAddresses(r.endpoint)) this.release(r.endpoint.networkId, ip, id);
    return r;
  }

  private clearRemote(): void {
    for (const id of [...this.remote.keys()]) this.unsetRemote(id);
  }

  private dropGlobalNetwork(id: string): void {
    this.secrets.delete(id);
    this.secretReports.delete(id);
    for (const rid of [...(this.remoteByNetwork.get(id) ?? [])]) this.unsetRemote(rid);
    this.remoteByNetwork.delete(id);
    this.networks.delete(id);
    if (!this.byNetwork.get(id)?.size) this.byNetwork.delete(id);
    this.used.delete(id);
    this.usedNumbers.delete(id);
  }

  /**
   * Cluster mode, at start: deletes this node's global endpoints whose sandbox is gone (and
   * their address claims), each unchanged since load (compared by modRevision). Only records
   * with node == this node: a daemon deletes only what it can prove it made.
   */
  async deleteOrphanShared(): Promise<number> {
    let n = 0;
    for (const kv of this.orphanShared) {
      const split = splitSharedEndpoint(safeJson(kv.value));
      if (!split || split.extra.node !== this.shared!.nodeId) continue;
      const r = split.record as { networkId?: string; ipv4?: string; ipv6?: string };
      const ips = [r.ipv4, r.ipv6].filter((x): x is string => typeof x === 'string').map(bare);
      const res = await this.shared!.store.txn({
        compare: [{ key: kv.key, target: 'modRevision', op: '=', value: kv.modRevision }],
        success: [
          { type: 'delete', key: kv.key },
          ...ips.map((ip) => ({ type: 'delete' as const, key: SHARED_KEY.address(r.networkId!, ip) })),
          ...(this.networks.has(r.networkId!) ? [{ type: 'put' as const, key: SHARED_KEY.usage(r.networkId!), value: String(Date.now()) }] : []),
        ],
      });
      if (res.succeeded) {
        n++;
        for (const ip of ips) this.release(r.networkId!, ip);
      }
    }
    this.orphanShared = [];
    return n;
  }

  /**
   * Cluster mode: re-reads a global network's address claims (after a dynamic allocation
   * lost a claim race to another host whose endpoint the watch has not brought yet), so the
   * next plan skips them.
   */
  async refreshSharedClaims(netId: string): Promise<void> {
    if (!this.shared || !this.isGlobal(netId)) return;
    for (const kv of await this.shared.store.range(SHARED_KEY.ipamOf(netId))) {
      const ip = kv.key.slice(SHARED_KEY.ipamOf(netId).length);
      if (!this.used.get(netId)?.has(ip)) this.claim(netId, ip, kv.value);
    }
    for (const kv of await this.shared.store.range(`${BLOCKS_PREFIX}${netId}/`)) this.blocks.applyKv(kv, false);
  }

  forgetNodes(ids: readonly string[]): void {
    for (const id of ids) this.nodeAddresses.delete(id);
  }

  /** Remote endpoints on a network (other hosts'). */
  remoteEndpointsOf(netId: string): RemoteEndpoint[] {
    return [...(this.remoteByNetwork.get(netId) ?? [])].map((id) => this.remote.get(id)!);
  }

  /**
   * Cluster mode: applies one revision's events of the shared store (cluster-sync.ts's
   * watch) to memory and says what changed. Our own writes are already in memory (commit
   * applies them), so events of this node's endpoints are skipped; a record the codec
   * refuses is logged by the caller and left out.
   */
  applySharedEvents(events: WatchEvent[], onRefused: (key: string, err: SwitchyardError) => void): SharedDelta {
    const delta: SharedDelta = { networksAdded: [], networksRemoved: [], peersJoined: [], peersLeft: [], nodesChanged: false };
    const goneNodes: string[] = [];
    for (const ev of events) {
      const key = ev.kv.key;
      try {
        if (key.startsWith(SHARED_KEY.networks)) {
          const id = key.slice(SHARED_KEY.networks.length);
          if (ev.type === 'delete') {
            const n = this.networks.get(id);
            if (n?.scope === 'global') {
              for (const r of this.remoteEndpointsOf(id)) delta.peersLeft.push(r);
              this.dropGlobalNetwork(id);
              delta.networksRemoved.push(n);
            }
          } else {
            const n = decodeNetworkRecord(parseJson(ev.kv.value));
            if (n.id !== id || n.scope !== 'global') throw invalid('INVALID_RECORD', 'invalid record: not a global network under its id', 'id');
            const isNew = !this.networks.has(id);
            this.setNetwork(n);
            if (isNew) delta.networksAdded.push(n);
          }
        } else if (key.startsWith(SHARED_KEY.endpoints)) {
          const epId = key.slice(key.lastIndexOf('/') + 1);
          if (ev.type === 'delete') {
            const r = this.unsetRemote(epId);
            if (r) delta.peersLeft.push(r);
          } else {
            const before = this.remote.get(epId);
            const r = this.putSharedEndpoint(ev.kv, false);
            if (r) {
              if (before && before.endpoint.mac !== r.endpoint.mac) delta.peersLeft.push(before);
              delta.peersJoined.push(r);
            }
          }
        } else if (key.startsWith(ALIVE_PREFIX)) {
          const id = key.slice(ALIVE_PREFIX.length);
          if (ev.type === 'delete') this.aliveNodes.delete(id);
          else this.aliveNodes.add(id);
          delta.nodesChanged = true;
        } else if (key.startsWith(BLOCKS_PREFIX)) {
          const netId = this.blocks.applyKv(ev.kv, ev.type === 'delete');
          if (netId) (delta.blocksChanged ??= new Set()).add(netId);
        } else if (key.startsWith(SHARED_KEY.secrets)) {
          const id = key.slice(SHARED_KEY.secrets.length);
          if (ev.type === 'delete') this.secrets.delete(id);
          else if (this.putSecret(ev.kv)) (delta.secretsChanged ??= []).push(id);
        } else if (key.startsWith(SHARED_KEY.secretReports)) {
          this.putSecretReport(ev.kv, ev.type === 'delete');
        } else if (key === SHARED_KEY.fence(this.shared!.nodeId)) {
          this.fenceRevision = ev.type === 'delete' ? 0 : Math.max(this.fenceRevision, ev.kv.modRevision);
        } else if (key.startsWith(SHARED_KEY.nodes)) {
          // A node removed with its endpoints (node rm): its address is forgotten after this
          // batch, which the caller hands to peerLeave still carrying it.
          if (ev.type === 'put') this.setNodeAddress(ev.kv);
          else goneNodes.push(key.slice(SHARED_KEY.nodes.length));
          delta.nodesChanged = true;
        }
      } catch (err) {
        onRefused(key, asSwitchyardError(err));
      }
    }
    if (goneNodes.length) delta.forgetNodes = goneNodes;
    this.sharedRevision = Math.max(this.sharedRevision, events[0]?.kv.modRevision ?? 0);
    this.wakeSharedWaiters();
    if (delta.networksAdded.length || delta.networksRemoved.length || delta.peersJoined.length || delta.peersLeft.length) this.gen++;
    return delta;
  }

  /**
   * Cluster mode: removes a global network when no host has an endpoint on it, race-free:
   * reads its endpoints and usage key, then deletes it (name, driver claims, address claims)
   * in one txn that compares the usage key unchanged, so an attach on any host meanwhile
   * makes the rm fail instead of leaving an endpoint on a removed network. This host's own
   * endpoints of stopped sandboxes (`droppable`) go with it, as on a local network.
   */
  async removeGlobalNetwork(net: NetworkRecord, droppable: ReadonlySet<string>, uniqueClaims: string[]): Promise<void> {
    const shared = this.shared!;
    const usageKey = SHARED_KEY.usage(net.id);
    const snap = await shared.store.txn({ compare: [], success: [{ type: 'range', prefix: SHARED_KEY.endpointsOf(net.id) }, { type: 'get', key: usageKey }] });
    const blocking: string[] = [];
    for (const kv of snap.results[0] ?? []) {
      const split = splitSharedEndpoint(safeJson(kv.value));
      const epId = kv.key.slice(kv.key.lastIndexOf('/') + 1);
      if (split?.extra.node === shared.nodeId && droppable.has(epId)) continue;
      blocking.push(split ? `${split.extra.sandboxName} on ${this.nodeAddresses.get(split.extra.node)?.name ?? split.extra.node.slice(0, 12)}` : epId.slice(0, 12));
    }
    if (blocking.length) throw forbidden('NETWORK_IN_USE', `error while removing network: network ${net.name} has active endpoints (${blocking.join(', ')})`);
    const usage = snap.results[1]?.[0];
    const res = await shared.store.txn({
      compare: [
        { key: usageKey, target: 'modRevision', op: '=', value: usage?.modRevision ?? 0 },
        { key: SHARED_KEY.network(net.id), target: 'createRevision', op: '>', value: 0 },
      ],
      success: [
        { type: 'delete', key: SHARED_KEY.network(net.id) },
        { type: 'delete', key: SHARED_KEY.name(net.name) },
        { type: 'delete', key: usageKey },
        ...uniqueClaims.map((key) => ({ type: 'delete' as const, key })),
        { type: 'deletePrefix', prefix: SHARED_KEY.ipamOf(net.id) },
        { type: 'deletePrefix', prefix: SHARED_KEY.endpointsOf(net.id) },
        { type: 'deletePrefix', prefix: `${BLOCKS_PREFIX}${net.id}/` },
        { type: 'delete', key: SHARED_KEY.secret(net.id) },
        { type: 'deletePrefix', prefix: SHARED_KEY.secretReportsOf(net.id) },
      ],
    });
    if (!res.succeeded) throw conflict('NETWORK_CHANGED', `network ${net.name} changed while it was being removed (an endpoint joined or left on some host, or it was removed): try again`);
    const local = this.endpointsOfNetwork(net.id).map((e) => e.id);
    this.gen++;
    for (const id of local) this.unsetEndpoint(id);
    this.dropGlobalNetwork(net.id);
    this.blocks.dropNetwork(net.id);
    this.byNetwork.delete(net.id);
    this.participating.delete(net.id);
  }

  /** Deletes store keys directly (reconcile's clean-up of stray claims). */
  async deleteKeys(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.store.txn({ compare: [], success: keys.map((key) => ({ type: 'delete', key }) as Op) });
  }

  /**
   * Writes a change atomically, then applies it to memory. Address claims are create-only.
   * Cluster mode: what concerns global networks (their records, endpoints, address claims)
   * is ONE txn in the shared store, run first; then the local part. A local failure undoes
   * the shared txn (its success branch read every key it writes, so the undo puts back
   * exactly what was there).
   */
  async commit(change: Change, trace?: PhaseTrace): Promise<void> {
    if (this.shared) {
      const { global, local } = this.splitChange(change);
      if (global) {
        const { undo, writes } = await this.commitShared(global, trace);
        trace?.mark('shared-txn');
        try {
          await this.commitLocal(local);
        } catch (err) {
          await this.shared.store.txn({ compare: [], success: undo }).catch(() => this.recordPendingUndo(writes, undefined, global));
          throw err;
        }
        this.apply(change);
        trace?.mark('local-txn');
        return;
      }
    }
    await this.commitLocal(change);
    this.apply(change);
    trace?.mark('local-txn');
  }

  private isGlobal(netId: string, change?: Change): boolean {
    const n = this.networks.get(netId) ?? change?.networks?.find((x) => x.id === netId);
    return n?.scope === 'global';
  }

  /** The part of a change that goes to the shared store (undefined: none) and the rest. */
  private splitChange(change: Change): { global?: Change; local: Change } {
    const g: Change = {};
    const l: Change = {};
    const part = <K extends keyof Change>(k: K, isG: (x: NonNullable<Change[K]>[number]) => boolean) => {
      const items = (change[k] ?? []) as NonNullable<Change[K]>[number][];
      const gi = items.filter(isG);
      const li = items.filter((x) => !isG(x));
      if (gi.length) (g as Record<string, unknown>)[k] = gi;
      if (li.length) (l as Record<string, unknown>)[k] = li;
    };
    part('networks', (n) => (n as NetworkRecord).scope === 'global');
    part('endpoints', (e) => this.isGlobal((e as EndpointRecord).networkId, change));
    part('claims', (c) => this.isGlobal((c as AddressClaim).networkId, change));
    part('removeNetworks', (id) => this.isGlobal(id as string));
    part('removeEndpoints', (id) => this.isGlobal(this.endpoints.get(id as string)?.networkId ?? ''));
    part('releases', (r) => this.isGlobal((r as { networkId: string }).networkId));
    if (change.sandboxes) l.sandboxes = change.sandboxes;
    // A shared endpoint record carries its sandbox's name (other hosts' DNS answers with it):
    // a change that renames the sandbox hands the new name to the shared part too (it writes
    // no sandbox: commitShared only reads the names).
    if (change.sandboxes && g.endpoints) g.sandboxes = change.sandboxes;
    if (change.removeSandboxes) l.removeSandboxes = change.removeSandboxes;
    if (change.uniqueClaims?.length) g.uniqueClaims = change.uniqueClaims;
    if (change.secrets?.length) g.secrets = change.secrets;
    if (g.removeNetworks?.length) throw invalid('INVALID_CHANGE', 'a global network is removed with removeGlobalNetwork');
    return { ...(Object.keys(g).length ? { global: g } : {}), local: l };
  }

  /**
   * The shared txn of a change; returns the ops that undo it, and its writes. A txn refused
   * only because this node's fence moved meanwhile (bumpFence: a failed call is being
   * settled) applied nothing: it runs once more with the fence as it is now.
   */
  private async commitShared(change: Change, trace?: PhaseTrace): Promise<{ undo: Op[]; writes: Op[] }> {
    try {
      return await this.commitSharedOnce(change, trace);
    } catch (err) {
      if ((err as { code?: string }).code !== 'FENCE_MOVED') throw err;
      return this.commitSharedOnce(change, trace);
    }
  }

  /**
   * Moves this node's fence (a put of SHARED_KEY.fence): from then on no shared txn this node
   * sent before can apply (each compares the fence's modRevision it knew), so a read taken
   * after it sees every such write that will ever land (engine/undo-settler.ts).
   */
  async bumpFence(): Promise<void> {
    const shared = this.shared!;
    const res = await shared.store.txn({ compare: [], success: [{ type: 'put', key: SHARED_KEY.fence(shared.nodeId), value: String(Date.now()) }] });
    this.fenceRevision = Math.max(this.fenceRevision, res.revision);
  }

  private async commitSharedOnce(change: Change, trace?: PhaseTrace): Promise<{ undo: Op[]; writes: Op[] }> {
    const shared = this.shared!;
    const compare: Compare[] = [];
    const writes: Op[] = [];
    const reasons: ((kv: KeyValue | undefined) => SwitchyardError | undefined)[] = [];
    const createOnly = (key: string, why: (kv: KeyValue | undefined) => SwitchyardError) => {
      compare.push({ key, target: 'createRevision', op: '=', value: 0 });
      reasons.push((kv) => (kv ? why(kv) : undefined));
    };
    const touched = new Set<string>();
    for (const n of change.networks ?? []) {
      writes.push({ type: 'put', key: SHARED_KEY.network(n.id), value: encodeNetworkRecord(n) });
      if (!this.networks.has(n.id)) {
        createOnly(SHARED_KEY.name(n.name), () => conflict('NETWORK_EXISTS', `network with name ${n.name} already exists`));
        writes.push({ type: 'put', key: SHARED_KEY.name(n.name), value: n.id });
        writes.push({ type: 'put', key: SHARED_KEY.usage(n.id), value: '' });
        for (const key of change.uniqueClaims ?? []) {
          createOnly(key, (kv) => conflict('CLAIM_IN_USE', `${key.split('/').slice(3).join('/')} of driver ${n.driver} is already used by network ${kv?.value.slice(0, 12)} in this cluster`));
          writes.push({ type: 'put', key, value: n.id });
        }
        for (const sec of change.secrets ?? []) {
          if (sec.networkId === n.id) writes.push({ type: 'put', key: SHARED_KEY.secret(n.id), value: sec.value });
        }
      }
    }
    const sandboxName = (sbId: string) => change.sandboxes?.find((x) => x.id === sbId)?.name ?? this.sandboxes.get(sbId)?.name ?? '';
    for (const e of change.endpoints ?? []) {
      writes.push({ type: 'put', key: SHARED_KEY.endpoint(e.networkId, e.id), value: encodeSharedEndpoint(e, { node: shared.nodeId, sandboxName: sandboxName(e.sandboxId) }) });
      touched.add(e.networkId);
    }
    for (const c of change.claims ?? []) {
      const key = SHARED_KEY.address(c.networkId, c.ip);
      createOnly(key, () => conflict('ADDRESS_IN_USE', `address already in use: ${c.ip}`));
      writes.push({ type: 'put', key, value: c.owner });
      touched.add(c.networkId);
      if (c.block) {
        const bkey = blockClaimKey(c.networkId, c.block);
        createOnly(bkey, (kv) => conflict('ADDRESS_IN_USE', `block ${c.block} was claimed by another host (${kv?.value.slice(0, 12)}) meanwhile`));
        writes.push({ type: 'put', key: bkey, value: shared.nodeId });
      }
    }
    // A removed endpoint's key is compared present: the txn is then one the store can settle
    // after a lost etcd member (src/store/etcd-settle.ts, a "deleted" witness). Already gone
    // (a `node rm -f` of this running node): removed again without that compare, below.
    const present = new Map<number, string>(); // compare index → the removed endpoint's id
    for (const id of change.removeEndpoints ?? []) {
      const e = this.endpoints.get(id)!;
      const key = SHARED_KEY.endpoint(e.networkId, e.id);
      present.set(compare.length, id);
      compare.push({ key, target: 'createRevision', op: '>', value: 0 });
      reasons.push(() => undefined);
      writes.push({ type: 'delete', key });
      touched.add(e.networkId);
    }
    for (const r of change.releases ?? []) {
      writes.push({ type: 'delete', key: SHARED_KEY.address(r.networkId, r.ip) });
      touched.add(r.networkId);
    }
    for (const netId of touched) {
      if (change.networks?.some((n) => n.id === netId && !this.networks.has(n.id))) continue;
      // The network still exists (not removed meanwhile by another host), and its usage key
      // moves so that a racing `network rm` fails its compare.
      compare.push({ key: SHARED_KEY.network(netId), target: 'createRevision', op: '>', value: 0 });
      const name = this.networks.get(netId)?.name ?? netId;
      reasons.push((kv) => (kv ? undefined : conflict('NETWORK_GONE', `network ${name} was removed (on another host)`)));
      writes.push({ type: 'put', key: SHARED_KEY.usage(netId), value: String(Date.now()) });
    }
    // This node's fence, unchanged (last among the compares).
    const fence = this.fenceWrites ? this.fenceRevision : undefined;
    const fenceAt = compare.length;
    if (fence !== undefined) {
      compare.push({ key: SHARED_KEY.fence(shared.nodeId), target: 'modRevision', op: '=', value: fence });
      reasons.push((kv) => {
        const now = kv?.modRevision ?? 0;
        if (now === fence) return undefined;
        if (kv) this.fenceRevision = Math.max(this.fenceRevision, now);
        else this.fenceRevision = 0;
        return conflict('FENCE_MOVED', 'this host\'s fence in the cluster store moved meanwhile: try again');
      });
    }
    const keys = [...new Set(writes.map((w) => (w as { key: string }).key))];
    trace?.mark('txn-build');
    const undoOf = (r: TxnResult, keys: string[], writes: Op[]) => ({
      writes,
      undo: keys.map((key, i): Op => {
        const prev = r.results[i]?.[0];
        return prev ? { type: 'put', key, value: prev.value } : { type: 'delete', key };
      }),
    });
    const res: TxnResult = await shared.store.txn({
      compare,
      success: [...keys.map((key) => ({ type: 'get' as const, key })), ...writes],
      failure: compare.map((c) => ({ type: 'get' as const, key: c.key })),
    }).catch((err) => this.failedShared(err, writes, fence, change));
    if (!res.succeeded) {
      // The fence first: a txn refused for it is sent again (commitShared), and then reports its real conflict, if any.
      if (fence !== undefined) {
        const err = reasons[fenceAt]!(res.results[fenceAt]?.[0]);
        if (err) throw err;
      }
      for (let i = 0; i < compare.length; i++) {
        if (i === fenceAt && fence !== undefined) continue; // looked at above
        const err = reasons[i]!(res.results[i]?.[0]);
        if (err) throw err;
      }
      const gone = new Set([...present].filter(([i]) => res.results[i]?.[0] === undefined).map(([, id]) => id));
      if (!gone.size) throw conflict('SHARED_CHANGED', 'the cluster store changed meanwhile: try again');
      // Some endpoint keys were gone already (`node rm -f` of this running node removed them):
      // the same txn without their compares, and their address claims, which another host may
      // hold by now, deleted only while they still name the endpoint (else left alone).
      const guard = await this.goneEndpointClaims(change, writes, gone);
      const kept = writes.filter((w) => !guard.foreign.has((w as { key: string }).key));
      const keptKeys = keys.filter((k) => !guard.foreign.has(k));
      const again = await shared.store.txn({
        compare: [...compare.filter((_, i) => !present.has(i)), ...guard.compare],
        success: [...keptKeys.map((key) => ({ type: 'get' as const, key })), ...kept],
      }).catch((err) => this.failedShared(err, kept, fence, change));
      if (!again.succeeded) throw conflict('SHARED_CHANGED', 'the cluster store changed meanwhile: try again');
      return undoOf(again, keptKeys, kept);
    }
    return undoOf(res, keys, writes);
  }

  /**
   * The address claims of endpoints whose keys were gone already (`gone`: their ids) that the
   * change deletes: read now; `foreign` are those another endpoint holds (not to be deleted),
   * `compare` keeps the others as read until the txn (still the endpoint's, or still absent).
   */
  private async goneEndpointClaims(change: Change, writes: Op[], gone: ReadonlySet<string>): Promise<{ foreign: Set<string>; compare: Compare[] }> {
    const ownerOf = new Map<string, string>();
    for (const id of change.removeEndpoints ?? []) {
      const e = this.endpoints.get(id);
      if (e && gone.has(id)) for (const ip of endpointAddresses(e)) ownerOf.set(SHARED_KEY.address(e.networkId, ip), id);
    }
    const claims = writes.flatMap((w) => (w.type === 'delete' && ownerOf.has(w.key) ? [w.key] : []));
    const foreign = new Set<string>();
    const compare: Compare[] = [];
    if (!claims.length) return { foreign, compare };
    const now = await this.shared!.store.txn({ compare: [], success: claims.map((key) => ({ type: 'get' as const, key })) });
    claims.forEach((key, i) => {
      const kv = now.results[i]?.[0];
      if (!kv) compare.push({ key, target: 'createRevision', op: '=', value: 0 });
      else if (kv.value === ownerOf.get(key)) compare.push({ key, target: 'value', op: '=', value: kv.value });
      else foreign.add(key);
    });
    return { foreign, compare };
  }

  /**
   * A shared txn that failed: when etcd may have applied it all the same (STORE_UNREACHABLE:
   * no answer by the deadline), what it wrote is recorded for undoing before the call fails
   * (engine/pending-undo.ts). Only on this failure path: a success costs nothing more.
   */
  private async failedShared(err: unknown, writes: Op[], fence: number | undefined, change: Change): Promise<never> {
    if ((err as { code?: string }).code === 'STORE_UNREACHABLE') await this.recordPendingUndo(writes, fence, change);
    throw err;
  }

  /**
   * Writes the intents to undo a shared txn's writes (pending-undo.ts) in the local store, and
   * tells the settler: what it created is to be deleted, what it deleted (a detach: the
   * endpoint stays on this host) to be put back.
   */
  private async recordPendingUndo(writes: Op[], fence: number | undefined, change: Change): Promise<void> {
    const at = Date.now();
    const intents = this.recordUndos ? [...pendingUndoOf(writes, at, (id) => !this.endpoints.has(id), fence), ...pendingRestoreOf(this.removedShared(change), at, fence)] : [];
    if (!intents.length) return;
    for (const p of intents) {
      this.pendingUndoIds.add(p.id);
      if (p.kind === 'restore') this.pendingRestores.set(p.id, p.keys[0]!);
    }
    try {
      await this.store.txn({ compare: [], success: intents.map((p) => ({ type: 'put', key: pendingUndoKey(p.id), value: JSON.stringify(p) })) });
    } catch {
      // the local store failed too: the call fails with etcd's error all the same
    }
    this.onPendingUndo?.();
  }

  /** The shared keys of the global endpoints a change removes, as they are now (a restore intent's keys). */
  private removedShared(change: Change): RemovedEndpoint[] {
    return (change.removeEndpoints ?? []).flatMap((id) => {
      const e = this.endpoints.get(id);
      if (!e || !this.isGlobal(e.networkId)) return [];
      const released = new Set((change.releases ?? []).filter((r) => r.networkId === e.networkId).map((r) => r.ip));
      const value = encodeSharedEndpoint(e, { node: this.shared!.nodeId, sandboxName: this.sandboxes.get(e.sandboxId)?.name ?? '' });
      return [{
        endpointId: id,
        networkId: e.networkId,
        keys: [
          { key: SHARED_KEY.endpoint(e.networkId, id), value },
          ...endpointAddresses(e).filter((ip) => released.has(ip)).map((ip) => ({ key: SHARED_KEY.address(e.networkId, ip), value: id })),
        ],
      }];
    });
  }

  /** The intents recorded by recordPendingUndo, as stored (undo-settler.ts reads them). */
  /**
   * A join ahead of its commit (join-intent.ts): recorded before the kernel makes the port,
   * dropped once the commit and the join have both succeeded, or the port is removed.
   */
  async recordJoinIntent(ep: EndpointRecord): Promise<void> {
    await this.store.put(joinIntentKey(ep.id), encodeJoinIntent(ep));
  }

  async dropJoinIntent(id: string): Promise<void> {
    await this.store.delete(joinIntentKey(id));
    this.joinIntents = this.joinIntents.filter((i) => i.endpoint.id !== id);
  }

  async pendingUndos(): Promise<KeyValue[]> {
    return this.store.range(PENDING_UNDO_PREFIX);
  }

  async dropPendingUndo(id: string): Promise<void> {
    await this.store.delete(pendingUndoKey(id));
    this.pendingUndoIds.delete(id);
    this.pendingRestores.delete(id);
  }

  /**
   * After a failed call's endpoint was undone in the shared store (undo-settler.ts): the
   * addresses a full read had counted as used for it are free again.
   */
  forgetUndoneEndpoint(id: string, networkId: string, ips: string[]): void {
    this.gen++;
    this.unsetEndpoint(id); // not there (see pendingUndoIds), unless an older version had loaded it
    for (const ip of ips) this.release(networkId, ip, id);
  }

  private async commitLocal(change: Change): Promise<void> {
    const compare: Compare[] = [];
    const ops: Op[] = [];
    for (const n of change.networks ?? []) ops.push({ type: 'put', key: KEY.network(n.id), value: encodeNetworkRecord(n) });
    for (const s of change.sandboxes ?? []) ops.push({ type: 'put', key: KEY.sandbox(s.id), value: encodeSandboxRecord(s) });
    for (const e of change.endpoints ?? []) ops.push({ type: 'put', key: KEY.endpoint(e.id), value: encodeEndpointRecord(e) });
    for (const c of change.claims ?? []) {
      const key = KEY.address(c.networkId, c.ip);
      compare.push({ key, target: 'createRevision', op: '=', value: 0 });
      ops.push({ type: 'put', key, value: c.owner });
    }
    for (const id of change.removeNetworks ?? []) ops.push({ type: 'delete', key: KEY.network(id) });
    for (const id of change.removeSandboxes ?? []) ops.push({ type: 'delete', key: KEY.sandbox(id) });
    for (const id of change.removeEndpoints ?? []) ops.push({ type: 'delete', key: KEY.endpoint(id) });
    for (const r of change.releases ?? []) ops.push({ type: 'delete', key: KEY.address(r.networkId, r.ip) });
    if (!ops.length) return;
    const res = await this.store.txn({ compare, success: ops });
    if (!res.succeeded) {
      const ips = (change.claims ?? []).map((c) => c.ip).join(', ');
      throw conflict('ADDRESS_IN_USE', `address already in use: ${ips}`);
    }
  }

  private apply(change: Change): void {
    this.gen++;
    for (const r of change.releases ?? []) this.release(r.networkId, r.ip);
    for (const id of change.removeEndpoints ?? []) this.unsetEndpoint(id);
    for (const id of change.removeSandboxes ?? []) {
      this.sandboxes.delete(id);
      this.bySandbox.delete(id);
    }
    for (const id of change.removeNetworks ?? []) {
      this.networks.delete(id);
      this.byNetwork.delete(id);
      this.used.delete(id);
      this.usedNumbers.delete(id);
    }
    for (const n of change.networks ?? []) this.setNetwork(n);
    for (const s of change.sandboxes ?? []) this.sandboxes.set(s.id, s);
    for (const e of change.endpoints ?? []) this.setEndpoint(e);
    for (const c of change.claims ?? []) {
      this.claim(c.networkId, c.ip, c.owner);
      if (c.block && this.shared) this.blocks.set(c.networkId, c.block, this.shared.nodeId);
    }
    if (change.releases?.length && this.onReleased) this.onReleased(change.releases.map((r) => r.networkId));
    for (const sec of change.secrets ?? []) if (!this.secrets.has(sec.networkId)) this.secrets.set(sec.networkId, { value: sec.value, modRevision: 0 });
  }

  private setNetwork(n: NetworkRecord): void {
    this.networks.set(n.id, n);
    if (!this.byNetwork.has(n.id)) this.byNetwork.set(n.id, new Set());
  }

  private setEndpoint(e: EndpointRecord): void {
    const old = this.endpoints.get(e.id);
    if (old) this.unsetEndpoint(e.id);
    this.endpoints.set(e.id, e);
    if (!this.byNetwork.has(e.networkId)) this.byNetwork.set(e.networkId, new Set());
    this.byNetwork.get(e.networkId)!.add(e.id);
    if (!this.bySandbox.has(e.sandboxId)) this.bySandbox.set(e.sandboxId, new Set());
    this.bySandbox.get(e.sandboxId)!.add(e.id);
    for (const ip of endpointAddresses(e)) this.claim(e.networkId, ip, e.id);
  }

  private unsetEndpoint(id: string): void {
    const e = this.endpoints.get(id);
    if (!e) return;
    this.endpoints.delete(id);
    this.byNetwork.get(e.networkId)?.delete(id);
    this.bySandbox.get(e.sandboxId)?.delete(id);
    for (const ip of endpointAddresses(e)) this.release(e.networkId, ip, id);
  }

  private usedOf(netId: string): Map<string, string> {
    let m = this.used.get(netId);
    if (!m) this.used.set(netId, (m = new Map()));
    return m;
  }

  private claim(netId: string, ip: string, owner: string): void {
    this.usedOf(netId).set(ip, owner);
    this.usedValues(netId).add(parseIp(ip).value);
  }

  private release(netId: string, ip: string, owner?: string): void {
    const m = this.used.get(netId);
    if (!m || (owner && m.get(ip) !== owner)) return;
    m.delete(ip);
    this.usedNumbers.get(netId)?.delete(parseIp(ip).value);
  }

  /** The addresses held on a network, as numbers (the allocator's input). */
  usedValues(netId: string): Set<bigint> {
    let s = this.usedNumbers.get(netId);
    if (!s) this.usedNumbers.set(netId, (s = new Set()));
    return s;
  }

  /** Bumped on every change; caches derived from the records compare against it. */
  get generation(): number {
    return this.gen;
  }

  usedAddresses(netId: string): ReadonlyMap<string, string> {
    return this.usedOf(netId);
  }

  endpointsOfNetwork(netId: string): EndpointRecord[] {
    return [...(this.byNetwork.get(netId) ?? [])].map((id) => this.endpoints.get(id)!);
  }

  endpointsOfSandbox(sbId: string): EndpointRecord[] {
    return [...(this.bySandbox.get(sbId) ?? [])].map((id) => this.endpoints.get(id)!).sort((a, b) => a.order - b.order);
  }

  networkByName(name: string): NetworkRecord | undefined {
    for (const n of this.networks.values()) if (n.name === name) return n;
    return undefined;
  }

  sandboxByName(name: string): SandboxRecord | undefined {
    for (const s of this.sandboxes.values()) if (s.name === name) return s;
    return undefined;
  }
}
