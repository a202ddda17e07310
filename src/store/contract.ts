/**
 * The state store contract, shaped after etcd v3's KV, Watch and Lease APIs so that an
 * etcd backend can implement it one to one and pass the same conformance suite
 * (test/helpers/store-conformance.ts). Semantics follow etcd's API guarantees:
 * https://etcd.io/docs/v3.5/learning/api/ and https://etcd.io/docs/v3.5/learning/api_guarantees/
 *
 * - The store has one revision counter. Every write transaction that changes something
 *   gets exactly one new revision (a txn of several puts: one revision). A read-only txn,
 *   a txn whose compare failed and whose failure branch writes nothing, or a delete of a
 *   missing key changes nothing and does not bump it.
 * - Each key carries createRevision (revision of the put that created it), modRevision
 *   (revision of its last put) and version (puts since creation, 1 on create). A missing
 *   key has version 0, createRevision 0 and modRevision 0, so "create if absent" is the
 *   compare `createRevision = 0` and "update if unchanged" is `modRevision = <seen>`.
 * - Keys and values are strings; keys sort by the UTF-8 bytes (etcd's byte order).
 * - Watches see every change under a prefix, grouped per revision, in revision order.
 *   `fromRevision` replays history from that revision; history older than the compact
 *   revision is gone and asking for it fails with STORE_REVISION_COMPACTED.
 * - Leases expire TTL seconds after their grant or last keep-alive; expiry or revoke
 *   deletes the keys attached to the lease in one revision, with delete events.
 *
 * Errors are SwitchyardErrors with the codes in STORE_ERROR (documented in docs/STORE.md).
 */

import type { SwitchyardError } from '../errors.js';

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the put that created the key (0 for a delete event's kv). */
  createRevision: number;
  /** Revision of the key's last change. */
  modRevision: number;
  /** Number of puts since creation: 1 after the creating put, 0 once deleted. */
  version: number;
  /** The lease the key is attached to, if any. */
  lease?: string;
}

export type CompareTarget = 'version' | 'createRevision' | 'modRevision' | 'value';
export type CompareOp = '=' | '!=' | '<' | '>';

/**
 * A condition of a txn. `value` is a number for version/createRevision/modRevision and a
 * string for value. A missing key compares as version 0, createRevision 0, modRevision 0;
 * a `value` compare on a missing key is always false (as in etcd).
 */
export interface Compare {
  key: string;
  target: CompareTarget;
  op: CompareOp;
  value: number | string;
}

export type Op =
  | { type: 'put'; key: string; value: string; lease?: string }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string }
  | { type: 'get'; key: string }
  | { type: 'range'; prefix: string };

export interface Txn {
  compare: Compare[];
  /** Run when every compare holds. */
  success: Op[];
  /** Run when a compare fails (nothing if absent). */
  failure?: Op[];
}

export interface TxnResult {
  succeeded: boolean;
  /** The new revision if the txn changed something, otherwise the current one. */
  revision: number;
  /**
   * One entry per op of the branch that ran: `get` gives [] or [kv], `range` the kvs in
   * key order (both seeing the txn's earlier writes); writes give undefined.
   */
  results: (KeyValue[] | undefined)[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For a delete: key, modRevision = the deleting revision, value '' and zero counters. */
  kv: KeyValue;
  /** The key's previous state, when it existed. */
  prevKv?: KeyValue;
}

export interface WatchOptions {
  /** Replay history from this revision (inclusive); absent or 0: only changes from now on. */
  fromRevision?: number;
  /**
   * Called at most once if the watch ends on its own after `watch()` returned; no events
   * follow. etcd: the stream broke and the revision to resume from was compacted meanwhile
   * (STORE_REVISION_COMPACTED): re-read the state and watch again from its revision + 1.
   * The embedded backend never ends a watch this way. Default: a process warning.
   */
  onError?: (err: SwitchyardError) => void;
  /**
   * false: the listener does not need `prevKv`, which a backend may then leave out. etcd
   * reads each updated or deleted key's previous state once per watcher that asks for it (a
   * range at the event's revision − 1, before the event is sent), on the path of every
   * write's fan-out: the engine's cluster watch, which never reads it, says false. Default
   * true (every backend gives `prevKv`); the embedded backends give it either way.
   */
  prevKv?: boolean;
}

/** Receives the events of one revision at a time, in revision order. */
export type WatchListener = (events: WatchEvent[]) => void;

export interface Watcher {
  /** Stops delivery; events not yet delivered are dropped. */
  close(): Promise<void>;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with `prefix` ('' = all keys), sorted by key. */
  range(prefix: string): Promise<KeyValue[]>;
  put(key: string, value: string, opts?: { lease?: string }): Promise<{ revision: number }>;
  delete(key: string): Promise<{ revision: number; deleted: number }>;
  /** Deletes every key under a non-empty prefix. */
  deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }>;
  txn(t: Txn): Promise<TxnResult>;
  watch(prefix: string, opts: WatchOptions, onEvents: WatchListener): Promise<Watcher>;
  /** Grants a lease of `ttlSeconds` (integer ≥ 1); returns its id. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Restarts the lease's TTL; STORE_LEASE_NOT_FOUND if it expired or never existed. */
  keepAlive(lease: string): Promise<void>;
  /** Deletes the lease and its keys (delete events, one revision). Unknown lease: success. */
  revokeLease(lease: string): Promise<void>;
  /** The current revision (a fresh store is at 1, as in etcd). */
  revision(): Promise<number>;
  /**
   * Discards history before `revision` (etcd's Compact): watching from a revision below it
   * fails with STORE_REVISION_COMPACTED. Already compacted: success. Backends also compact
   * on their own (the LMDB backend keeps a bounded number of revisions).
   */
  compact(revision: number): Promise<void>;
  /** Stops timers and watchers and releases the backend. Idempotent. */
  close(): Promise<void>;
}

/** Stable error codes of the store layer (docs/STORE.md, "Errors"). */
export const STORE_ERROR = {
  keyInvalid: 'STORE_KEY_INVALID',
  valueInvalid: 'STORE_VALUE_INVALID',
  prefixEmpty: 'STORE_PREFIX_EMPTY',
  txnInvalid: 'STORE_TXN_INVALID',
  txnDuplicateKey: 'STORE_TXN_DUPLICATE_KEY',
  leaseTtlInvalid: 'STORE_LEASE_TTL_INVALID',
  leaseInvalid: 'STORE_LEASE_INVALID',
  leaseNotFound: 'STORE_LEASE_NOT_FOUND',
  revisionInvalid: 'STORE_REVISION_INVALID',
  revisionCompacted: 'STORE_REVISION_COMPACTED',
  closed: 'STORE_CLOSED',
  io: 'STORE_IO',
  unreachable: 'STORE_UNREACHABLE',
  optionInvalid: 'STORE_OPTION_INVALID',
  tlsInvalid: 'STORE_TLS_INVALID',
} as const;

/** Keys up to 1 KiB and values up to 1 MiB: within both LMDB's and etcd's request limits. */
export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;
