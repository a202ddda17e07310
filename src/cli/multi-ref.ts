/** Commands that take several names (inspect, rm, stop, start): go on after a failure, as docker does. */
import { asSwitchyardError } from '../errors.js';
import { printError, type CliIo } from './cli-io.js';
import { exitCodeFor } from './exit-code.js';
import { formatInspect } from './output-format.js';

/**
 * Inspects every ref, prints what was found (docker prints the array even when some are
 * missing), reports each failure on stderr, and fails if any did.
 */
export async function inspectEach(
  refs: readonly string[],
  fetch: (ref: string) => Promise<unknown>,
  format: string | undefined,
  io: CliIo,
): Promise<number> {
  const found: unknown[] = [];
  const failures: unknown[] = [];
  for (const ref of refs) {
    try {
      found.push(await fetch(ref));
    } catch (err) {
      failures.push(err);
    }
  }
  if (found.length > 0 || failures.length === 0) io.stdout.write(formatInspect(found, format));
  for (const err of failures) printError(io, asSwitchyardError(err).message);
  return failures.length === 0 ? 0 : exitCodeFor(failures[0]);
}

/** Runs `action` for each ref, going on after failures (docker's rm/stop/start); 1 if any failed. */
export async function forEachRef(refs: readonly string[], io: CliIo, action: (ref: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const ref of refs) {
    try {
      await action(ref);
    } catch (err) {
      printError(io, asSwitchyardError(err).message);
      status = exitCodeFor(err);
    }
  }
  return status;
}
