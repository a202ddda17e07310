/**
 * The engine's sandbox ports wired to the host: processes through kernel/sandbox-process.ts,
 * files through node:fs. The engine sees only the interfaces (engine/context.ts), so its
 * unit tests run them with fakes.
 */
import * as fs from 'node:fs';
import type { SandboxFilesPort, SandboxProcesses } from '../engine/context.js';
import {
  ProcessWatch, isSandboxProcessAlive, killSandboxSession, readExitCode, sandboxSessionsUnder, startSandboxProcess, stopSandboxProcess,
} from '../kernel/sandbox-process.js';

export const kernelSandboxProcesses: SandboxProcesses = {
  start: startSandboxProcess,
  stop: stopSandboxProcess,
  kill: killSandboxSession,
  isAlive: isSandboxProcessAlive,
  readExitCode,
  sessionsUnder: sandboxSessionsUnder,
  watcher: () => new ProcessWatch(),
};

export const hostSandboxFiles: SandboxFilesPort = {
  ensureDir(dir) {
    fs.mkdirSync(dir, { recursive: true });
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
  read(file) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
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
