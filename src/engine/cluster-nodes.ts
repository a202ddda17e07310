/**
 * The cluster's hosts, in the shared (etcd) store (docs/CLUSTER.md, docs/STORE.md
 * "Cluster key layout"):
 *   /nodes/<id>          NodeRecord, permanent until `node rm`
 *   /node-names/<name>   the node id holding that name (create-only: one name cluster-wide)
 *   /nodes-alive/<id>    the node id, put with a lease this daemon keeps alive: present = ready
 * A node's id is the daemon's stable host id (<data-root>/host-id).
 *
 * `ClusterNodes.join()` registers this host; a timer keeps its lease alive every
 * `keepAliveMs` and, once the lease was lost (etcd unreachable longer than the TTL, or the
 * lease revoked), grants a new one and puts the alive key again.
 */
import type { Compare, KeyValue, Op, Store } from '../store/contract.js';
import { tryParseIp } from '../model/ip.js';
import { packTxnBatches, type TxnItem } from './txn-batches.js';
import { SHARED_KEY } from './shared-keys.js';
import { asSwitchyardError, conflict, invalid, notFound, type SwitchyardError } from '../errors.js';

export const CLUSTER_KEY = {
  nodes: '/nodes/',
  node: (id: string) => `/nodes/${id}`,
  nodeNames: '/node-names/',
  nodeName: (name: string) => `/node-names/${name}`,
  alive: '/nodes-alive/',
  aliveOf: (id: string) => `/nodes-alive/${id}`,
  /** Endpoints on global networks: /endpoints/<network id>/<endpoint id> (value has `node`). */
  endpoints: '/endpoints/',
  /** Address claims on global networks: /ipam/<network id>/<address> = endpoint id. */
  address: (netId: string, ip: string) => `/ipam/${netId}/${ip}`,
  /** Block claims of routed networks: /blocks/<network id>/<cidr> = node id (model/ip-blocks.ts). */
  blocks: '/blocks/',
};

/**
 * Versions (docs/STORE.md "Record versions"):
 *  - 1: id, name, address, dataPathAddress, dataPathPort, started.
 *  - 2: adds `dataPathAddress6` (the IPv6 data-path address given with a second
 *    --data-path-addr). A node writes 2 only when it has one, so a cluster whose hosts do not
 *    use it stays readable by releases that know only 1; both are read.
 */
export const NODE_RECORD_VERSION = 2;

export interface NodeRecord {
  v: 1 | 2;
  id: string;
  name: string;
  /** --cluster-advertise's address. */
  address: string;
  dataPathAddress: string;
  /** v2: the IPv6 data-path address when `dataPathAddress` is the IPv4 one (routed networks' IPv6 blocks are routed via it). */
  dataPathAddress6?: string;
  dataPathPort: number;
  /** When this node's daemon last joined (ISO 8601). */
  started: string;
}

export type NodeStatus = 'ready' | 'down';

export interface NodeView {
  node: NodeRecord;
  status: NodeStatus;
  self: boolean;
}

export interface ClusterNodesOptions {
  /** Lease TTL in seconds (default 6). */
  ttlSeconds?: number;
  /** Keep-alive period in ms (default 2 000). */
  keepAliveMs?: number;
  log?: (msg: string) => void;
  now?: () => Date;
}

export function decodeNodeRecord(text: string): NodeRecord {
  let r: Partial<NodeRecord>;
  try {
    r = JSON.parse(text) as Partial<NodeRecord>;
  } catch {
    throw invalid('INVALID_RECORD', 'invalid node record: not JSON');
  }
  for (const f of ['id', 'name', 'address', 'dataPathAddress', 'started'] as const) {
    if (typeof r[f] !== 'string') throw invalid('INVALID_RECORD', `invalid node record: ${f} is not a string`, f);
  }
  if (typeof r.dataPathPort !== 'number') throw invalid('INVALID_RECORD', 'invalid node record: dataPathPort is not a number', 'dataPathPort');
  if (r.v !== 1 && r.v !== 2) throw invalid('RECORD_VERSION_UNSUPPORTED', `node record version ${String(r.v)} is not one this release reads (1 or ${NODE_RECORD_VERSION})`);
  if (r.v === 2 && r.dataPathAddress6 !== undefined && (typeof r.dataPathAddress6 !== 'string' || tryParseIp(r.dataPathAddress6)?.family !== 6)) {
    throw invalid('INVALID_RECORD', 'invalid node record: dataPathAddress6 is not an IPv6 address', 'dataPathAddress6');
  }
  if (r.v === 1) delete r.dataPathAddress6;
  return r as NodeRecord;
}

/** The node record a host writes: version 2 only when it carries an IPv6 data-path address. */
export function encodeNodeRecord(self: Omit<NodeRecord, 'v' | 'started'>, started: string): string {
  const { dataPathAddress6, ...rest } = self;
  const record: NodeRecord = dataPathAddress6 ? { v: 2, ...rest, dataPathAddress6, started } : { v: 1, ...rest, started };
  return JSON.stringify(record);
}

/** A node's data-path address of `family` (undefined: it has none; its blocks of that family are not routed). */
export function dataPathAddressOf(node: { dataPathAddress: string; dataPathAddress6?: string }, family: 4 | 6): string | undefined {
  if (tryParseIp(node.dataPathAddress)?.family === family) return node.dataPathAddress;
  return family === 6 ? node.dataPathAddress6 : undefined;
}

const isLeaseLost = (err: unknown): boolean => asSwitchyardError(err).code === 'STORE_LEASE_NOT_FOUND';

export class ClusterNodes {
  private lease: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private renewing: Promise<void> | undefined;
  /** A quick retry after a failed keep-alive (so a host converges soon after etcd is back). */
  private retry: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly ttl: number;
  private readonly period: number;
  private readonly log: (msg: string) => void;
  private readonly now: () => Date;
  private lastError = '';

  constructor(
    private readonly store: Store,
    readonly self: Omit<NodeRecord, 'v' | 'started'>,
    opts: ClusterNodesOptions = {},
  ) {
    this.ttl = opts.ttlSeconds ?? 6;
    this.period = opts.keepAliveMs ?? 2000;
    this.retryMs = Math.min(250, this.period);
    this.log = opts.log ?? (() => undefined);
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Registers this host: claims its name (create-only; held by another node id: NODE_NAME_IN_USE),
   * puts its record and its alive key under a new lease, and starts the keep-alive timer.
   */
  async join(): Promise<void> {
    // The timer runs even when this first attempt fails: with etcd unreachable it keeps
    // trying (the caller decides whether that failure is fatal).
    if (!this.timer && !this.closed) {
      this.timer = setInterval(() => void this.tick(), this.period);
      this.timer.unref();
    }
    await this.register();
  }

  private async register(): Promise<void> {
    const { id, name } = this.self;
    const nameKey = CLUSTER_KEY.nodeName(name);
    const [holder, old] = await Promise.all([this.store.get(nameKey), this.store.get(CLUSTER_KEY.node(id))]);
    if (holder && holder.value !== id) throw this.nameTaken(name, holder.value);
    const lease = await this.store.grantLease(this.ttl);
    const ops: Op[] = [
      { type: 'put', key: CLUSTER_KEY.node(id), value: encodeNodeRecord(this.self, this.now().toISOString()) },
      { type: 'put', key: nameKey, value: id },
      { type: 'put', key: CLUSTER_KEY.aliveOf(id), value: id, lease },
    ];
    // A node renamed with --node-name gives its old name back (if it still holds it).
    let oldName: string | undefined;
    try {
      oldName = old ? decodeNodeRecord(old.value).name : undefined;
    } catch {
      oldName = undefined;
    }
    const compare = [
      holder
        ? { key: nameKey, target: 'value' as const, op: '=' as const, value: id }
        : { key: nameKey, target: 'createRevision' as const, op: '=' as const, value: 0 },
    ];
    if (oldName && oldName !== name) {
      compare.push({ key: CLUSTER_KEY.nodeName(oldName), target: 'value', op: '=', value: id });
      ops.push({ type: 'delete', key: CLUSTER_KEY.nodeName(oldName) });
    }
    const res = await this.store.txn({ compare, success: ops, failure: [{ type: 'get', key: nameKey }] });
    if (!res.succeeded) {
      await this.store.revokeLease(lease).catch(() => undefined);
      const now = (res.results[0] as KeyValue[] | undefined)?.[0];
      if (now && now.value !== id) throw this.nameTaken(name, now.value);
      // The old name moved meanwhile: register without giving it back.
      if (oldName && oldName !== name) {
        const again = await this.store.txn({ compare: [compare[0]!], success: ops.slice(0, 3) });
        if (!again.succeeded) throw this.nameTaken(name, '?');
      } else {
        throw this.nameTaken(name, '?');
      }
    }
    const previous = this.lease;
    this.lease = lease;
    if (previous && previous !== lease) await this.store.revokeLease(previous).catch(() => undefined);
  }

  private nameTaken(name: string, holder: string): SwitchyardError {
    return conflict('NODE_NAME_IN_USE', `node name ${JSON.stringify(name)} is already used by node ${holder.slice(0, 12)} in this cluster: start this daemon with another --node-name, or remove that node first (switchyard node rm ${name})`);
  }

  /** One keep-alive; a lost lease → register again (new lease, record and alive key put again). */
  private async tick(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = (async () => {
      try {
        if (!this.lease) throw new Error('no lease');
        await this.store.keepAlive(this.lease);
        if (this.lastError) this.log('cluster: lease kept alive again');
        this.lastError = '';
      } catch (err) {
        if (this.closed) return;
        if (!this.lease || isLeaseLost(err)) {
          try {
            await this.register();
            this.log('cluster: lease was lost; registered again with a new one');
            this.lastError = '';
          } catch (e) {
            this.note(e);
          }
        } else {
          this.note(err);
        }
      } finally {
        this.renewing = undefined;
      }
      // Failed: try again soon instead of a whole period later (etcd back → registered within
      // ~retryMs, docs/RELIABILITY.md "etcd unreachable").
      if (this.lastError && !this.closed && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          void this.tick();
        }, this.retryMs);
        this.retry.unref();
      }
    })();
    await this.renewing;
  }

  private note(err: unknown): void {
    const msg = asSwitchyardError(err).message;
    if (msg !== this.lastError) this.log(`cluster: keep-alive failed: ${msg}`);
    this.lastError = msg;
  }

  /** Every node with its status (ready = its alive key exists), sorted by name. */
  async list(): Promise<NodeView[]> {
    const res = await this.store.txn({ compare: [], success: [{ type: 'range', prefix: CLUSTER_KEY.nodes }, { type: 'range', prefix: CLUSTER_KEY.alive }] });
    const alive = new Set((res.results[1] ?? []).map((kv) => kv.key.slice(CLUSTER_KEY.alive.length)));
    const out: NodeView[] = [];
    for (const kv of res.results[0] ?? []) {
      let node: NodeRecord;
      try {
        node = decodeNodeRecord(kv.value);
      } catch (err) {
        this.log(`cluster: node record ${kv.key} refused: ${asSwitchyardError(err).message}`);
        continue;
      }
      out.push({ node, status: alive.has(node.id) ? 'ready' : 'down', self: node.id === this.self.id });
    }
    return out.sort((a, b) => (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0));
  }

  /** A node by full id, name, or unique id prefix (as Docker resolves references). */
  async find(ref: string): Promise<NodeView> {
    const all = await this.list();
    const hit = all.find((n) => n.node.id === ref) ?? all.find((n) => n.node.name === ref);
    if (hit) return hit;
    const byPrefix = ref ? all.filter((n) => n.node.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw invalid('AMBIGUOUS_REFERENCE', `node ${ref} is ambiguous (${byPrefix.length} matches found)`, 'node');
    throw notFound('NODE_NOT_FOUND', `node ${ref} not found`);
  }

  /**
   * Forgets a node: its endpoints on global networks with their address claims, its routed
   * blocks, then its record, name and alive key (every other host's watch drops them). Self:
   * refused; a ready node: refused unless `force`.
   *
   * A big host's endpoints do not fit one etcd txn (--max-txn-ops, 128 by default), so they go
   * in batches (engine/txn-batches.ts), the node's own keys in the last one. Each batch
   * compares the alive key unchanged (a node that came back meanwhile is not removed by a
   * plain rm; the batches before stay done) and each endpoint unchanged since the snapshot; a
   * batch is idempotent. If this daemon dies between batches, the node is still listed (down)
   * with fewer endpoints, and `node rm` again finishes the job.
   */
  async remove(ref: string, force: boolean): Promise<{ node: NodeRecord; endpoints: number }> {
    const target = await this.find(ref);
    const { node } = target;
    if (node.id === this.self.id) throw conflict('NODE_IS_SELF', `node ${node.name} is this host: a daemon cannot remove its own node (stop it, then run node rm on another host)`);
    if (target.status === 'ready' && !force) {
      throw conflict('NODE_READY', `node ${node.name} is ready (its daemon is running): stop it first, or use node rm -f to remove it anyway`);
    }
    const snapshot = await this.store.txn({ compare: [], success: [{ type: 'get', key: CLUSTER_KEY.aliveOf(node.id) }, { type: 'range', prefix: CLUSTER_KEY.endpoints }, { type: 'range', prefix: CLUSTER_KEY.blocks }] });
    const aliveKv = snapshot.results[0]?.[0];
    const unchanged: Compare = { key: CLUSTER_KEY.aliveOf(node.id), target: 'modRevision', op: '=', value: aliveKv?.modRevision ?? 0 };
    const items: TxnItem[] = [];
    let endpoints = 0;
    for (const kv of snapshot.results[1] ?? []) {
      const owned = ownedEndpoint(kv, node.id);
      if (!owned) continue;
      endpoints++;
      items.push({
        compare: [{ key: kv.key, target: 'modRevision', op: '=', value: kv.modRevision }],
        ops: [{ type: 'delete', key: kv.key }, ...owned.ips.map((ip): Op => ({ type: 'delete', key: CLUSTER_KEY.address(owned.networkId, ip) }))],
      });
    }
    // Its routed networks' blocks (engine/routed-blocks.ts): every host's watch withdraws their routes.
    for (const kv of snapshot.results[2] ?? []) if (kv.value === node.id) items.push({ compare: [], ops: [{ type: 'delete', key: kv.key }] });
    const last: TxnItem = {
      compare: [{ key: CLUSTER_KEY.nodeName(node.name), target: 'value', op: '=', value: node.id }],
      ops: [
        { type: 'delete', key: CLUSTER_KEY.node(node.id) },
        { type: 'delete', key: CLUSTER_KEY.aliveOf(node.id) },
        { type: 'delete', key: CLUSTER_KEY.nodeName(node.name) },
        // Its fence (engine/pending-undo.ts): a txn it still had in flight compared it, and now cannot apply.
        { type: 'delete', key: SHARED_KEY.fence(node.id) },
      ],
    };
    const batches = packTxnBatches(items, [unchanged], last);
    for (const [i, batch] of batches.entries()) {
      const res = await this.store.txn(batch);
      if (!res.succeeded) {
        const done = i ? ` (${i} of ${batches.length} batches of its endpoints were removed: node rm again removes the rest)` : '';
        throw conflict('NODE_CHANGED', `node ${node.name} changed while it was being removed (it came back, or its endpoints changed): try again${done}`);
      }
    }
    return { node, endpoints };
  }

  /** Stops the keep-alive; `leave` also revokes the lease (the node shows down at once). */
  async close(opts: { leave?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.timer = undefined;
    await this.renewing;
    if (opts.leave && this.lease) await this.store.revokeLease(this.lease).catch(() => undefined);
  }

  /** The current lease id (tests). */
  get currentLease(): string | undefined {
    return this.lease;
  }
}

/** A global endpoint record (JSON with `node`, `networkId`, `ipv4`, `ipv6`) held by `nodeId`. */
function ownedEndpoint(kv: KeyValue, nodeId: string): { networkId: string; ips: string[] } | undefined {
  let r: { node?: unknown; networkId?: unknown; ipv4?: unknown; ipv6?: unknown };
  try {
    r = JSON.parse(kv.value) as typeof r;
  } catch {
    return undefined;
  }
  if (r.node !== nodeId || typeof r.networkId !== 'string') return undefined;
  const ips = [r.ipv4, r.ipv6].filter((x): x is string => typeof x === 'string' && x !== '').map((c) => c.split('/')[0]!);
  return { networkId: r.networkId, ips };
}
