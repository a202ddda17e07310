/**
 * An in-memory backend of the store contract (src/store/contract.ts), for unit tests that
 * need a Store without a database file: the engine harness, reconcile's decisions, anything
 * that must run as any user and fast. It passes the same conformance suite as the LMDB
 * backend (test/unit/store-memory.test.ts runs test/helpers/store-conformance.ts on it).
 *
 * It shares with the LMDB backend what is backend-neutral in src/store/: input validation
 * (validation.ts, so both reject the same requests with the same codes), the write, txn
 * and watch calls over a local write transaction (local-store.ts, with compare.ts and the
 * watch fan-out of watch-hub.ts). What it does itself:
 *
 * - Keys live in a Map; every write runs in a `MemoryTxn` that stages its changes in an
 *   overlay and applies them only when the whole branch succeeded, so a txn that throws
 *   part-way (an expired lease, say) leaves nothing behind and bumps no revision.
 * - One revision per write txn that changed a key; history per revision for watch replay,
 *   bounded by `historyRevisions` like LMDB's, and `compact` below a revision.
 * - Leases with wall-clock deadlines (`now` is injectable); a timer revokes expired ones,
 *   one revision per lease, with delete events. A key's lease is stored on the key, so a
 *   put without a lease detaches it, as in etcd.
 * - The data lives in a `MemoryBacking` that outlives the Store: open a second store on the
 *   same backing and it sees the data, revision, leases and history of the first, as a
 *   reopened LMDB file does (the conformance suite's "reopen" test). One store at a time
 *   should own a backing: watches are per store object.
 *
 * Values handed out (get, range, txn results, watch events) are copies: a caller that
 * mutates them cannot change the store.
 */
import { SwitchyardError, invalid, unavailable } from '../../src/errors.js';
import { STORE_ERROR, type KeyValue, type Store, type WatchEvent } from '../../src/store/contract.js';
import { compareBytes } from '../../src/store/compare.js';
import { LocalStore, historyCompacted, type Committed, type LocalWriteTxn, stampPut } from '../../src/store/local-store.js';
import { validateKey, validateLease, validatePrefix, validateRevision, validateTtl } from '../../src/store/validation.js';
import type { RevisionEvents } from '../../src/store/watch-hub.js';

interface MemoryLease {
  ttlSeconds: number;
  /** Wall-clock deadline in ms. */
  expiresAt: number;
}

/** What a reopened store finds: the in-memory equivalent of the database file. */
export interface MemoryBacking {
  kv: Map<string, KeyValue>;
  leases: Map<string, MemoryLease>;
  /** Events of each retained revision, in revision order. */
  history: Map<number, WatchEvent[]>;
  revision: number;
  /** History before this revision is gone. */
  compactRevision: number;
  leaseSeq: number;
}

/** Fresh, empty data at revision 1 (a fresh etcd is at revision 1 too). */
export function createMemoryBacking(): MemoryBacking {
  return { kv: new Map(), leases: new Map(), history: new Map(), revision: 1, compactRevision: 0, leaseSeq: 0 };
}

export interface MemoryStoreOptions {
  /** The data to open; default a fresh backing (the store starts empty). */
  backing?: MemoryBacking;
  /** Revisions of history kept for watch replay; older ones are compacted. Default 10 000. */
  historyRevisions?: number;
  /** How often expired leases are looked for. Default 250 ms. */
  leaseCheckIntervalMs?: number;
  /** Wall clock in ms, for lease deadlines. Default Date.now. */
  now?: () => number;
}

export async function openMemoryStore(opts: MemoryStoreOptions = {}): Promise<Store> {
  const store = new MemoryStore(opts);
  store.start();
  return store;
}

const DEFAULTS = { historyRevisions: 10_000, leaseCheckIntervalMs: 250 };

const copyKv = (kv: KeyValue): KeyValue => ({ ...kv });
const copyEvent = (e: WatchEvent): WatchEvent => (e.prevKv ? { type: e.type, kv: copyKv(e.kv), prevKv: copyKv(e.prevKv) } : { type: e.type, kv: copyKv(e.kv) });
const copyBatch = (b: RevisionEvents): RevisionEvents => ({ revision: b.revision, events: b.events.map(copyEvent) });
const tombstone = (key: string, revision: number): KeyValue => ({ key, value: '', createRevision: 0, modRevision: revision, version: 0 });
const leaseNotFound = (lease: string, field = 'lease') =>
  new SwitchyardError('not-found', STORE_ERROR.leaseNotFound, `lease ${lease} does not exist or has expired`, { field });

/**
 * The writes of one transaction, stamped with one candidate revision (current + 1) and
 * staged over the backing: reads see the txn's own earlier writes; nothing reaches the
 * backing until `apply`.
 */
class MemoryTxn implements LocalWriteTxn {
  readonly events: WatchEvent[] = [];
  /** key → its new state, or null once deleted in this txn. */
  private readonly staged = new Map<string, KeyValue | null>();
  private readonly revokedLeases = new Set<string>();

  constructor(
    private readonly data: MemoryBacking,
    readonly revision: number,
    private readonly now: number,
  ) {}

  get changed(): boolean {
    return this.events.length > 0 || this.revokedLeases.size > 0;
  }

  get(key: string): KeyValue | undefined {
    const s = this.staged.get(key);
    if (s !== undefined) return s ?? undefined;
    return this.data.kv.get(key);
  }

  range(prefix: string): KeyValue[] {
    const keys = new Set<string>();
    for (const k of this.data.kv.keys()) if (k.startsWith(prefix)) keys.add(k);
    for (const k of this.staged.keys()) if (k.startsWith(prefix)) keys.add(k);
    const out: KeyValue[] = [];
    for (const k of [...keys].sort(compareBytes)) {
      const kv = this.get(k);
      if (kv) out.push(kv);
    }
    return out;
  }

  put(key: string, value: string, lease?: string): void {
    if (lease !== undefined) this.requireLiveLease(lease);
    const prev = this.get(key);
    const { kv, event } = stampPut(prev, key, value, this.revision, lease);
    this.staged.set(key, kv);
    this.events.push(event);
  }

  /** Returns how many keys were deleted (0 or 1). */
  delete(key: string): number {
    const prev = this.get(key);
    if (!prev) return 0;
    this.staged.set(key, null);
    this.events.push({ type: 'delete', kv: tombstone(key, this.revision), prevKv: prev });
    return 1;
  }

  deletePrefix(prefix: string): number {
    let deleted = 0;
    for (const kv of this.range(prefix)) deleted += this.delete(kv.key);
    return deleted;
  }

  /** Deletes the lease and every key attached to it. Unknown lease: nothing happens. */
  revokeLease(lease: string): number {
    if (!this.data.leases.has(lease) || this.revokedLeases.has(lease)) return 0;
    let deleted = 0;
    for (const kv of this.range('')) if (kv.lease === lease) deleted += this.delete(kv.key);
    this.revokedLeases.add(lease);
    return deleted;
  }

  requireLiveLease(lease: string, field = 'lease'): MemoryLease {
    const rec = this.revokedLeases.has(lease) ? undefined : this.data.leases.get(lease);
    if (!rec || rec.expiresAt <= this.now) throw leaseNotFound(lease, field);
    return rec;
  }

  /** Writes the staged changes into the backing (the txn succeeded as a whole). */
  apply(): void {
    for (const [key, kv] of this.staged) {
      if (kv) this.data.kv.set(key, kv);
      else this.data.kv.delete(key);
    }
    for (const lease of this.revokedLeases) this.data.leases.delete(lease);
  }
}

class MemoryStore extends LocalStore<MemoryTxn> implements Store {
  private readonly data: MemoryBacking;
  private readonly now: () => number;
  private readonly historyRevisions: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: MemoryStoreOptions) {
    super();
    this.data = opts.backing ?? createMemoryBacking();
    this.now = opts.now ?? Date.now;
    this.historyRevisions = opts.historyRevisions ?? DEFAULTS.historyRevisions;
    if (!Number.isInteger(this.historyRevisions) || this.historyRevisions < 1) {
      throw invalid(STORE_ERROR.revisionInvalid, 'historyRevisions must be an integer ≥ 1', 'historyRevisions');
    }
  }

  /** Expires leases that ran out while no store had the backing open, starts the timer. */
  start(): void {
    this.expireLeases();
    this.timer = setInterval(() => this.expireLeases(), this.opts.leaseCheckIntervalMs ?? DEFAULTS.leaseCheckIntervalMs);
    this.timer.unref();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    const kv = this.data.kv.get(key);
    return kv ? copyKv(kv) : undefined;
  }

  async range(prefix: string): Promise<KeyValue[]> {
    this.ensureOpen();
    validatePrefix(prefix, { allowEmpty: true });
    return new MemoryTxn(this.data, this.data.revision, this.now()).range(prefix).map(copyKv);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    this.ensureOpen();
    validateTtl(ttlSeconds);
    const id = (++this.data.leaseSeq).toString(16).padStart(16, '0');
    this.data.leases.set(id, { ttlSeconds, expiresAt: this.now() + ttlSeconds * 1000 });
    return id;
  }

  async keepAlive(lease: string): Promise<void> {
    this.ensureOpen();
    validateLease(lease);
    const rec = new MemoryTxn(this.data, this.data.revision, this.now()).requireLiveLease(lease);
    rec.expiresAt = this.now() + rec.ttlSeconds * 1000;
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    return this.data.revision;
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    validateRevision(revision, 'revision');
    if (revision > this.data.revision) {
      throw invalid(STORE_ERROR.revisionInvalid, `cannot compact at ${revision}: the store is at revision ${this.data.revision}`, 'revision');
    }
    this.compactBelow(revision);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.hub.closeAll();
  }

  /**
   * Runs `body` on a MemoryTxn stamped with revision current + 1. If it throws, nothing
   * was applied. If it changed keys, the backing takes the changes, the new revision and
   * its history record, and the watchers get the events; if it changed nothing, the
   * revision stays.
   */
  protected commit<T>(body: (w: MemoryTxn) => T): Committed<T> {
    const w = new MemoryTxn(this.data, this.data.revision + 1, this.now());
    const value = body(w);
    if (!w.changed) return { value, revision: this.data.revision };
    w.apply();
    if (!w.events.length) return { value, revision: this.data.revision };
    this.data.revision = w.revision;
    this.data.history.set(w.revision, w.events);
    this.compactBelow(w.revision - this.historyRevisions + 1);
    this.hub.publish(copyBatch({ revision: w.revision, events: w.events }));
    return { value, revision: w.revision };
  }

  private compactBelow(revision: number): void {
    if (revision <= this.data.compactRevision) return;
    for (const r of this.data.history.keys()) if (r < revision) this.data.history.delete(r);
    this.data.compactRevision = revision;
  }

  /** Recorded events from `from` to now; STORE_REVISION_COMPACTED if they are gone. */
  protected history(from: number): RevisionEvents[] {
    if (from < this.data.compactRevision) throw historyCompacted(from, this.data.compactRevision);
    const out: RevisionEvents[] = [];
    for (const [revision, events] of this.data.history) if (revision >= from) out.push(copyBatch({ revision, events }));
    return out;
  }

  /** Revokes every lease whose deadline has passed, one revision per lease (as etcd). */
  private expireLeases(): void {
    if (this.closed) return;
    const now = this.now();
    const due = [...this.data.leases].filter(([, l]) => l.expiresAt <= now).map(([id]) => id);
    for (const lease of due) this.commit((w) => w.revokeLease(lease));
  }

  protected currentRevision(): number {
    return this.data.revision;
  }

  protected override copyKv(kv: KeyValue): KeyValue {
    return copyKv(kv);
  }

  protected ensureOpen(): void {
    if (this.closed) throw unavailable(STORE_ERROR.closed, 'the store is closed');
  }
}
