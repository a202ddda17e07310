/**
 * How the embedded backend lays the store out in one LMDB environment, and the
 * conversions between stored records and the contract's types. Everything lives in
 * one environment so that a single LMDB write transaction covers data, revision
 * counter, history and leases: a commit is all-or-nothing across all of them.
 *
 *   kv          UTF-8 key bytes        → StoredKv           (binary keys: etcd's byte order)
 *   history     revision (number)      → WatchEvent[]       (bounded; older ones compacted)
 *   leases      lease id               → StoredLease
 *   lease-keys  lease id, NUL, key     → 1                  (which keys a lease deletes)
 *   meta        'format' | 'revision' | 'compactRevision' | 'leaseSeq' → number
 */
import type { Database, RootDatabase } from 'lmdb';
import type { KeyValue, WatchEvent } from './contract.js';

export const FORMAT_VERSION = 1;

export interface StoredKv {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease?: string;
}

export interface StoredLease {
  ttlSeconds: number;
  /** Wall-clock deadline (ms since the epoch): it must survive a restart of the process. */
  expiresAt: number;
}

export type MetaKey = 'format' | 'revision' | 'compactRevision' | 'leaseSeq';

export interface LmdbTables {
  root: RootDatabase;
  kv: Database<StoredKv, Buffer>;
  history: Database<WatchEvent[], number>;
  leases: Database<StoredLease, string>;
  leaseKeys: Database<number, Buffer>;
  meta: Database<number, MetaKey>;
}

export function openTables(root: RootDatabase): LmdbTables {
  return {
    root,
    kv: root.openDB<StoredKv, Buffer>({ name: 'kv', keyEncoding: 'binary', encoding: 'json' }),
    history: root.openDB<WatchEvent[], number>({ name: 'history', encoding: 'json' }),
    leases: root.openDB<StoredLease, string>({ name: 'leases', encoding: 'json' }),
    leaseKeys: root.openDB<number, Buffer>({ name: 'lease-keys', keyEncoding: 'binary', encoding: 'json' }),
    meta: root.openDB<number, MetaKey>({ name: 'meta', encoding: 'json' }),
  };
}

export const keyBytes = (key: string): Buffer => Buffer.from(key, 'utf8');

export const leaseKeyBytes = (lease: string, key: string): Buffer =>
  Buffer.concat([Buffer.from(lease, 'utf8'), Buffer.from([0]), Buffer.from(key, 'utf8')]);

/**
 * The [start, end) byte range of every key starting with `prefix`, computed as etcd's
 * clientv3.GetPrefixRangeEnd does: increment the last byte below 0xff and cut there.
 * An empty prefix (or one of only 0xff bytes) has no bound.
 */
export function prefixRange(prefix: Buffer): { start?: Buffer; end?: Buffer } {
  if (prefix.length === 0) return {};
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return { start: prefix, end: end.subarray(0, i + 1) };
    }
  }
  return { start: prefix };
}

export function toKeyValue(key: string, s: StoredKv): KeyValue {
  const kv: KeyValue = { key, value: s.value, createRevision: s.createRevision, modRevision: s.modRevision, version: s.version };
  if (s.lease !== undefined) kv.lease = s.lease;
  return kv;
}

export function toStoredKv(kv: KeyValue): StoredKv {
  const s: StoredKv = { value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
  if (kv.lease !== undefined) s.lease = kv.lease;
  return s;
}

/** The kv of a delete event: etcd sends the key and the deleting revision, all else zero. */
export const tombstone = (key: string, revision: number): KeyValue => ({
  key,
  value: '',
  createRevision: 0,
  modRevision: revision,
  version: 0,
});

/** Lease ids: a persistent counter, in etcd's 16-hex-digit print form. */
export const leaseId = (seq: number): string => seq.toString(16).padStart(16, '0');
