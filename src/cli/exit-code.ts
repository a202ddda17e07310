/**
 * The one place that turns an error into the CLI's exit status. Documented in docs/CLI.md.
 *  - 2: the command line itself is wrong (unknown flag, missing argument, bad value);
 *  - 1: the daemon refused or failed the request, or could not be reached;
 *  - 125: `run` failed before the command started (docker run's convention), so that a
 *    script can tell Switchyard's failure from the command's own exit status.
 * A command that ran reports its own status (run, exec).
 */
import { asSwitchyardError, type ErrorKind } from '../errors.js';

const EXIT_BY_KIND: Record<ErrorKind, number> = {
  invalid: 1,
  'not-found': 1,
  conflict: 1,
  forbidden: 1,
  unavailable: 1,
  'not-implemented': 1,
  internal: 1,
};

/** Codes produced by the CLI's own argument checks (command-line.ts, flags.ts). */
const USAGE_CODES = new Set(['USAGE', 'UNKNOWN_FLAG', 'BAD_FLAG_VALUE', 'MISSING_FLAG_VALUE', 'BAD_FLAGS', 'BAD_HOST']);

export const RUN_FAILED_EXIT = 125;

export function exitCodeFor(err: unknown, context: { command?: string } = {}): number {
  const error = asSwitchyardError(err);
  if (USAGE_CODES.has(error.code)) return 2;
  if (context.command === 'run') return RUN_FAILED_EXIT;
  return EXIT_BY_KIND[error.kind];
}

/** A child's exit status in shell terms: its code, or 128 + the signal number. */
export function exitCodeOfChild(code: number | null, signal: NodeJS.Signals | null, signals: Record<string, number>): number {
  if (code !== null) return code;
  if (signal !== null) return 128 + (signals[signal] ?? 1);
  return 1;
}
