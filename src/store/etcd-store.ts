/**
 * The etcd v3 backend of the store contract (src/store/contract.ts), for cluster mode: every
 * contract call is one etcd RPC on etcd's own features, so the guarantees are etcd's
 * (https://etcd.io/docs/v3.4/learning/api_guarantees/):
 *
 * - get / range / put / delete / deletePrefix / txn → KV.Range, Put, DeleteRange, Txn; a
 *   contract revision *is* the etcd revision (header.revision, create/mod_revision, version);
 * - watch → one Watch stream per watcher with prev_kv, from an explicit start revision,
 *   re-created from the next undelivered revision after a disconnect (no gap, no repeat);
 * - leases → Lease.LeaseGrant / LeaseKeepAlive (one shared stream) / LeaseRevoke; lease ids
 *   are etcd's int64 ids in hex, as etcdctl prints them.
 *
 * Every key is stored under `prefix` (default /switchyard/v1): contract key /networks/N is
 * etcd key /switchyard/v1/networks/N, so several deployments or test runs share one etcd.
 *
 * Failures: etcd not answering (connection refused, no leader, deadline of `requestTimeoutMs`
 * passed) is STORE_UNREACHABLE, kind unavailable (HTTP 503). With several endpoints, a call
 * that never reached a member (no connection established) is tried on the next one; a call
 * that reached a member and lost it has an unknown outcome, which the store settles within
 * the call's deadline where that is sound (src/store/etcd-settle.ts: reads sent again,
 * witnessed txns sent again, other writes looked for in history). What it cannot settle is
 * reported, the outcome unknown: callers re-read before retrying.
 *
 * The gRPC client is npm `etcd3` (its generated RPC clients and connection pool; its own
 * watch manager and lease object are not used: see docs/STORE.md, "The etcd backend").
 */
import { readFileSync } from 'node:fs';
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, type ICompare, type IKeyValue, type IRangeRequest, type IRequestOp, type IResponseOp, type ITxnResponse, type IWatchResponse } from 'etcd3';
import { handleWhen, noop, retry, type IPolicy } from 'cockatiel';
import { SwitchyardError, invalid, notFound, unavailable } from '../errors.js';
import {
  STORE_ERROR,
  type Compare,
  type KeyValue,
  type Op,
  type Store,
  type Txn,
  type TxnResult,
  type WatchEvent,
  type WatchListener,
  type WatchOptions,
  type Watcher,
} from './contract.js';
import { isReadOnly, outcomeOf, readRevisions, witnessesOf, witnessVerdict, writesOf, writtenAt } from './etcd-settle.js';
import { validateKey, validateLease, validatePrefix, validateRevision, validateTtl, validateTxn, validateValue, validateWatch } from './validation.js';

export interface EtcdStoreOptions {
  /** Client URLs of the etcd members, e.g. ['http://127.0.0.1:2379'] (https:// for TLS). */
  endpoints: string[];
  /** Prefix of every key this store writes (default '/switchyard/v1'). */
  prefix?: string;
  /** Deadline of one unary call (default 2 000 ms); past it the call fails with STORE_UNREACHABLE. */
  requestTimeoutMs?: number;
  /** TLS files (PEM): the CA that signed the members' certificates, and a client certificate and key. */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  /**
   * Ask a member for the revision before returning (default true: no member answers →
   * STORE_UNREACHABLE now). false: open without asking, each call then fails or succeeds on
   * its own (the daemon starts while etcd is down; its local work must not wait for etcd).
   */
  probe?: boolean;
  /**
   * Settle calls whose outcome is unknown (default true: src/store/etcd-settle.ts). false:
   * one attempt per call, an unknown outcome reported as STORE_UNREACHABLE (the behaviour
   * before settling; tests use it as the control).
   */
  settle?: boolean;
  /** Told of every call settled after an unknown outcome: how, and how long the call took (ms). */
  onSettled?: (how: SettledHow, ms: number) => void;
  /** Failures of background work (a watch that could not resume). Default: a process warning. */
  onBackgroundError?: (err: SwitchyardError) => void;
}

/**
 * How an unknown outcome was settled: `resent` (a witnessed txn sent again and answered),
 * `applied` (its resend showed the original applied), `found` (a write found in history),
 * `retried` (a read answered by another attempt).
 */
export type SettledHow = 'resent' | 'applied' | 'found' | 'retried';

export const ETCD_DEFAULTS = { prefix: '/switchyard/v1', requestTimeoutMs: 2_000 } as const;

/** Watch re-connection backoff: 50 ms doubling up to this (etcd back within 2 s → resumed within ~1 s of it). */
const WATCH_RETRY_MAX_MS = 1_000;

export async function openEtcdStore(opts: EtcdStoreOptions): Promise<Store> {
  const store = new EtcdStore(opts);
  if (opts.probe === false) return store;
  try {
    await store.revision(); // fails fast with STORE_UNREACHABLE if no member answers
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

// ---- encoding -------------------------------------------------------------------

const utf8 = (s: string) => Buffer.from(s, 'utf8');

/** etcd's range end for "every key starting with `start`": the last byte + 1 (`\0` = to the end). */
export function prefixRangeEnd(start: Buffer): Buffer {
  const end = Buffer.from(start);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Lease ids travel as etcd's int64 (decimal in the client) and are shown in hex, as etcdctl does. */
const LEASE_HEX = /^[0-9a-f]{1,16}$/;
export const leaseToHex = (id: string): string => BigInt(id).toString(16);
/** The int64 of a contract lease id, or undefined if it cannot be one of etcd's. */
export function leaseFromHex(lease: string): string | undefined {
  if (!LEASE_HEX.test(lease)) return undefined;
  const n = BigInt(`0x${lease}`);
  return n > 0n && n < 2n ** 63n ? n.toString() : undefined;
}

const CMP_TARGET = { version: 'Version', createRevision: 'Create', modRevision: 'Mod', value: 'Value' } as const;
const CMP_RESULT = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;
const CMP_FIELD = { version: 'version', createRevision: 'create_revision', modRevision: 'mod_revision' } as const;

const leaseNotFound = (lease: string) => notFound(STORE_ERROR.leaseNotFound, `lease ${lease} does not exist or has expired`);

// ---- the store ------------------------------------------------------------------

class EtcdStore implements Store {
  readonly client: Etcd3;
  readonly prefix: string;
  private readonly prefixBytes: Buffer;
  readonly requestTimeoutMs: number;
  private readonly watchers = new Set<EtcdWatcher>();
  private readonly keepAlives: KeepAliveStream;
  private closed = false;

  constructor(private readonly opts: EtcdStoreOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0 || opts.endpoints.some((e) => !/^https?:\/\/[^/]+\/?$/.test(e))) {
      throw invalid(STORE_ERROR.optionInvalid, 'endpoints must be a non-empty list of http(s)://host:port URLs', 'endpoints');
    }
    this.prefix = opts.prefix ?? ETCD_DEFAULTS.prefix;
    validatePrefix(this.prefix, { allowEmpty: true }, 'prefix');
    this.prefixBytes = utf8(this.prefix);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? ETCD_DEFAULTS.requestTimeoutMs;
    if (!Number.isInteger(this.requestTimeoutMs) || this.requestTimeoutMs < 1) {
      throw invalid(STORE_ERROR.optionInvalid, 'requestTimeoutMs must be an integer ≥ 1', 'requestTimeoutMs');
    }
    const hosts = opts.endpoints.map((e) => e.replace(/\/$/, ''));
    this.client = new Etcd3({
      hosts,
      credentials: opts.tls ? readTls(opts.tls) : undefined,
      dialTimeout: this.requestTimeoutMs,
      // Unary calls get a deadline; streams (watch, keep-alive) live until closed.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.requestTimeoutMs }),
      grpcOptions: {
        // Reconnect within a second of etcd coming back (gRPC's default backoff grows to 120 s).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // Notice a peer that vanished without closing the connection (etcd allows pings every 5 s).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
      faultHandling: {
        // No circuit breaker: a member that is back must be used at once, not after a pause.
        host: () => noop as IPolicy,
        // Another member only when the call never reached this one (safe for writes too).
        global: hosts.length > 1 ? retry(handleWhen(neverSent), { maxAttempts: hosts.length - 1 }) : noop,
      },
    });
    this.keepAlives = new KeepAliveStream(this);
  }

  // ---- KV ----

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    validateKey(key);
    const res = await this.read((o) => this.client.kv.range({ key: this.k(key) }, o));
    return res.kvs.length ? this.toKv(res.kvs[0]!) : undefined;
  }

  async range(prefix: string): Promise<KeyValue[]> {
    this.ensureOpen();
    validatePrefix(prefix, { allowEmpty: true });
    const res = await this.read((o) => this.client.kv.range(this.rangeOf(prefix), o));
    return res.kvs.map((kv) => this.toKv(kv));
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<{ revision: number }> {
    this.ensureOpen();
    validateKey(key);
    validateValue(value);
    if (opts.lease !== undefined) validateLease(opts.lease);
    this.leaseArg(opts.lease);
    // One put is the txn of that put (same effect in etcd), settled as one if its outcome is unknown.
    const res = await this.txn({ compare: [], success: [{ type: 'put', key, value, ...(opts.lease !== undefined ? { lease: opts.lease } : {}) }] });
    return { revision: res.revision };
  }

  async delete(key: string): Promise<{ revision: number; deleted: number }> {
    this.ensureOpen();
    validateKey(key);
    const res = await this.call(() => this.client.kv.deleteRange({ key: this.k(key) }));
    return { revision: Number(res.header.revision), deleted: Number(res.deleted) };
  }

  async deletePrefix(prefix: string): Promise<{ revision: number; deleted: number }> {
    this.ensureOpen();
    validatePrefix(prefix, { allowEmpty: false });
    const res = await this.call(() => this.client.kv.deleteRange(this.rangeOf(prefix)));
    return { revision: Number(res.header.revision), deleted: Number(res.deleted) };
  }

  async txn(t: Txn): Promise<TxnResult> {
    this.ensureOpen();
    validateTxn(t);
    const success = t.success.map((op) => this.requestOp(op));
    const failure = (t.failure ?? []).map((op) => this.requestOp(op));
    const leases = [...t.success, ...(t.failure ?? [])].flatMap((op) => (op.type === 'put' && op.lease !== undefined ? [op.lease] : []));
    const lease = leases.length ? [...new Set(leases)].join(' or ') : undefined;
    const compare = t.compare.map((c) => this.compareOf(c));
    if (isReadOnly(t)) return this.txnResult(t, await this.read((o) => this.client.kv.txn({ compare, success, failure }, o), lease));
    return this.write(t, { compare, success, failure }, lease);
  }

  private txnResult(t: Txn, res: ITxnResponse): TxnResult {
    const ops = res.succeeded ? t.success : (t.failure ?? []);
    return {
      succeeded: res.succeeded,
      revision: Number(res.header.revision),
      results: ops.map((op, i) => this.resultOf(op, res.responses[i] as IResponseOp | undefined)),
    };
  }

  async revision(): Promise<number> {
    this.ensureOpen();
    const res = await this.read((o) => this.client.kv.range({ key: this.prefixBytes.length ? this.prefixBytes : Buffer.from([0]), count_only: true }, o));
    return Number(res.header.revision);
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    validateRevision(revision, 'revision');
    try {
      await this.call(() => this.client.kv.compact({ revision }));
    } catch (err) {
      if (err instanceof SwitchyardError && err.code === STORE_ERROR.revisionCompacted) return; // already compacted
      if (err instanceof SwitchyardError && err.code === STORE_ERROR.revisionInvalid) {
        throw invalid(STORE_ERROR.revisionInvalid, `cannot compact at ${revision}: beyond the current revision`, 'revision');
      }
      throw err;
    }
  }

  // ---- watch ----

  async watch(prefix: string, opts: WatchOptions, onEvents: WatchListener): Promise<Watcher> {
    this.ensureOpen();
    const from = validateWatch(prefix, opts, onEvents);
    let start: number;
    if (from > 0) {
      // A range at `from` fails with ErrCompacted when that history is gone, so the caller
      // learns it now rather than from a cancelled stream; a future revision is fine to watch.
      try {
        await this.read((o) => this.client.kv.range({ ...this.rangeOf(prefix), revision: from, count_only: true }, o));
      } catch (err) {
        if (err instanceof SwitchyardError && err.code === STORE_ERROR.revisionCompacted) throw compacted(from, 0);
        if (!(err instanceof SwitchyardError && err.code === STORE_ERROR.revisionInvalid)) throw err;
      }
      start = from;
    } else {
      start = (await this.revision()) + 1;
    }
    const w = new EtcdWatcher(this, this.rangeOf(prefix), start, onEvents, opts.onError ?? ((e) => this.reportBackground(e)), opts.prevKv !== false);
    this.watchers.add(w);
    try {
      await w.open();
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  forget(w: EtcdWatcher): void {
    this.watchers.delete(w);
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<string> {
    this.ensureOpen();
    validateTtl(ttlSeconds);
    const res = await this.call(() => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }));
    return leaseToHex(res.ID);
  }

  async keepAlive(lease: string): Promise<void> {
    this.ensureOpen();
    validateLease(lease);
    const id = leaseFromHex(lease);
    if (id === undefined) throw leaseNotFound(lease);
    const ttl = await this.keepAlives.renew(id);
    if (ttl <= 0) throw leaseNotFound(lease);
  }

  async revokeLease(lease: string): Promise<void> {
    this.ensureOpen();
    validateLease(lease);
    const id = leaseFromHex(lease);
    if (id === undefined) return;
    try {
      await this.call(() => this.client.leaseClient.leaseRevoke({ ID: id }), lease);
    } catch (err) {
      if (err instanceof SwitchyardError && err.code === STORE_ERROR.leaseNotFound) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers].map((w) => w.close()));
    this.keepAlives.close();
    this.client.close();
  }

  // ---- plumbing ----

  isClosed(): boolean {
    return this.closed;
  }

  /** Runs one etcd call, translating its failure into a SwitchyardError. */
  async call<T>(fn: () => Promise<T>, lease?: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeError(err, this, lease);
    }
  }

  /** The highest revision any answer carried: a write sent after it applies above it. */
  private seen = 0;

  private noteRevision(header: { revision: string | number } | undefined): void {
    const rev = Number(header?.revision ?? 0);
    if (rev > this.seen) this.seen = rev;
  }

  /** One attempt's deadline: a member that hangs is left for another within a quarter of the call's. */
  private attemptDeadline(deadline: number): number {
    return Math.min(deadline, Date.now() + Math.max(250, Math.floor(this.requestTimeoutMs / 4)));
  }

  /**
   * A read (or a txn that writes nothing): sent again, to any member, after a failure that is
   * not an answer, until one answers or the call's deadline (`requestTimeoutMs`) passes. No
   * member reachable at all (every connection refused): fails at once.
   */
  async read<T extends { header: { revision: string | number } }>(fn: (o: { deadline: number }) => Promise<T>, lease?: string, until?: number): Promise<T> {
    const start = Date.now();
    const deadline = until ?? start + this.requestTimeoutMs;
    const settle = this.opts.settle !== false;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fn({ deadline: settle ? this.attemptDeadline(deadline) : deadline });
        this.noteRevision(res.header);
        if (attempt > 0) this.settled('retried', start);
        return res;
      } catch (err) {
        const outcome = outcomeOf(err);
        if (!settle || this.closed || outcome === 'final' || outcome === 'not-sent' || Date.now() >= deadline) throw storeError(err, this, lease);
        await pause(Math.min(10 * 2 ** Math.min(attempt, 4), deadline - Date.now()));
      }
    }
  }

  /**
   * A write txn. A failure that is not an answer is settled (src/store/etcd-settle.ts): a
   * witnessed txn is sent again until it is answered, a resend that fails its compare
   * telling whether the original was applied; any other write is looked for in the store.
   * Undecided by the deadline: STORE_UNREACHABLE, the outcome unknown (as the message says).
   */
  private async write(t: Txn, req: { compare: ICompare[]; success: IRequestOp[]; failure: IRequestOp[] }, lease: string | undefined): Promise<TxnResult> {
    const start = Date.now();
    const deadline = start + this.requestTimeoutMs;
    const settle = this.opts.settle !== false;
    const witnesses = settle ? witnessesOf(t) : [];
    const floor = this.seen;
    const probe = { ...req, failure: [...req.failure, ...witnesses.map((w): IRequestOp => ({ request_range: { key: this.k(w.key) } }))] };
    let unknown: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        const sent = unknown === undefined ? req : probe;
        // A witnessed txn may leave a hanging member for another; any other write waits for its answer.
        const res = await this.client.kv.txn(sent, { deadline: witnesses.length ? this.attemptDeadline(deadline) : deadline });
        this.noteRevision(res.header);
        if (unknown !== undefined && !res.succeeded) {
          const held = res.responses.slice(req.failure.length).map((r) => (r as IResponseOp).response_range?.kvs[0]);
          const verdict = witnessVerdict(witnesses, held.map((kv) => (kv ? this.toKv(kv) : undefined)));
          if ('mixed' in verdict) throw storeError(unknown, this, lease);
          if (verdict.applied) {
            const deleted = witnesses.find((w) => w.kind === 'deleted')!;
            const rev = verdict.revision ?? (await this.deleteRevision(deleted.key, floor + 1, deadline).catch(() => undefined));
            if (rev === undefined) throw storeError(unknown, this, lease);
            const out = await this.appliedResult(t, rev, unknown, lease, deadline);
            this.settled('applied', start);
            return out;
          }
          res.responses = res.responses.slice(0, req.failure.length);
        }
        if (unknown !== undefined) this.settled('resent', start);
        return this.txnResult(t, res);
      } catch (err) {
        if (err instanceof SwitchyardError) throw err;
        const outcome = outcomeOf(err);
        if (!settle || this.closed || outcome === 'final') throw storeError(err, this, lease);
        if (outcome === 'unknown') unknown ??= err;
        // etcd unreachable (every member refused the connection) and nothing sent before: at once.
        if (outcome === 'not-sent' && unknown === undefined) throw storeError(err, this, lease);
        if (Date.now() >= deadline) throw storeError(unknown ?? err, this, lease);
        if (unknown !== undefined && !witnesses.length) {
          const out = await this.findWrite(t, floor, deadline, unknown, lease);
          this.settled('found', start);
          return out;
        }
        await pause(Math.min(10 * 2 ** Math.min(attempt, 4), deadline - Date.now()));
      }
    }
  }

  /**
   * A non-witnessed write whose outcome is unknown: looks for the revision that applied it
   * (etcd-settle.ts `writtenAt`) until the deadline; found → its result, else STORE_UNREACHABLE.
   */
  private async findWrite(t: Txn, floor: number, deadline: number, unknown: unknown, lease: string | undefined): Promise<TxnResult> {
    const writes = writesOf(t);
    while (writes && floor > 0 && Date.now() < deadline) {
      try {
        const first = writes.puts[0]!;
        const now = await this.rangeAt(first.key, 0, deadline);
        if (now && now.modRevision > floor) {
          const candidates = now.value === first.value ? [now.modRevision] : await this.putRevisions(first.key, first.value, floor + 1, now.modRevision, deadline);
          for (const rev of candidates.reverse()) {
            const [putsAt, deletesAt, deletesBefore] = await Promise.all([
              Promise.all(writes.puts.map((p) => this.rangeAt(p.key, rev, deadline))),
              Promise.all(writes.deletes.map((key) => this.rangeAt(key, rev, deadline))),
              Promise.all(writes.deletes.map((key) => this.rangeAt(key, rev - 1, deadline))),
            ]);
            if (writtenAt(writes, rev, { putsAt, deletesAt, deletesBefore })) return await this.appliedResult(t, rev, unknown, lease, deadline);
          }
        }
      } catch {
        // a member lost again, history compacted: try again until the deadline
      }
      await pause(Math.min(25, deadline - Date.now()));
    }
    throw storeError(unknown, this, lease);
  }

  /** The result of `t` applied at `revision`: its reads rebuilt from history (etcd-settle.ts `readRevisions`). */
  private async appliedResult(t: Txn, revision: number, unknown: unknown, lease: string | undefined, deadline: number): Promise<TxnResult> {
    const at = readRevisions(t.success, revision);
    if (!at) throw storeError(unknown, this, lease);
    // Known applied: its reads get at least a short while even at the call's deadline.
    const until = Math.max(deadline, Date.now() + 250);
    try {
      const results = await Promise.all(
        t.success.map(async (op, i) => {
          const req = op.type === 'get' ? { key: this.k(op.key) } : op.type === 'range' ? this.rangeOf(op.prefix) : undefined;
          if (req) return (await this.read((o) => this.client.kv.range({ ...req, revision: at[i]! }, o), lease, until)).kvs.map((kv) => this.toKv(kv));
          return undefined;
        }),
      );
      return { succeeded: true, revision, results };
    } catch {
      throw storeError(unknown, this, lease);
    }
  }

  private settled(how: SettledHow, start: number): void {
    this.opts.onSettled?.(how, Date.now() - start);
  }

  /** One key at a revision (0: now). */
  private async rangeAt(key: string, revision: number, deadline: number): Promise<KeyValue | undefined> {
    const req: IRangeRequest = { key: this.k(key), ...(revision > 0 ? { revision } : {}) };
    const res = await this.client.kv.range(req, { deadline: this.attemptDeadline(deadline) });
    this.noteRevision(res.header);
    return res.kvs.length ? this.toKv(res.kvs[0]!) : undefined;
  }

  /** The revisions in [from, to] at which `key` was put with `value`, from etcd's history. */
  private async putRevisions(key: string, value: string, from: number, to: number, deadline: number): Promise<number[]> {
    const want = utf8(value);
    const found: number[] = [];
    await this.history(key, from, deadline, (ev) => {
      const rev = Number(ev.kv.mod_revision);
      if (rev > to) return true;
      if (ev.type !== 'Delete' && ev.kv.value.equals(want)) found.push(rev);
      return rev === to;
    });
    return found;
  }

  /** The revision of the first delete of `key` from `from` on, from etcd's history. */
  private async deleteRevision(key: string, from: number, deadline: number): Promise<number | undefined> {
    let found: number | undefined;
    await this.history(key, from, deadline, (ev) => {
      if (ev.type === 'Delete') found = Number(ev.kv.mod_revision);
      return found !== undefined;
    });
    return found;
  }

  /**
   * Replays the events of `key` from revision `from` (a watch) until `each` returns true, on
   * another member after a broken stream; the deadline or a compacted history: rejects.
   */
  private async history(key: string, from: number, deadline: number, each: (ev: IWatchResponse['events'][number]) => boolean): Promise<void> {
    for (;;) {
      try {
        return await this.historyOnce(key, from, deadline, each);
      } catch (err) {
        if (this.closed || Date.now() >= deadline || (err instanceof Error && err.message === 'history compacted')) throw err;
        await pause(Math.min(20, deadline - Date.now()));
      }
    }
  }

  private async historyOnce(key: string, from: number, deadline: number, each: (ev: IWatchResponse['events'][number]) => boolean): Promise<void> {
    const stream = await this.client.watchClient.watch();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('history not read before the deadline')), Math.max(0, deadline - Date.now()));
        const done = (err?: unknown) => (clearTimeout(timer), err ? reject(err) : resolve());
        stream.on('error', (err: unknown) => done(err));
        stream.on('end', () => done(new Error('watch stream ended')));
        stream.on('data', (res: IWatchResponse) => {
          if (res.canceled || Number(res.compact_revision) > 0) return done(new Error('history compacted'));
          for (const ev of res.events ?? []) if (each(ev)) return done();
        });
        stream.write({ create_request: { key: this.k(key), start_revision: from } });
      });
    } finally {
      stream.on('error', () => {});
      stream.cancel();
    }
  }

  k(key: string): Buffer {
    return utf8(this.prefix + key);
  }

  rangeOf(prefix: string): { key: Buffer; range_end: Buffer } {
    const key = utf8(this.prefix + prefix);
    return key.length ? { key, range_end: prefixRangeEnd(key) } : { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  }

  toKv(kv: IKeyValue): KeyValue {
    const out: KeyValue = {
      key: kv.key.subarray(this.prefixBytes.length).toString('utf8'),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    if (kv.lease && kv.lease !== '0') out.lease = leaseToHex(kv.lease);
    return out;
  }

  private leaseArg(lease: string | undefined): string | number {
    if (lease === undefined) return 0;
    const id = leaseFromHex(lease);
    if (id === undefined) throw leaseNotFound(lease);
    return id;
  }

  private compareOf(c: Compare): ICompare {
    const out: ICompare = { key: this.k(c.key), target: CMP_TARGET[c.target], result: CMP_RESULT[c.op] };
    if (c.target === 'value') out.value = utf8(c.value as string);
    else out[CMP_FIELD[c.target]] = c.value as number;
    return out;
  }

  private requestOp(op: Op): IRequestOp {
    switch (op.type) {
      case 'put':
        return { request_put: { key: this.k(op.key), value: utf8(op.value), lease: this.leaseArg(op.lease) } };
      case 'delete':
        return { request_delete_range: { key: this.k(op.key) } };
      case 'deletePrefix':
        return { request_delete_range: this.rangeOf(op.prefix) };
      case 'get':
        return { request_range: { key: this.k(op.key) } };
      case 'range':
        return { request_range: this.rangeOf(op.prefix) };
    }
  }

  private resultOf(op: Op, res: IResponseOp | undefined): KeyValue[] | undefined {
    if (op.type !== 'get' && op.type !== 'range') return undefined;
    return (res?.response_range?.kvs ?? []).map((kv) => this.toKv(kv));
  }

  reportBackground(err: SwitchyardError): void {
    if (this.opts.onBackgroundError) this.opts.onBackgroundError(err);
    else process.emitWarning(`store: ${err.code}: ${err.message}`);
  }

  private ensureOpen(): void {
    if (this.closed) throw unavailable(STORE_ERROR.closed, 'the store is closed');
  }
}

function readTls(tls: NonNullable<EtcdStoreOptions['tls']>): { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } {
  try {
    return {
      rootCertificate: readFileSync(tls.caFile),
      privateKey: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
      certChain: tls.certFile ? readFileSync(tls.certFile) : undefined,
    };
  } catch (err) {
    throw invalid(STORE_ERROR.tlsInvalid, `cannot read the etcd TLS files: ${errorMessage(err)}`, 'tls');
  }
}

// ---- watch ------------------------------------------------------------------------

type WatchStream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

/**
 * One contract watcher on its own etcd Watch stream. `next` is the first revision not yet
 * delivered; after a disconnect the stream is re-created from `next`, so the listener sees
 * every revision once, in order. If `next` was compacted meanwhile, the watcher ends with
 * STORE_REVISION_COMPACTED through `onError` and the caller resyncs from a full read.
 */
class EtcdWatcher implements Watcher {
  private stream: WatchStream | undefined;
  private closed = false;
  private retryMs = 50;
  private retryTimer: NodeJS.Timeout | undefined;
  private created: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly range: { key: Buffer; range_end: Buffer },
    private next: number,
    private readonly listener: WatchListener,
    private readonly onError: (err: SwitchyardError) => void,
    private readonly prevKv: boolean,
  ) {}

  /** Opens the first stream; resolves once etcd has created the watch. */
  open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(unreachable(`etcd did not create the watch within ${this.store.requestTimeoutMs} ms`)),
        this.store.requestTimeoutMs,
      );
      this.created = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      this.connect();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.dropStream();
    this.store.forget(this);
  }

  private connect(): void {
    if (this.closed) return;
    this.store.client.watchClient.watch().then(
      (stream) => {
        if (this.closed) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        stream.on('data', (res: IWatchResponse) => stream === this.stream && this.onResponse(res));
        stream.on('error', (err: unknown) => this.onBroken(stream, err));
        stream.on('end', () => this.onBroken(stream, new Error('watch stream ended')));
        stream.write({ create_request: { ...this.range, start_revision: this.next, prev_kv: this.prevKv } });
      },
      (err: unknown) => this.onBroken(undefined, err),
    );
  }

  private onResponse(res: IWatchResponse): void {
    if (this.closed) return;
    if (res.created && !res.canceled) {
      this.retryMs = 50;
      const c = this.created;
      this.created = undefined;
      c?.resolve();
    }
    if (res.canceled || Number(res.compact_revision) > 0) {
      const err =
        Number(res.compact_revision) > 0
          ? compacted(this.next, Number(res.compact_revision))
          : unavailable(STORE_ERROR.io, `etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`);
      this.fail(err);
      return;
    }
    if (!res.events?.length) return;
    // One listener call per revision; a response may carry several revisions, never part of one.
    let batch: WatchEvent[] = [];
    let rev = 0;
    const flush = () => {
      if (batch.length && rev >= this.next) {
        this.next = rev + 1;
        this.deliver(batch);
      }
      batch = [];
    };
    for (const ev of res.events) {
      const evRev = Number(ev.kv.mod_revision);
      if (evRev !== rev) flush();
      rev = evRev;
      batch.push(this.toEvent(ev));
    }
    flush();
  }

  private toEvent(ev: IWatchResponse['events'][number]): WatchEvent {
    const type = ev.type === 'Delete' ? 'delete' : 'put';
    const out: WatchEvent = { type, kv: this.store.toKv(ev.kv) };
    if (type === 'delete') out.kv = { key: out.kv.key, value: '', createRevision: 0, modRevision: out.kv.modRevision, version: 0 };
    if (ev.prev_kv) out.prevKv = this.store.toKv(ev.prev_kv);
    return out;
  }

  private deliver(events: WatchEvent[]): void {
    try {
      this.listener(events);
    } catch (err) {
      // A listener bug surfaces as an uncaught error; the stream keeps flowing (as WatchHub).
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** The stream broke (etcd gone, connection reset): re-create it from `next` after a backoff. */
  private onBroken(stream: WatchStream | undefined, err: unknown): void {
    if (this.closed || (stream && stream !== this.stream)) return;
    this.dropStream();
    if (this.created) {
      const c = this.created;
      this.created = undefined;
      c.reject(storeError(err, this.store));
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, WATCH_RETRY_MAX_MS);
  }

  private fail(err: SwitchyardError): void {
    if (this.created) {
      const c = this.created;
      this.created = undefined;
      c.reject(err);
      void this.close();
      return;
    }
    void this.close();
    this.onError(err);
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.on('error', () => {}); // the cancel itself reports CANCELLED
      s.cancel();
    }
  }
}

// ---- lease keep-alive ----------------------------------------------------------------

type KeepAliveDuplex = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

/**
 * One LeaseKeepAlive stream shared by every keepAlive() call: requests and responses pair up
 * in order (etcd answers each request on the stream in turn). A call that gets no answer
 * within the deadline, or a broken stream, fails every pending call with STORE_UNREACHABLE
 * and the next call opens a new stream.
 */
class KeepAliveStream {
  private stream: Promise<KeepAliveDuplex> | undefined;
  private pending: { resolve: (ttl: number) => void; reject: (err: unknown) => void; timer: NodeJS.Timeout }[] = [];

  constructor(private readonly store: EtcdStore) {}

  async renew(id: string): Promise<number> {
    const stream = await this.open();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => this.reset(unreachable(`etcd did not answer the lease keep-alive within ${this.store.requestTimeoutMs} ms`)),
        this.store.requestTimeoutMs,
      );
      this.pending.push({ resolve, reject, timer });
      stream.write({ ID: id });
    });
  }

  close(): void {
    this.reset(unavailable(STORE_ERROR.closed, 'the store is closed'));
  }

  private open(): Promise<KeepAliveDuplex> {
    if (!this.stream) {
      const p = this.store.client.leaseClient.leaseKeepAlive().then((s) => {
        s.on('data', (res: { TTL: string }) => {
          const waiter = this.pending.shift();
          if (!waiter) return;
          clearTimeout(waiter.timer);
          waiter.resolve(Number(res.TTL));
        });
        s.on('error', (err: unknown) => this.stream === p && this.reset(storeError(err, this.store)));
        s.on('end', () => this.stream === p && this.reset(unreachable('the lease keep-alive stream ended')));
        return s;
      });
      p.catch(() => {
        if (this.stream === p) this.stream = undefined;
      });
      this.stream = p;
    }
    return this.stream.catch((err) => {
      throw storeError(err, this.store);
    });
  }

  private reset(err: SwitchyardError): void {
    const old = this.stream;
    this.stream = undefined;
    for (const w of this.pending.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    old?.then(
      (s) => {
        s.on('error', () => {});
        s.cancel();
      },
      () => {},
    );
  }
}

// ---- errors ---------------------------------------------------------------------------

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const unreachable = (message: string, cause?: unknown) => unavailable(STORE_ERROR.unreachable, message, cause);

const compacted = (from: number, compactRevision: number) =>
  new SwitchyardError(
    'conflict',
    STORE_ERROR.revisionCompacted,
    `revision ${from} has been compacted${compactRevision ? `: history starts at ${compactRevision}` : ''}; re-read the state and watch from its revision + 1`,
    { field: 'fromRevision' },
  );

/** A call that failed before any byte reached the member: safe to send to another one. */
function neverSent(err: Error): boolean {
  return err instanceof GRPCUnavailableError && /No connection established|ECONNREFUSED|failed to connect/i.test(err.message);
}

/** etcd and gRPC failures → the store's codes (docs/STORE.md, "Errors"). */
function storeError(err: unknown, store: { isClosed(): boolean; requestTimeoutMs: number }, lease?: string): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  const msg = errorMessage(err);
  if (store.isClosed()) return unavailable(STORE_ERROR.closed, 'the store is closed');
  if (msg.includes('requested lease not found')) return leaseNotFound(lease ?? '(unknown)');
  if (msg.includes('required revision has been compacted')) return compacted(0, 0);
  if (msg.includes('required revision is a future revision')) {
    return invalid(STORE_ERROR.revisionInvalid, 'the revision is beyond the current one', 'revision');
  }
  if (msg.includes('duplicate key given in txn request')) return invalid(STORE_ERROR.txnDuplicateKey, msg, 'txn');
  if (msg.includes('too many operations in txn request')) return invalid(STORE_ERROR.txnInvalid, `${msg} (etcd's --max-txn-ops)`, 'txn');
  if (msg.includes('request is too large') || msg.includes('message larger than max')) {
    return invalid(STORE_ERROR.valueInvalid, `the request is larger than etcd accepts (its --max-request-bytes, default 1.5 MiB): ${msg}`, 'value');
  }
  if (err instanceof GRPCDeadlineExceededError) {
    return unreachable(`etcd did not answer within ${store.requestTimeoutMs} ms (a write may or may not have been applied): ${msg}`, err);
  }
  if (err instanceof GRPCUnavailableError || /no leader|leader changed|request timed out|ECONNREFUSED|No connection established/i.test(msg)) {
    return unreachable(`etcd is unreachable: ${msg}`, err);
  }
  return unavailable(STORE_ERROR.io, `etcd failed: ${msg}`, err);
}
