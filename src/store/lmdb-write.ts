/**
 * The operations of one LMDB write transaction of the embedded backend. A WriteTxn
 * exists only inside `root.transactionSync`, so every read sees the writes made before
 * it in the same transaction, and everything it does commits or aborts together.
 *
 * It stamps every change with one candidate revision (current + 1) and collects the
 * watch events; the caller commits that revision only if something changed.
 */
import { SwitchyardError } from '../errors.js';
import { STORE_ERROR, type KeyValue, type WatchEvent } from './contract.js';
import { stampPut, type LocalWriteTxn } from './local-store.js';
import { keyBytes, leaseKeyBytes, prefixRange, tombstone, toKeyValue, toStoredKv, type LmdbTables, type StoredLease } from './lmdb-layout.js';

export class WriteTxn implements LocalWriteTxn {
  readonly events: WatchEvent[] = [];
  /** Set by writes that are not key changes (lease records): commit, but no new revision. */
  touchedLeases = false;

  constructor(
    private readonly t: LmdbTables,
    /** The revision this transaction's changes get if it commits. */
    readonly revision: number,
    private readonly now: number,
  ) {}

  get changed(): boolean {
    return this.events.length > 0 || this.touchedLeases;
  }

  get(key: string): KeyValue | undefined {
    const s = this.t.kv.get(keyBytes(key));
    return s ? toKeyValue(key, s) : undefined;
  }

  range(prefix: string): KeyValue[] {
    return readRange(this.t, prefix);
  }

  put(key: string, value: string, lease?: string): void {
    const prev = this.get(key);
    if (lease !== undefined) requireLiveLease(this.t, lease, this.now);
    const { kv, event } = stampPut(prev, key, value, this.revision, lease);
    this.t.kv.put(keyBytes(key), toStoredKv(kv));
    // A put without a lease detaches the key from its old lease, as in etcd.
    if (prev?.lease !== undefined && prev.lease !== lease) this.t.leaseKeys.remove(leaseKeyBytes(prev.lease, key));
    if (lease !== undefined && prev?.lease !== lease) this.t.leaseKeys.put(leaseKeyBytes(lease, key), 1);
    this.events.push(event);
  }

  /** Returns how many keys were deleted (0 or 1). */
  delete(key: string): number {
    const prev = this.get(key);
    if (!prev) return 0;
    this.t.kv.remove(keyBytes(key));
    if (prev.lease !== undefined) this.t.leaseKeys.remove(leaseKeyBytes(prev.lease, key));
    this.events.push({ type: 'delete', kv: tombstone(key, this.revision), prevKv: prev });
    return 1;
  }

  deletePrefix(prefix: string): number {
    // Collect first: a cursor must not walk keys that are being deleted under it.
    const keys = readRange(this.t, prefix).map((kv) => kv.key);
    let deleted = 0;
    for (const key of keys) deleted += this.delete(key);
    return deleted;
  }

  /** Deletes the lease and every key attached to it. Unknown lease: nothing happens. */
  revokeLease(lease: string): number {
    if (!this.t.leases.get(lease)) return 0;
    const prefix = Buffer.concat([Buffer.from(lease, 'utf8'), Buffer.from([0])]);
    const keys: string[] = [];
    for (const { key } of this.t.leaseKeys.getRange(prefixRange(prefix))) {
      keys.push((key as Buffer).subarray(prefix.length).toString('utf8'));
    }
    let deleted = 0;
    for (const key of keys) deleted += this.delete(key);
    this.t.leases.remove(lease);
    this.touchedLeases = true;
    return deleted;
  }
}

/** STORE_LEASE_NOT_FOUND unless the lease exists and its deadline has not passed. */
export function requireLiveLease(t: LmdbTables, lease: string, now: number, field = 'lease'): StoredLease {
  const rec = t.leases.get(lease);
  if (!rec || rec.expiresAt <= now) {
    throw new SwitchyardError('not-found', STORE_ERROR.leaseNotFound, `lease ${lease} does not exist or has expired`, { field });
  }
  return rec;
}

/** Every key under `prefix`, in byte order, from whatever transaction is current. */
export function readRange(t: LmdbTables, prefix: string): KeyValue[] {
  const out: KeyValue[] = [];
  for (const { key, value } of t.kv.getRange(prefixRange(keyBytes(prefix)))) {
    out.push(toKeyValue((key as Buffer).toString('utf8'), value));
  }
  return out;
}
