/**
 * In-process fan-out of committed changes to prefix watchers, for the embedded backend
 * (one process owns the database, so every change passes through here).
 *
 * Each watcher has its own FIFO queue drained in a microtask: a write never runs listener
 * code inside its transaction, a slow or throwing listener cannot reorder another
 * watcher's events, and events always arrive in revision order, one revision per call.
 */
import type { WatchEvent, WatchListener, Watcher } from './contract.js';

/** The events one revision produced. */
export interface RevisionEvents {
  revision: number;
  events: WatchEvent[];
}

class HubWatcher implements Watcher {
  private readonly queue: WatchEvent[][] = [];
  private scheduled = false;
  closed = false;

  constructor(
    private readonly hub: WatchHub,
    private readonly prefix: string,
    /** Events before this revision were replayed from history (or predate the watch). */
    private readonly fromRevision: number,
    private readonly listener: WatchListener,
  ) {}

  offer(batch: RevisionEvents): void {
    if (this.closed || batch.revision < this.fromRevision) return;
    const matching = batch.events.filter((e) => e.kv.key.startsWith(this.prefix));
    if (!matching.length) return;
    this.queue.push(matching);
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.hub.remove(this);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    while (!this.closed && this.queue.length) {
      const events = this.queue.shift()!;
      try {
        this.listener(events);
      } catch (err) {
        // A listener bug surfaces as an uncaught error, but the remaining events still flow.
        if (this.queue.length) this.schedule();
        throw err;
      }
    }
  }
}

export class WatchHub {
  private readonly watchers = new Set<HubWatcher>();

  /**
   * Registers a watcher and queues `backlog` (history from its start revision) ahead of
   * any live change. Call it synchronously with reading the backlog, so that no commit
   * can fall between the two.
   */
  add(opts: { prefix: string; fromRevision: number; backlog: RevisionEvents[] }, listener: WatchListener): Watcher {
    const w = new HubWatcher(this, opts.prefix, opts.fromRevision, listener);
    for (const batch of opts.backlog) w.offer(batch);
    this.watchers.add(w);
    return w;
  }

  publish(batch: RevisionEvents): void {
    for (const w of this.watchers) w.offer(batch);
  }

  remove(w: HubWatcher): void {
    this.watchers.delete(w);
  }

  closeAll(): void {
    for (const w of [...this.watchers]) void w.close();
  }

  get size(): number {
    return this.watchers.size;
  }
}
