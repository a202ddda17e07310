/**
 * Following the cluster (docs/CLUSTER.md): after the full read of the shared store
 * (EngineState.loadShared), one watch on its whole prefix from that revision + 1. Each
 * revision's events update memory (global networks appear and disappear, remote endpoints
 * come and go) and are handed to the drivers of the networks this host takes part in
 * (cluster-peers.ts). A watch that ends (STORE_REVISION_COMPACTED: history it needed is
 * gone) or cannot be opened (etcd unreachable) is replaced by a full re-read, syncPeers for
 * every network this host takes part in, and a new watch; retried every `retryMs`.
 * Writes of calls that failed with an unknown outcome are undone alongside
 * (undo-settler.ts): at start, after each full re-read, and when the watch shows one land.
 */
import type { EngineContext } from './context.js';
import type { Store, Watcher } from '../store/contract.js';
import { applyPeerChanges, applySecretChanges, resyncPeers } from './cluster-peers.js';
import { driverOf } from './context.js';
import { scheduleBlockRelease, syncAllRoutedBlocks } from './routed-blocks.js';
import { startUndoSettler, type UndoSettler, type UndoSettlerOptions } from './undo-settler.js';

export interface ClusterSync {
  /** Re-reads everything and resyncs the drivers now (tests; the watch's own recovery does the same). */
  resync(): Promise<void>;
  /** The settler of failed calls' writes (undefined with `undo: false`). */
  readonly undo: UndoSettler | undefined;
  close(): Promise<void>;
}

export interface ClusterSyncOptions {
  retryMs?: number;
  /** Undo what failed calls had in fact written (default on); false: leave it (the tests' control). */
  undo?: false | UndoSettlerOptions;
}

export async function startClusterSync(ctx: EngineContext, opts: ClusterSyncOptions = {}): Promise<ClusterSync> {
  const shared = ctx.state.shared;
  if (!shared) throw new Error('startClusterSync needs an EngineState with a shared store');
  const store: Store = shared.store;
  const retryMs = opts.retryMs ?? 500;
  // Routed networks: this host's blocks left empty by a commit are released.
  ctx.state.onReleased = (ids) => scheduleBlockRelease(ctx, ids);
  let watcher: Watcher | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  const undo = opts.undo === false ? undefined : startUndoSettler(ctx, opts.undo ?? {});
  ctx.state.recordUndos = !!undo;
  if (undo) ctx.state.onPendingUndo = () => undo.kick();
  /** Events and resyncs run one at a time, in order. */
  const serial = (fn: () => Promise<void> | void): Promise<void> => (chain = chain.then(fn).catch((err) => ctx.log(`cluster sync: ${String(err)}`)));

  const open = async (): Promise<void> => {
    const w = await store.watch(
      '/',
      {
        fromRevision: ctx.state.sharedRevision + 1,
        // Nothing here reads an event's previous state: etcd need not look it up for us.
        prevKv: false,
        onError: (err) => {
          ctx.log(`cluster: the watch ended (${err.code}): reading the shared state again`);
          watcher = undefined;
          schedule(0);
        },
      },
      (events) => {
        if (undo?.hasPending()) undo.noteKeys(new Set(events.filter((e) => e.type === 'put').map((e) => e.kv.key)));
        void serial(() => {
          const delta = ctx.state.applySharedEvents(events, (key, err) => ctx.log(`cluster: shared record ${key} refused (${err.code}): ${err.message}`));
          applyPeerChanges(ctx, delta.peersJoined, delta.peersLeft);
          if (delta.secretsChanged) applySecretChanges(ctx, delta.secretsChanged);
          if (delta.forgetNodes) ctx.state.forgetNodes(delta.forgetNodes);
          // Routed networks: other hosts' blocks (claimed, released, their node gone) become routes.
          if (delta.nodesChanged) syncAllRoutedBlocks(ctx);
          else if (delta.blocksChanged) syncAllRoutedBlocks(ctx, [...delta.blocksChanged].filter((id) => ctx.state.participating.has(id)));
          for (const net of delta.networksRemoved) {
            if (!ctx.state.participating.delete(net.id)) continue;
            void driverOf(ctx, net).deleteNetwork(net).catch((err) => ctx.log(`cluster: delete ${net.name}: ${String(err)}`));
          }
        });
      },
    );
    if (closed) await w.close();
    else watcher = w;
  };

  const recover = async (): Promise<void> => {
    if (closed) return;
    try {
      await serial(async () => {
        const refused = await ctx.state.loadShared();
        for (const r of refused) ctx.log(`cluster: shared record ${r.key} refused (${r.error.code}): ${r.error.message}`);
        resyncPeers(ctx);
      });
      undo?.kick();
      await open();
    } catch (err) {
      ctx.log(`cluster: resync failed (${String(err)}): retrying`);
      schedule(retryMs);
    }
  };

  function schedule(ms: number): void {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void recover();
    }, ms);
    timer.unref();
  }

  undo?.kick();
  if (ctx.state.sharedRevision === 0) {
    // Never read (etcd was unreachable at load): a full read first, then the watch.
    schedule(0);
  } else try {
    await open();
  } catch (err) {
    ctx.log(`cluster: cannot watch the shared store yet (${String(err)}): retrying`);
    schedule(retryMs);
  }

  return {
    undo,
    async resync() {
      await watcher?.close();
      watcher = undefined;
      await recover();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (undo && ctx.state.onPendingUndo) ctx.state.onPendingUndo = undefined;
      await undo?.close();
      await watcher?.close();
      await chain;
    },
  };
}
