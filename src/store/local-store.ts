/**
 * What the two backends that commit in one local, synchronous write transaction share:
 * the embedded LMDB backend (lmdb-store.ts) and the in-memory test backend
 * (test/helpers/memory-store.ts). Both validate a call, run it on a write transaction
 * stamped with revision current + 1 (`commit`), and answer with the committed revision;
 * both replay a watch's backlog from their own history. Only how a transaction stages and
 * stores its changes differs, so that is all a backend implements here.
 */
import { SwitchyardError } from '../errors.js';
import { STORE_ERROR, type Compare, type KeyValue, type Op, type Txn, type TxnResult, type WatchEvent, type WatchListener, type WatchOptions, type Watcher } from './contract.js';
import { compareHolds } from './compare.js';
import { validateKey, validateLease, validatePrefix, validateTxn, validateValue, validateWatch } from './validation.js';
import { WatchHub, type RevisionEvents } from './watch-hub.js';

/** The key operations of one local write transaction; reads see its own earlier writes. */
export interface LocalWriteTxn {
  get(key: string): KeyValue | undefined;
  range(prefix: string): KeyValue[];
  put(key: string, value: string, lease?: string): void;
  /** Returns how many keys were deleted (0 or 1). */
  delete(key: string): number;
  deletePrefix(prefix: string): number;
  /** Deletes the lease and every key attached to it. Unknown lease: nothing happens. */
  revokeLease(lease: string): number;
}

/**
 * The new state of `key` written at `revision` over `prev` (its state before, if any), and
 * the watch event of that put. A put without a lease leaves the key without one, as in etcd.
 */
export function stampPut(prev: KeyValue | undefined, key: string, value: string, revision: number, lease?: string): { kv: KeyValue; event: WatchEvent } {
  const kv: KeyValue = {
    key,
    value,
    createRevision: prev ? prev.createRevision : revision,
    modRevision: revision,
    version: (prev?.version ?? 0) + 1,
  };
  if (lease !== undefined) kv.lease = lease;
  return { kv, event: prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv } };
}

export interface Committed<T> {
  value: T;
  /** The revision after the commit: the new one if a key changed, else the current one. */
  revision: number;
}

/**
 * Runs a txn: the compares decide the branch, the branch's ops run in order, and the
 * result of each op is the contract's TxnResult.results entry. `copy` hands out read
 * results that the caller may mutate without touching the transaction's state.
 */
export function runTxn(w: LocalWriteTxn, t: Txn, copy: (kv: KeyValue) => KeyValue = (kv) => kv): Omit<TxnResult, 'revision'> {
  const succeeded = t.compare.every((c: Compare) => compareHolds(w.get(c.key), c));
  const ops: Op[] = succeeded ? t.success : (t.failure ?? []);
  const results = ops.map((op): KeyValue[] | undefined => {
    switch (op.type) {
      case 'put':
        w.put(op.key, op.value, op.lease);
        return undefined;
      case 'delete':
        w.delete(op.key);
        return undefined;
      case 'deletePrefix':
        w.deletePrefix(op.prefix);
        return undefined;
      case 'get': {
        const kv = w.get(op.key);
        return kv ? [copy(kv)] : [];
      }
      case 'range':
        return w.range(op.prefix).map(copy);
    }
  });
  return { succeeded, results };
}

/** STORE_REVISION_COMPACTED for a watch that asks for history before `compactRevision`. */
export function historyCompacted(from: number, compactRevision: number): SwitchyardError {
  return new SwitchyardError(
    'conflict',
    STORE_ERROR.revisionCompacted,
    `revision ${from} has been compacted: history starts at ${compactRevision}; re-read the state and watch from its revision + 1`,
    { field: 'fromRevision' },
  );
}

/** The write, txn, watch and revoke calls of the contract, on a backend's `commit` and history. */
export abstract class LocalStore<W extends LocalWriteTxn> {
  protected readonly hub = new WatchHub();

  /** STORE_CLOSED once the store is closed. */
  protected abstract ensureOpen(): void;
  /** Runs `body` in one write transaction; commits a new revision only if a key changed. */
  protected abstract commit<T>(body: (w: W) => T): Committed<T>;
  protected abstract currentRevision(): number;
  /** Recorded events from `from` to now; STORE_REVISION_COMPACTED if they are gone. */
  protected abstract history(from: number): RevisionEvents[];
  /** Copies handed out as txn read results (identity where reads already decode fresh objects). */
  protected copyKv(kv: KeyValue): KeyValue {
    return kv;
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<{ revision: number }> {
    this.ensureOpen();
    validateKey(key);
    validateValue(value);
    if (opts.lease !== undefined) validateLease(opts.lease);
    const { revision } = this.commit((w) => w.put(key, value, opts.lease));
    return { revision };
  }

  async delete(key: string): Promise<{ revision: number; deleted: number }> {
    this.ensureOpen();
    validateKey(key);
    const { value: deleted, revision } = this.commit((w) => w.delete(key));
    return { revision, deleted };
  }

  async deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }> {
    this.ensureOpen();
    validatePrefix(prefix, { allowEmpty: false });
    const { value: deleted, revision } = this.commit((w) => w.deletePrefix(prefix));
    return { revision, deleted };
  }

  async revokeLease(lease: string): Promise<void> {
    this.ensureOpen();
    validateLease(lease);
    this.commit((w) => w.revokeLease(lease));
  }

  async txn(t: Txn): Promise<TxnResult> {
    this.ensureOpen();
    validateTxn(t);
    const { value, revision } = this.commit((w) => runTxn(w, t, (kv) => this.copyKv(kv)));
    return { succeeded: value.succeeded, revision, results: value.results };
  }

  async watch(prefix: string, opts: WatchOptions, onEvents: WatchListener): Promise<Watcher> {
    this.ensureOpen();
    const from = validateWatch(prefix, opts, onEvents);
    // No await from here on: reading the backlog and registering must not let a commit
    // slip in between, or the watcher would miss or repeat a revision.
    const fromRevision = from > 0 ? from : this.currentRevision() + 1;
    const backlog = from > 0 ? this.history(from) : [];
    return this.hub.add({ prefix, fromRevision, backlog }, onEvents);
  }
}
