/** The streams a command talks to; main.ts passes the process's, tests can pass their own. */
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean };
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

/** One error line, docker style; messages never span lines so scripts can grep them. */
export function printError(io: CliIo, message: string): void {
  io.stderr.write(`Error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}
