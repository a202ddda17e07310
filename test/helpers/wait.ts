/**
 * Polling for tests: wait for a condition instead of sleeping a fixed time. No kernel,
 * no root: unit tests and the store conformance suite use it as well as kernel tests.
 */

/** Polls fn until it returns a truthy value or the deadline passes. No fixed sleeps. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
