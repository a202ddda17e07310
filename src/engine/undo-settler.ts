/**
 * Settles the intents a failed call left (engine/pending-undo.ts): in the background, at
 * once and again with backoff while etcd does not answer, at start and after each full
 * re-read (cluster-sync.ts), and whenever the watch shows a put of one of an intent's keys
 * (a write that lands late). A failed detach's intent (`restore`) puts back what its txn
 * deleted instead, when the delete applied and the endpoint is still this host's.
 * An intent goes when what it names is undone, when the network
 * it created was used by another call meanwhile (`adopted`, kept), or when nothing of it is
 * in the store:
 * - a fenced intent (its txn compared this node's fence): the settler first moves the fence
 *   (EngineState.bumpFence), after which that txn can never apply, so the first read after
 *   it is final and an intent found absent goes at once;
 * - an unfenced one (an older version's): at a look taken `lateMs` after the call and
 *   `confirmMs` after an earlier look that found nothing either (a write still in a leader's
 *   log when etcd answers again commits with the next entries; the second look comes after
 *   those).
 */
import type { EngineContext } from './context.js';
import type { Store } from '../store/contract.js';
import { asSwitchyardError } from '../errors.js';
import { scheduleBlockRelease } from './routed-blocks.js';
import { decodePendingUndo, planRestore, planUndo, restoredEndpointId, touches, undoReads, type PendingUndo } from './pending-undo.js';

/** The addresses an attach intent claimed (`/ipam/<network>/<address>` keys). */
const ipsOf = (p: PendingUndo): string[] => p.keys.filter((k) => k.key.startsWith(`/ipam/${p.networkId}/`)).map((k) => k.key.slice(`/ipam/${p.networkId}/`.length));

export type UndoOutcome = 'undone' | 'adopted' | 'absent';

export interface UndoSettlerOptions {
  /** How long after the call its write may still land (default 5 min: a member stopped, not killed, may hold it that long). */
  lateMs?: number;
  /** How long after a first look that found nothing a second one must find nothing too (default 5 s). */
  confirmMs?: number;
  /** First retry while etcd does not answer (doubling to 5 s; default 100 ms). */
  retryMs?: number;
  /** Told of every intent settled (tests, logs). */
  onSettled?: (p: PendingUndo, how: UndoOutcome) => void;
  /** Told of every look at an intent and what it found (tests). */
  onLook?: (p: PendingUndo, found: 'absent' | 'adopted' | 'undo') => void;
}

export interface UndoSettler {
  /** Looks at every intent now (start, after a full re-read, a new intent). */
  kick(): void;
  /** The keys of a watched revision: an intent they touch is looked at again at once. */
  noteKeys(keys: ReadonlySet<string>): void;
  /** Intents waiting (ids). */
  pending(): string[];
  hasPending(): boolean;
  close(): Promise<void>;
}

export function startUndoSettler(ctx: EngineContext, opts: UndoSettlerOptions = {}): UndoSettler {
  const shared = ctx.state.shared;
  if (!shared) throw new Error('startUndoSettler needs an EngineState with a shared store');
  const store: Store = shared.store;
  const lateMs = opts.lateMs ?? 300_000;
  const confirmMs = opts.confirmMs ?? 5_000;
  /** Intent id → when a look first found nothing of it. */
  const firstAbsent = new Map<string, number>();
  const dropAt = (p: PendingUndo): number => Math.max(p.at + lateMs, (firstAbsent.get(p.id) ?? Infinity) + confirmMs);
  const firstRetry = opts.retryMs ?? 100;
  let known: PendingUndo[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let retry = firstRetry;

  const later = (ms: number): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, Math.max(0, ms));
    timer.unref();
  };

  /** One intent: true when it is settled (gone), false when it waits for its late window (an unfenced intent). */
  const settle = async (p: PendingUndo): Promise<boolean> => {
    // A fenced intent: once this node's fence has moved past the one its txn compared, that
    // txn can never apply, so what the read below finds is final.
    const fenced = p.fence !== undefined;
    if (fenced && ctx.state.fenceRevision === p.fence) await ctx.state.bumpFence();
    if (p.kind === 'restore') return restore(p, fenced);
    for (let attempt = 0; attempt < 5; attempt++) {
      const read = await store.txn(undoReads(p));
      const held = p.keys.map((_, i) => read.results[i]?.[0]);
      const plan = planUndo(p, held, p.kind === 'network' ? read.results[p.keys.length] ?? [] : []);
      opts.onLook?.(p, plan.kind);
      if (plan.kind === 'absent') {
        if (fenced) return done(p, 'absent');
        if (!firstAbsent.has(p.id)) firstAbsent.set(p.id, Date.now());
        if (Date.now() < dropAt(p)) return false;
        return done(p, 'absent');
      }
      if (plan.kind === 'adopted') {
        ctx.log(`cluster: the network ${p.networkId.slice(0, 12)} a failed create had written is kept (${plan.why})`);
        return done(p, 'adopted');
      }
      const res = await ctx.locks.withLocks([`net:${p.networkId}`], async () => {
        const r = await store.txn(plan.txn);
        if (r.succeeded && p.kind === 'endpoint') {
          ctx.state.forgetUndoneEndpoint(p.id, p.networkId, ipsOf(p));
          scheduleBlockRelease(ctx, [p.networkId]); // routed: a block the write claimed, now empty
        }
        return r;
      });
      if (res.succeeded) {
        ctx.log(`cluster: undid the shared write of a failed ${p.kind === 'endpoint' ? `connect (endpoint ${p.id.slice(0, 12)})` : `network create (${p.id.slice(0, 12)})`}`);
        return done(p, 'undone');
      }
      // Changed between the read and the txn: read again.
    }
    return false;
  };

  /**
   * A failed detach (pending-undo.ts `restore`): its endpoint is still this host's, so what the
   * txn deleted, if it applied, is put back. Under the network's lock, as a connect or
   * disconnect: the endpoint cannot leave this host between the look and the txn.
   */
  const restore = async (p: PendingUndo, fenced: boolean): Promise<boolean> => {
    const epId = restoredEndpointId(p);
    const read = await store.txn(undoReads(p));
    const held = p.keys.map((_, i) => read.results[i]?.[0]);
    return ctx.locks.withLocks([`net:${p.networkId}`], async () => {
      const plan = planRestore(p, held, ctx.state.endpoints.has(epId), Date.now());
      opts.onLook?.(p, plan.kind);
      if (plan.kind !== 'undo') {
        if (fenced || held[0] === undefined) return done(p, 'absent');
        // Unfenced, not applied yet: it may still land within the late window.
        if (!firstAbsent.has(p.id)) firstAbsent.set(p.id, Date.now());
        return Date.now() < dropAt(p) ? false : done(p, 'absent');
      }
      const res = await store.txn(plan.txn);
      if (res.succeeded) {
        ctx.log(`cluster: put back the shared records of a failed disconnect (endpoint ${epId.slice(0, 12)})`);
        return done(p, 'undone');
      }
      const taken = p.keys.filter((_, i) => res.results[i]?.[0] !== undefined).map((k) => k.key);
      const why = res.results[p.keys.length]?.[0] === undefined ? 'its network was removed' : `held by another call now: ${taken.join(', ')}`;
      ctx.log(`cluster: cannot put back the shared records of a failed disconnect (endpoint ${epId.slice(0, 12)}): ${why}; disconnect it again`);
      return done(p, 'adopted');
    });
  };

  const done = async (p: PendingUndo, how: UndoOutcome): Promise<boolean> => {
    await ctx.state.dropPendingUndo(p.id);
    firstAbsent.delete(p.id);
    opts.onSettled?.(p, how);
    return true;
  };

  const runOnce = async (): Promise<void> => {
    const all = (await ctx.state.pendingUndos()).flatMap((kv) => {
      const p = decodePendingUndo(kv.value);
      if (!p) ctx.log(`cluster: pending undo ${kv.key} is not one this version reads: left for an operator`);
      return p ? [p] : [];
    });
    known = all;
    let failed = false;
    let wake = Infinity;
    for (const p of all) {
      if (closed) return;
      try {
        if (await settle(p)) known = known.filter((x) => x.id !== p.id);
        else wake = Math.min(wake, dropAt(p));
      } catch (err) {
        failed = true;
        ctx.log(`cluster: cannot settle a failed call's write yet (${asSwitchyardError(err).code}): retrying`);
      }
    }
    if (failed) {
      later(retry);
      retry = Math.min(retry * 2, 5000);
    } else {
      retry = firstRetry;
      if (wake !== Infinity) later(wake - Date.now() + 10);
    }
  };

  function kick(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await runOnce();
        } catch (err) {
          ctx.log(`cluster: pending undo: ${String(err)}`);
          later(retry);
        }
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
  }

  return {
    kick,
    noteKeys(keys) {
      if (known.length && known.some((p) => touches(p, keys))) kick();
    },
    pending: () => known.map((p) => p.id),
    hasPending: () => known.length > 0,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
