import type { EngineContext } from './context.js';
import type { SandboxRecord } from './types.js';
import { resolveRef } from '../model/names.js';

/**
 * Finds a sandbox Switchyard made by full ID, name or unique ID prefix (Docker's order).
 * External sandboxes (namespaces a caller owns) are reached only through the attachment
 * operations, never by the sandbox operations.
 */
export function findSandbox(ctx: EngineContext, ref: string): SandboxRecord {
  const direct = ctx.state.sandboxes.get(ref);
  if (direct && direct.owner !== 'external') return direct;
  return resolveRef(ref, [...ctx.state.sandboxes.values()].filter((s) => s.owner !== 'external'), 'container');
}
