import type { EngineContext } from './context.js';
import type { SandboxRecord } from './types.js';
import { resolveRef } from '../model/names.js';

/** Finds a sandbox by full ID, name or unique ID prefix (Docker's order). */
export function findSandbox(ctx: EngineContext, ref: string): SandboxRecord {
  const direct = ctx.state.sandboxes.get(ref);
  if (direct) return direct;
  return resolveRef(ref, [...ctx.state.sandboxes.values()], 'container');
}
