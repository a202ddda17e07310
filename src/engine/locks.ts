/**
 * The engine's locks.
 *
 * Per-resource locks: an operation takes the locks of every resource it touches, always in
 * sorted order, so two operations can never wait on each other.
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

  private compatible(mode: Mode): boolean {
    return mode === 'shared' ? !this.writer : !this.writer && this.readers === 0;
  }

  private take(mode: Mode): void {
    if (mode === 'exclusive') this.writer = true;
    else this.readers++;
  }
}

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly engine = new SharedLock();

  /** Runs `fn` holding the engine-wide lock (shared) and the locks of `keys` (exclusive). */
  async withLocks<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: (() => void)[] = [];
    await this.engine.acquire('shared');
    try {
      for (const key of sorted) releases.push(await this.acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
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

  private async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
