/**
 * Read-your-writes across hosts (docs/CLUSTER.md "Following the cluster"). A global network created
 * on host A reaches host B's memory through B's watch, a few milliseconds later. A call on
 * B that names it in that window would be told "not found". So when a network reference
 * does not resolve here in cluster mode, the engine reads the shared store's network
 * records once; if a record is newer than what memory reflects, it waits (bounded) for the
 * watch to apply that revision, then resolves again as usual. A reference that names no
 * network anywhere costs one read and fails as before.
 */
import type { EngineContext } from './context.js';
import { SHARED_KEY } from './shared-keys.js';
import { findNetwork } from './network-ops.js';
import { SwitchyardError } from '../errors.js';

/** How long a call waits for its host's watch to catch up with a newer network record. */
export const CATCH_UP_TIMEOUT_MS = 2_000;

function resolves(ctx: EngineContext, ref: string): boolean {
  try {
    findNetwork(ctx, ref);
    return true;
  } catch (err) {
    // Only "not found" can change by catching up (an ambiguous name is answered as it is).
    if (err instanceof SwitchyardError && err.code === 'NETWORK_NOT_FOUND') return false;
    return true;
  }
}

/** Makes sure memory reflects every network record the shared store holds, when `refs` name one memory lacks. */
export async function catchUpNetworks(ctx: EngineContext, refs: readonly string[], timeoutMs = CATCH_UP_TIMEOUT_MS): Promise<void> {
  const shared = ctx.state.shared;
  if (!shared || ctx.state.sharedRevision === 0) return;
  if (refs.every((r) => r === '' || resolves(ctx, r))) return;
  let newest = 0;
  try {
    for (const kv of await shared.store.range(SHARED_KEY.networks)) newest = Math.max(newest, kv.modRevision);
  } catch {
    // etcd unreachable: the lookup answers from memory, as every local operation does then.
    return;
  }
  if (newest > ctx.state.sharedRevision) await ctx.state.waitForSharedRevision(newest, timeoutMs);
}
