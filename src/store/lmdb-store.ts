/**
 * The embedded, single-host store backend: one LMDB environment (npm `lmdb`, native
 * prebuilt) holding data, revision counter, bounded history and leases.
 *
 * Every write is one synchronous LMDB write transaction on the calling thread
 * (`transactionSync`): compares, writes, the revision bump and the history record
 * commit together or not at all, and nothing else runs in between, so there is no
 * interleaving to reason about. LMDB commits by writing the new pages and then the
 * meta page that points at them (copy-on-write B+tree), so a process killed at any
 * instant leaves either the old or the new state: http://www.lmdb.tech/doc/
 *
 * Durability (docs/STORE.md, "Durability"):
 * - `sync: false` (default): commits are written to the OS page cache but not fsynced
 *   (MDB_NOSYNC), ≈0.04 ms per txn. An acknowledged txn survives a kill -9 of the
 *   daemon (the kernel still holds the pages); a power loss or kernel crash can lose
 *   the last `flushIntervalMs` of txns. A background fsync (libuv threadpool) runs every
 *   `flushIntervalMs` after writes, and on close.
 * - `sync: true`: every commit is fdatasynced before it is acknowledged (≈0.4 ms here,
 *   more on real disks): an acknowledged txn survives a power loss too.
 *
 * One process owns the database: watches are in-process listeners and the lease timer
 * runs here. The daemon's pid file guarantees a single owner; a second process opening
 * the same path would see the data but neither its watches nor its lease expiry.
 */
import { ABORT, open, type RootDatabase } from 'lmdb';
import { SwitchyardError, asSwitchyardError, invalid, unavailable } from '../errors.js';
import { STORE_ERROR, type KeyValue, type Store } from './contract.js';
import { FORMAT_VERSION, keyBytes, leaseId, openTables, toKeyValue, type LmdbTables } from './lmdb-layout.js';
import { WriteTxn, readRange, requireLiveLease } from './lmdb-write.js';
import { LocalStore, historyCompacted, type Committed } from './local-store.js';
import { validateKey, validateLease, validatePrefix, validateRevision, validateTtl } from './validation.js';
import type { RevisionEvents } from './watch-hub.js';

export interface LmdbStoreOptions {
  /** Directory of the LMDB environment (created if missing). */
  path: string;
  /** fsync every commit before acknowledging it (survives power loss). Default false. */
  sync?: boolean;
  /** Revisions of history kept for watch replay; older ones are compacted. Default 10 000. */
  historyRevisions?: number;
  /** How often expired leases are looked for. Default 250 ms. */
  leaseCheckIntervalMs?: number;
  /** With sync off: how long committed txns may wait for a background fsync. Default 1 000 ms. */
  flushIntervalMs?: number;
  /** Wall clock in ms, for lease deadlines. Default Date.now. */
  now?: () => number;
  /** Failures of background work (lease expiry, flush). Default: a process warning. */
  onBackgroundError?: (err: SwitchyardError) => void;
}

const DEFAULTS = { historyRevisions: 10_000, leaseCheckIntervalMs: 250, flushIntervalMs: 1_000 };

export async function openLmdbStore(opts: LmdbStoreOptions): Promise<Store> {
  const store = new LmdbStore(opts);
  try {
    store.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** lmdb-js's asynchronous fsync of the environment (mdb_env_sync(env, 1) on the threadpool). */
type Syncable = RootDatabase & { sync(callback: (err?: Error) => void): void };


class LmdbStore extends LocalStore<WriteTxn> implements Store {
  private readonly t: LmdbTables;
  private readonly now: () => number;
  private readonly historyRevisions: number;
  private readonly sync: boolean;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private unflushed = false;
  private flushing: Promise<void> | undefined;

  constructor(private readonly opts: LmdbStoreOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.sync = opts.sync ?? false;
    this.historyRevisions = opts.historyRevisions ?? DEFAULTS.historyRevisions;
    if (!Number.isInteger(this.historyRevisions) || this.historyRevisions < 1) {
      throw invalid(STORE_ERROR.revisionInvalid, 'historyRevisions must be an integer ≥ 1', 'historyRevisions');
    }
    let root: RootDatabase;
    try {
      // noSync: see the header. overlappingSync (lmdb-js's default) is off in both modes:
      // with transactionSync it still fsyncs on every commit, and plain LMDB semantics are
      // the well-understood ones.
      root = open({ path: opts.path, noSync: !this.sync, overlappingSync: false, maxDbs: 8 });
    } catch (err) {
      throw unavailable(STORE_ERROR.io, `cannot open the store at ${opts.path}: ${errorMessage(err)}`, err);
    }
    this.t = openTables(root);
  }

  /** Initialises a new environment, expires overdue leases and starts the timers. */
  start(): void {
    this.write(() => this.initMeta());
    this.expireLeases();
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.opts.leaseCheckIntervalMs ?? DEFAULTS.leaseCheckIntervalMs, () => this.background(() => this.expireLeases()));
    if (!this.sync) every(this.opts.flushIntervalMs ?? DEFAULTS.flushIntervalMs, () => void this.flush().catch(() => {}));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    const s = this.read(() => this.t.kv.get(keyBytes(key)));
    return s ? toKeyValue(key, s) : undefined;
  }

  async range(prefix: string): Promise<KeyValue[]> {
    this.ensureOpen();
    validatePrefix(prefix, { allowEmpty: true });
    return this.read(() => readRange(this.t, prefix));
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    this.ensureOpen();
    validateTtl(ttlSeconds);
    return this.write(() => {
      const seq = this.meta('leaseSeq') + 1;
      const id = leaseId(seq);
      this.t.meta.put('leaseSeq', seq);
      this.t.leases.put(id, { ttlSeconds, expiresAt: this.now() + ttlSeconds * 1000 });
      return id;
    });
  }

  async keepAlive(lease: string): Promise<void> {
    this.ensureOpen();
    validateLease(lease);
    this.write(() => {
      const rec = requireLiveLease(this.t, lease, this.now());
      this.t.leases.put(lease, { ttlSeconds: rec.ttlSeconds, expiresAt: this.now() + rec.ttlSeconds * 1000 });
    });
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    return this.read(() => this.meta('revision'));
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    validateRevision(revision, 'revision');
    this.write(() => {
      const current = this.meta('revision');
      if (revision > current) {
        throw invalid(STORE_ERROR.revisionInvalid, `cannot compact at ${revision}: the store is at revision ${current}`, 'revision');
      }
      this.compactBelow(revision);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.hub.closeAll();
    try {
      await this.flushing;
      if (!this.sync && this.unflushed) await this.fsync();
    } finally {
      await this.t.root.close();
    }
  }

  // ---- transactions -------------------------------------------------------------

  /**
   * Runs `body` in one LMDB write transaction stamped with revision current + 1. If it
   * changed keys, the revision, the history record and the compaction commit with it
   * and the events go to the watchers; if it changed nothing, it is aborted and the
   * revision stays.
   */
  protected commit<T>(body: (w: WriteTxn) => T): Committed<T> {
    let out: Committed<T> & { events: RevisionEvents['events'] } = undefined!;
    this.write(() => {
      const current = this.meta('revision');
      const w = new WriteTxn(this.t, current + 1, this.now());
      const value = body(w);
      if (!w.changed) {
        out = { value, revision: current, events: [] };
        return ABORT;
      }
      if (w.events.length) {
        this.t.meta.put('revision', w.revision);
        this.t.history.put(w.revision, w.events);
        this.compactBelow(w.revision - this.historyRevisions + 1);
      }
      out = { value, revision: w.events.length ? w.revision : current, events: w.events };
      return undefined;
    });
    if (out.events.length) this.hub.publish({ revision: out.revision, events: out.events });
    return { value: out.value, revision: out.revision };
  }

  /** One synchronous LMDB write transaction; LMDB failures become STORE_IO. */
  private write<T>(body: () => T): T {
    let result: T;
    try {
      this.t.root.transactionSync(() => {
        result = body();
        return result === ABORT ? ABORT : undefined;
      });
    } catch (err) {
      throw storeError(err);
    }
    if (result! !== ABORT) this.unflushed = true;
    return result!;
  }

  private read<T>(body: () => T): T {
    try {
      return body();
    } catch (err) {
      throw storeError(err);
    }
  }

  private initMeta(): void {
    const format = this.t.meta.get('format');
    if (format === undefined) {
      this.t.meta.put('format', FORMAT_VERSION);
      this.t.meta.put('revision', 1); // a fresh etcd is at revision 1 too
      this.t.meta.put('compactRevision', 0);
      this.t.meta.put('leaseSeq', 0);
    } else if (format !== FORMAT_VERSION) {
      throw unavailable(STORE_ERROR.io, `the store at ${this.opts.path} has format ${format}; this build reads format ${FORMAT_VERSION}`);
    }
  }

  private meta(key: 'revision' | 'compactRevision' | 'leaseSeq'): number {
    return this.t.meta.get(key) ?? 0;
  }

  /** Drops history before `revision` (inside a write transaction). */
  private compactBelow(revision: number): void {
    const compacted = this.meta('compactRevision');
    if (revision <= compacted) return;
    const old: number[] = [];
    for (const key of this.t.history.getKeys({ start: compacted, end: revision })) old.push(key as number);
    for (const key of old) this.t.history.remove(key);
    this.t.meta.put('compactRevision', revision);
  }

  /** Recorded events from `from` to now; STORE_REVISION_COMPACTED if they are gone. */
  protected history(from: number): RevisionEvents[] {
    const compacted = this.meta('compactRevision');
    if (from < compacted) throw historyCompacted(from, compacted);
    const out: RevisionEvents[] = [];
    for (const { key, value } of this.t.history.getRange({ start: from })) {
      out.push({ revision: key as number, events: value });
    }
    return out;
  }

  // ---- background work ------------------------------------------------------------

  /** Revokes every lease whose deadline has passed, one revision per lease (as etcd). */
  private expireLeases(): void {
    if (this.closed) return;
    const now = this.now();
    const due: string[] = [];
    for (const { key, value } of this.t.leases.getRange()) if (value.expiresAt <= now) due.push(key as string);
    for (const lease of due) this.commit((w) => w.revokeLease(lease));
  }

  /** Flushes committed txns to disk off the main thread (sync off). */
  private flush(): Promise<void> {
    if (this.closed || this.flushing || !this.unflushed) return this.flushing ?? Promise.resolve();
    this.unflushed = false;
    this.flushing = this.fsync()
      .catch((err) => {
        this.unflushed = true;
        this.reportBackground(err);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  private fsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.t.root as Syncable).sync((err) => (err ? reject(storeError(err)) : resolve()));
    });
  }

  private background(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.reportBackground(err);
    }
  }

  private reportBackground(err: unknown): void {
    const e = asSwitchyardError(err);
    if (this.opts.onBackgroundError) this.opts.onBackgroundError(e);
    else process.emitWarning(`store: ${e.code}: ${e.message}`);
  }

  protected currentRevision(): number {
    return this.meta('revision');
  }

  protected ensureOpen(): void {
    if (this.closed) throw unavailable(STORE_ERROR.closed, 'the store is closed');
  }
}

function storeError(err: unknown): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  return unavailable(STORE_ERROR.io, `store I/O failed: ${errorMessage(err)}`, err);
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
