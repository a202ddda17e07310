/**
 * Works around a keep-alive race in SwitchyardClient (reported to the lead): the daemon closes
 * an idle connection after 5 s (server.ts keepAliveTimeout) and a request written on that socket
 * at the same moment fails with EPIPE/ECONNRESET. The benchmark retries such a call once and
 * counts the retries (they are in the JSON as clientRetries).
 */
import type { SwitchyardClient } from '../src/api/client.js';

export const retryCount = { n: 0 };

function isStaleSocket(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === 'DAEMON_CONNECTION_FAILED' && ['EPIPE', 'ECONNRESET'].includes(e.cause?.code ?? '');
}

export function retryOnStaleSocket(client: SwitchyardClient): SwitchyardClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        try {
          return await v.apply(target, args);
        } catch (err) {
          if (!isStaleSocket(err)) throw err;
          retryCount.n++;
          return v.apply(target, args);
        }
      };
    },
  });
}
