/**
 * The engine's sandbox ports wired to the host: processes through kernel/sandbox-process.ts,
 * files through node:fs. The engine sees only the interfaces (engine/context.ts), so its
 * unit tests run them with fakes.
 */
import * as fs from 'node:fs';
import type { SandboxFilesPort, SandboxProcesses } from '../engine/context.js';
import {
  ProcessWatch, capLogFile, isSandboxProcessAlive, killSandboxSession, readExitCode, sandboxSessionsUnder, sessionOf, startSandboxProcess,
  stopSandboxProcess,
} from '../kernel/sandbox-process.js';

/** Longest copy of a target sandbox's file (container: mode) read; past it the copy is cut. */
export const MAX_COPIED_FILE = 1 << 20;

export const kernelSandboxProcesses: SandboxProcesses = {
  start: startSandboxProcess,
  stop: stopSandboxProcess,
  kill: killSandboxSession,
  isAlive: isSandboxProcessAlive,
  readExitCode,
  sessionsUnder: sandboxSessionsUnder,
  sessionOf,
  capLog: capLogFile,
  watcher: () => new ProcessWatch(),
};

export const hostSandboxFiles: SandboxFilesPort = {
  ensureDir(dir) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 }); // root only (docs/SECURITY.md)
  },
  /**
   * Writing then trimming with ftruncate costs ~10 µs; opening with O_TRUNC costs ~250 µs
   * on ext4, which frees and reallocates the block every time.
   */
  writeInPlace(file, text) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r+');
    } catch {
      fd = fs.openSync(file, 'w', 0o644);
    }
    try {
      const buf = Buffer.from(text);
      fs.writeSync(fd, buf, 0, buf.length, 0);
      fs.ftruncateSync(fd, buf.length);
    } finally {
      fs.closeSync(fd);
    }
  },
  /** At most the first MAX_COPIED_FILE bytes (docs/SECURITY.md: a sandbox's file is never read unbounded). */
  read(file) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.alloc(Math.min(fs.fstatSync(fd).size, MAX_COPIED_FILE));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } catch {
      return undefined;
    } finally {
      fs.closeSync(fd);
    }
  },
  removeDir(dir) {
    fs.rmSync(dir, { recursive: true, force: true });
  },
  list(dir) {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  },
};
