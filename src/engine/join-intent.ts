/**
 * A join ahead of its commit (docs/CLUSTER.md "An attach's txn and join overlap"). An attach to
 * a global network whose driver can hold a port (NetworkDriver.release) sends its etcd txn
 * and makes the port while the txn is in flight, held (no traffic) until the txn succeeds.
 * For that window a port exists that no record explains, so the engine first writes this
 * intent to the local store: the endpoint as planned. It is dropped once the txn and the join
 * have both succeeded, or once a failure has removed the port. One found at start (the
 * daemon died in between) is settled by reconcile.ts: the endpoint loaded (its txn applied)
 * keeps its port, which is brought up as any other; otherwise the port is removed. Pure
 * decisions only.
 */
import type { EndpointRecord } from '../model/records.js';
import { decodeEndpointRecord } from '../model/record-codec.js';

export const JOIN_INTENT_PREFIX = '/joining/';
export const joinIntentKey = (endpointId: string) => `${JOIN_INTENT_PREFIX}${endpointId}`;

export interface JoinIntent {
  v: 1;
  /** The endpoint as planned (its network, sandbox, interface name, addresses, MAC). */
  endpoint: EndpointRecord;
}

export const encodeJoinIntent = (endpoint: EndpointRecord): string => JSON.stringify({ v: 1, endpoint } satisfies JoinIntent);

/** The intent stored at `key`, or undefined when it does not decode or does not match its key. */
export function decodeJoinIntent(key: string, text: string): JoinIntent | undefined {
  try {
    const r = JSON.parse(text) as { v?: unknown; endpoint?: unknown };
    if (r.v !== 1) return undefined;
    const endpoint = decodeEndpointRecord(r.endpoint);
    return joinIntentKey(endpoint.id) === key ? { v: 1, endpoint } : undefined;
  } catch {
    return undefined;
  }
}

export type JoinIntentVerdict =
  /** The txn applied: the endpoint is this host's; its port stays (reconcile brings it up). */
  | { kind: 'committed' }
  /** The shared state is not known yet (etcd unreachable at start): kept, settled at a later start. */
  | { kind: 'unknown' }
  /** Never committed: its port is removed from the sandbox, when the sandbox and network are here. */
  | { kind: 'remove-port' }
  /** Never committed, and nothing left to remove it from (sandbox or network gone): dropped. */
  | { kind: 'drop' };

/** What a join intent found at start means, from what the load found. */
export function judgeJoinIntent(known: { sharedLoaded: boolean; endpointLoaded: boolean; sandboxRunning: boolean; networkKnown: boolean }): JoinIntentVerdict {
  if (known.endpointLoaded) return { kind: 'committed' };
  if (!known.sharedLoaded) return { kind: 'unknown' };
  return known.sandboxRunning && known.networkKnown ? { kind: 'remove-port' } : { kind: 'drop' };
}
