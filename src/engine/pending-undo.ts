/**
 * Undoing a shared write that the caller was told failed (docs/STORE.md "Undoing a failed
 * call's write"). Pure decisions only; engine/undo-settler.ts runs them.
 *
 * A shared txn (state.ts `commitShared`: an attach, a global network create) whose outcome
 * stayed unknown past the store's deadline fails the call with 503 STORE_UNREACHABLE, yet
 * etcd may have applied it, then or a little later (a member that held the request applies
 * it once it runs again). The engine then writes an intent on this host (`PendingUndo`, in
 * the local store under `/pending-undo/`) naming the keys that txn put and the values it
 * put there, every one of which names this call (the new endpoint's or network's id), and
 * settles it once etcd answers: keys that still hold this call's values are deleted, each
 * compared on that value, so nothing another call wrote is ever deleted.
 *
 * - An attach (`endpoint`): its endpoint key and its address claims are deleted where they
 *   hold this call's values (an endpoint key rewritten since: kept with its claims,
 *   `adopted`). Not here: a routed block claim (valued with the node id, shared by this
 *   host's endpoints; the settler has the routed engine release this host's empty blocks
 *   afterwards, routed-blocks.ts) and the network's usage key (it only moves).
 * - A global network create (`network`): all or nothing, as `network rm`: removed only if
 *   every key it wrote still holds this call's value, the usage key included (any attach on
 *   any host moves it), so a network another host has used meanwhile is kept (`adopted`).
 * - A detach (`restore`): the other way round. The call failed, so the endpoint stays on this
 *   host (endpoint-ops.ts joins it again), and what the txn deleted is put back: its endpoint
 *   key and address claims with the values they held, each compared absent (an address
 *   another host claimed meanwhile is never taken from it), once the settler has seen that
 *   the delete applied and the endpoint is still this host's.
 */
import type { KeyValue, Op, Txn } from '../store/contract.js';
import { SHARED_KEY } from './shared-keys.js';

export interface PendingUndo {
  v: 1;
  /** The endpoint id (attach), network id (network create) or `restore-<endpoint id>` (detach): the intent's id on this host. */
  id: string;
  kind: 'endpoint' | 'network' | 'restore';
  /** The global network concerned. */
  networkId: string;
  /** When the call failed (ms since the epoch). */
  at: number;
  /** Every key the txn put that names this call, with the value it put there (restore: each key it deleted, endpoint key first, with the value it held). */
  keys: { key: string; value: string }[];
  /**
   * The modRevision of this node's fence that the txn compared (SHARED_KEY.fence). Once the
   * fence has moved past it, the txn can never apply: a read then is final, and an intent
   * found absent is dropped at once. Absent (an older version's intent, or a txn known to
   * have applied): the late window (`lateMs`) applies.
   */
  fence?: number;
}

export const PENDING_UNDO_PREFIX = '/pending-undo/';
export const pendingUndoKey = (id: string) => `${PENDING_UNDO_PREFIX}${id}`;

/**
 * The intents of a shared txn's writes: one per endpoint it creates (`isNew`: not one this
 * host already has; a rename rewrites existing ones, never to be undone) and one for the
 * network it creates (it claims a name, `/names/<name>`, valued with the network id). [] for
 * a txn that creates nothing (a detach: deletes only).
 */
export function pendingUndoOf(writes: Op[], at: number, isNew: (endpointId: string) => boolean, fence?: number): PendingUndo[] {
  const puts = writes.flatMap((op) => (op.type === 'put' ? [{ key: op.key, value: op.value }] : []));
  const out: PendingUndo[] = [];
  const netId = puts.find((p) => p.key.startsWith(SHARED_KEY.name('')))?.value;
  if (netId !== undefined) {
    // A create: the record, name, usage key (''), driver claims and secret: all name the network.
    const keys = puts.filter((p) => p.key === SHARED_KEY.network(netId) || p.key === SHARED_KEY.usage(netId) || p.key === SHARED_KEY.secret(netId) || p.value === netId);
    out.push({ v: 1, id: netId, kind: 'network', networkId: netId, at, keys, ...(fence !== undefined ? { fence } : {}) });
  }
  for (const ep of puts.filter((p) => p.key.startsWith(SHARED_KEY.endpoints))) {
    const [networkId, epId] = ep.key.slice(SHARED_KEY.endpoints.length).split('/') as [string, string];
    if (!isNew(epId)) continue;
    const keys = puts.filter((p) => p === ep || (p.key.startsWith(SHARED_KEY.ipamOf(networkId)) && p.value === epId));
    out.push({ v: 1, id: epId, kind: 'endpoint', networkId, at, keys, ...(fence !== undefined ? { fence } : {}) });
  }
  return out;
}

/** A detach's shared keys as they were (the endpoint key first, then its address claims). */
export interface RemovedEndpoint {
  endpointId: string;
  networkId: string;
  keys: { key: string; value: string }[];
}

export const restoreId = (endpointId: string) => `restore-${endpointId}`;

/** The intents of a failed detach's txn: one per endpoint it deleted, to put back. */
export function pendingRestoreOf(removed: RemovedEndpoint[], at: number, fence?: number): PendingUndo[] {
  return removed.map((r) => ({ v: 1, id: restoreId(r.endpointId), kind: 'restore', networkId: r.networkId, at, keys: r.keys, ...(fence !== undefined ? { fence } : {}) }));
}

/** The endpoint a restore intent puts back. */
export const restoredEndpointId = (p: PendingUndo): string => p.id.slice('restore-'.length);

/**
 * A restore intent, given each of its keys now (`held`, same order) and whether this host
 * still has the endpoint: `absent` when there is nothing to put back (the delete did not
 * apply, or the endpoint left this host since), else the txn that puts back every key,
 * compared absent, with the network still there and its usage key moved (as an attach moves
 * it: a racing `network rm` fails).
 */
export function planRestore(p: PendingUndo, held: (KeyValue | undefined)[], stillHere: boolean, now: number): UndoPlan {
  if (held[0] !== undefined || !stillHere) return { kind: 'absent' };
  return {
    kind: 'undo',
    txn: {
      compare: [
        ...p.keys.map((k) => ({ key: k.key, target: 'createRevision' as const, op: '=' as const, value: 0 })),
        { key: SHARED_KEY.network(p.networkId), target: 'createRevision', op: '>', value: 0 },
      ],
      success: [...p.keys.map((k): Op => ({ type: 'put', key: k.key, value: k.value })), { type: 'put', key: SHARED_KEY.usage(p.networkId), value: String(now) }],
      failure: [...p.keys.map((k): Op => ({ type: 'get', key: k.key })), { type: 'get', key: SHARED_KEY.network(p.networkId) }],
    },
  };
}

/** Parses a stored intent; undefined when it is not one (left for an operator). */
export function decodePendingUndo(text: string): PendingUndo | undefined {
  try {
    const r = JSON.parse(text) as PendingUndo;
    const ok = r.v === 1 && typeof r.id === 'string' && (r.kind === 'endpoint' || r.kind === 'network' || (r.kind === 'restore' && r.id.startsWith('restore-') && r.keys.length > 0)) && typeof r.networkId === 'string' && typeof r.at === 'number'
      && Array.isArray(r.keys) && r.keys.every((k) => typeof k?.key === 'string' && typeof k.value === 'string')
      && (r.fence === undefined || (Number.isSafeInteger(r.fence) && r.fence >= 0));
    return ok ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The reads a settle needs: each intent key now (same order), and for a network its endpoints. */
export function undoReads(p: PendingUndo): Txn {
  return {
    compare: [],
    success: [...p.keys.map((k): Op => ({ type: 'get', key: k.key })), ...(p.kind === 'network' ? [{ type: 'range' as const, prefix: SHARED_KEY.endpointsOf(p.networkId) }] : [])],
  };
}

export type UndoPlan =
  /** Nothing of this call is in the store (not applied, or not yet). */
  | { kind: 'absent' }
  /** A network other calls have used meanwhile: kept. */
  | { kind: 'adopted'; why: string }
  /** Delete what still holds this call's values, each compared on that value. */
  | { kind: 'undo'; txn: Txn };

/**
 * What to do given what `undoReads` read: `held` is each intent key's kv now, `endpoints`
 * (network intents) the endpoint keys under the network.
 */
export function planUndo(p: PendingUndo, held: (KeyValue | undefined)[], endpoints: KeyValue[] = []): UndoPlan {
  const ours = p.keys.filter((k, i) => held[i] !== undefined && held[i]!.value === k.value);
  if (!ours.length) return { kind: 'absent' };
  if (p.kind === 'endpoint') {
    // The endpoint key names this call's endpoint id: rewritten since (not by this call), the
    // endpoint is someone's now, and its claims stay with it.
    const ep = held[p.keys.findIndex((k) => k.key.startsWith(SHARED_KEY.endpoints))];
    if (ep && !ours.some((k) => k.key === ep.key)) return { kind: 'adopted', why: `endpoint ${p.id.slice(0, 12)} rewritten since` };
  }
  if (p.kind === 'network') {
    if (!held[p.keys.findIndex((k) => k.key === SHARED_KEY.network(p.networkId))]) return { kind: 'absent' };
    if (endpoints.length) return { kind: 'adopted', why: `${endpoints.length} endpoint(s) on it` };
    const changed = p.keys.filter((k, i) => held[i]?.value !== k.value).map((k) => k.key);
    if (changed.length) return { kind: 'adopted', why: `changed since: ${changed.join(', ')}` };
  }
  const txn: Txn = {
    compare: ours.map((k) => ({ key: k.key, target: 'value', op: '=', value: k.value })),
    success: ours.map((k): Op => ({ type: 'delete', key: k.key })),
  };
  if (p.kind === 'network') {
    // No endpoint can have joined between the read and this txn: an attach moves the usage
    // key, compared above on its '' of the create. As `network rm`, the hosts' reports on
    // its key ring go with it.
    txn.success.push({ type: 'deletePrefix', prefix: SHARED_KEY.secretReportsOf(p.networkId) });
  }
  return { kind: 'undo', txn };
}

/**
 * When to look again at an intent found `absent`: its write may still land (held by a
 * member) until `lateMs` after the call; past that, and absent, the intent is dropped.
 */
export function absentUntil(p: PendingUndo, lateMs: number): number {
  return p.at + lateMs;
}

/** The intent keys an event batch touches (the settler looks again at once when a late write lands). */
export function touches(p: PendingUndo, keys: ReadonlySet<string>): boolean {
  return p.keys.some((k) => keys.has(k.key));
}
