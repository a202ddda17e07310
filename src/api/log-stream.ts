/**
 * Streams a sandbox's log file: what is there now, then (with follow) what gets appended,
 * until the sandbox stops or the client goes away. The file is written by the sandbox's
 * own stdout/stderr, so there is no event to subscribe to: fs.watch tells us early when
 * it can, and a short poll covers the cases it cannot (file not created yet, watch limits).
 */
import { watch, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface LogStreamOptions {
  path: string;
  out: Writable;
  follow: boolean;
  /** Resolves when the sandbox is not running; follow ends after a last read. */
  stopped: Promise<unknown>;
  signal: AbortSignal;
  /** Poll interval in ms when nothing else wakes us (default 200). */
  pollMs?: number;
}

const CHUNK = 64 * 1024;

export async function streamLogFile(options: LogStreamOptions): Promise<void> {
  const { path, out, follow, signal } = options;
  let position = 0;
  let isStopped = false;
  options.stopped.then(
    () => (isStopped = true),
    () => (isStopped = true),
  );

  const waker = new Waker(path, options.pollMs ?? 200, signal);
  options.stopped.then(waker.wake, waker.wake);
  try {
    for (;;) {
      const stoppedBeforeRead = isStopped;
      position = await copyFrom(path, position, out, signal);
      if (!follow || signal.aborted || stoppedBeforeRead) return;
      await waker.next();
      if (signal.aborted) return;
    }
  } finally {
    waker.close();
  }
}

/** Copies the file from `position` to its current end; returns the new position. */
async function copyFrom(path: string, position: number, out: Writable, signal: AbortSignal): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return position; // not written yet
    throw err;
  }
  try {
    // The log was rotated (truncated in place, docs/SECURITY.md "Disk"): start again at its beginning.
    if ((await handle.stat()).size < position) position = 0;
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      if (signal.aborted) return position;
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
      if (bytesRead === 0) return position;
      position += bytesRead;
      await write(out, Buffer.from(buffer.subarray(0, bytesRead)), signal);
    }
  } finally {
    await handle.close();
  }
}

/** Writes with back-pressure: waits for 'drain' when the client reads slower than we read. */
function write(out: Writable, chunk: Buffer, signal: AbortSignal): Promise<void> {
  if (out.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    signal.addEventListener('abort', done);
  });
}

/** Wakes the follow loop on a file change, the poll timer, the sandbox stopping or an abort. */
class Waker {
  private pending: (() => void) | undefined;
  private watcher: FSWatcher | undefined;
  private changed = false;

  constructor(
    private readonly path: string,
    private readonly pollMs: number,
    signal: AbortSignal,
  ) {
    signal.addEventListener('abort', this.wake);
  }

  readonly wake = (): void => {
    this.changed = true;
    const resolve = this.pending;
    this.pending = undefined;
    resolve?.();
  };

  next(): Promise<void> {
    this.ensureWatching();
    if (this.changed) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(this.wake, this.pollMs);
      this.pending = () => {
        clearTimeout(timer);
        this.changed = false;
        resolve();
      };
    });
  }

  private ensureWatching(): void {
    if (this.watcher !== undefined) return;
    try {
      this.watcher = watch(this.path, { persistent: false }, this.wake);
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      // Not there yet, or out of inotify watches: the poll timer still wakes us.
    }
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  close(): void {
    this.closeWatcher();
    this.wake();
  }
}
