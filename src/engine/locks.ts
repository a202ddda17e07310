/**
 * The engine's locks.
 *
 * Per-resource locks: an operation takes the locks of every resource it touches, always in
 * sorted order, so two operations can never wait on each other. A resource lock is exclusive,
 * or shared when the operation only needs the resource to stay as it is (a start and the
 * networks it joins).
 *
 * Every operation also holds the engine-wide lock in shared mode, for its whole run (taken
 * first, before any resource lock). Operations therefore stay concurrent with each other,
 * and an operation that must see no other one half-way (the firewall reload rebuilds the
 * tables from the committed records, and an operation between its kernel change and its
 * commit would be lost) takes it exclusively: it waits for the operations in flight to
 * finish, and operations that arrive meanwhile wait for it (a waiting exclusive holder goes
 * first, so a stream of operations cannot starve it).
 *
 * Locks are not re-entrant: an operation never calls another locked operation inside its
 * locks (it would wait for itself behind a waiting exclusive holder).
 */
type Mode = 'shared' | 'exclusive';

interface Waiter {
  mode: Mode;
  grant: () => void;
}

/** A reader/writer lock, granted in arrival order. */
class SharedLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter[] = [];

  acquire(mode: Mode): Promise<void> {
    if (!this.queue.length && this.compatible(mode)) {
      this.take(mode);
      return Promise.resolve();
    }
    return new Promise((grant) => this.queue.push({ mode, grant }));
  }

  release(mode: Mode): void {
    if (mode === 'exclusive') this.writer = false;
    else this.readers--;
    while (this.queue.length && this.compatible(this.queue[0]!.mode)) {
      const next = this.queue.shift()!;
      this.take(next.mode);
      next.grant();
    }
  }

  /** Nobody holds it and nobody waits. */
  get idle(): boolean {
    return !this.writer && this.readers === 0 && !this.queue.length;
  }

  private compatible(mode: Mode): boolean {
    return mode === 'shared' ? !this.writer : !this.writer && this.readers === 0;
  }

  private take(mode: Mode): void {
    if (mode === 'exclusive') this.writer = true;
    else this.readers++;
  }
}

export class KeyedMutex {
  private readonly keys = new Map<string, SharedLock>();
  private readonly engine = new SharedLock();

  /**
   * Runs `fn` holding the engine-wide lock (shared) and the locks of `keys`: exclusive, or
   * shared for those also in `opts.shared` (a start holds its networks' locks shared, so
   * starts on one network run together and a network removal, exclusive, waits for them).
   */
  async withLocks<T>(keys: string[], fn: () => Promise<T>, opts: { shared?: string[] } = {}): Promise<T> {
    const shared = new Set(opts.shared ?? []);
    const sorted = [...new Set([...keys, ...shared])].sort();
    const held: [string, Mode][] = [];
    await this.engine.acquire('shared');
    try {
      for (const key of sorted) {
        const mode: Mode = shared.has(key) && !keys.includes(key) ? 'shared' : 'exclusive';
        await this.lockOf(key).acquire(mode);
        held.push([key, mode]);
      }
      return await fn();
    } finally {
      for (const [key, mode] of held.reverse()) this.release(key, mode);
      this.engine.release('shared');
    }
  }

  /** Runs `fn` while no other locked operation runs (the engine-wide lock, exclusive). */
  async exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.engine.acquire('exclusive');
    try {
      return await fn();
    } finally {
      this.engine.release('exclusive');
    }
  }

  private lockOf(key: string): SharedLock {
    let lock = this.keys.get(key);
    if (!lock) this.keys.set(key, (lock = new SharedLock()));
    return lock;
  }

  private release(key: string, mode: Mode): void {
    const lock = this.keys.get(key)!;
    lock.release(mode);
    if (lock.idle) this.keys.delete(key);
  }
}
