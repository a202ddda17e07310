/**
 * What a route handler sees and returns. Handlers are plain async functions from a
 * RequestContext to a Reply; the server (server.ts) owns the HTTP plumbing around them:
 * version checks, headers, body limits, error bodies, logging.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalid } from '../errors.js';
import type { PathParams } from './router.js';

export interface RequestContext {
  method: string;
  /** The path without its /vX.Y prefix. */
  path: string;
  params: PathParams;
  query: URLSearchParams;
  /** The API version of the request (the maximum when the path has none). */
  apiVersion: string;
  /** The parsed JSON body (undefined when empty); throws `invalid` naming the problem. */
  body(): Promise<unknown>;
  /** Aborted when the client goes away (used by streaming routes). */
  signal: AbortSignal;
  req: IncomingMessage;
  res: ServerResponse;
}

export type Reply =
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'text'; status: number; body: string }
  | { kind: 'empty'; status: number }
  /** The handler wrote the response itself (streams). */
  | { kind: 'streamed' };

export const json = (status: number, body: unknown): Reply => ({ kind: 'json', status, body });
export const text = (status: number, body: string): Reply => ({ kind: 'text', status, body });
export const empty = (status: number): Reply => ({ kind: 'empty', status });
export const streamed: Reply = { kind: 'streamed' };

export interface RouteHandler {
  handle(ctx: RequestContext): Promise<Reply>;
  /** Long-lived routes (wait, follow logs) do not count against the concurrency cap. */
  longLived?: boolean;
}

/** Registers a route on a router-like object; lets route modules stay independent of server.ts. */
export interface RouteTable {
  add(method: string, pattern: string, handler: RouteHandler): unknown;
}

/**
 * Docker's boolean query values (api/server/httputils BoolValue): absent, "", "0", "no",
 * "false" and "none" are false, anything else is true.
 */
export function boolQuery(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return !['', '0', 'no', 'false', 'none'].includes(value.trim().toLowerCase());
}

/** An optional integer query parameter; a malformed one is the caller's mistake (400). */
export function intQuery(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?[0-9]+$/.test(value)) {
    throw invalid('BAD_QUERY_PARAMETER', `invalid value for query parameter "${name}": "${value}" is not an integer`, name);
  }
  // Like Go's strconv.Atoi in Docker's handlers: a number that does not fit is refused,
  // not rounded (?t=99999999999999999999 once meant "stop at once" after rounding).
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw invalid('BAD_QUERY_PARAMETER', `invalid value for query parameter "${name}": "${value}" is out of range`, name);
  }
  return n;
}

/** The body as a JSON object, or a 400 that says what it was instead. */
export async function objectBody(ctx: RequestContext, what: string): Promise<Record<string, unknown>> {
  const body = await ctx.body();
  if (body === undefined) {
    throw invalid('EMPTY_BODY', `request body is empty: ${what} expects a JSON object`, 'body');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    throw invalid('BAD_BODY', `request body must be a JSON object for ${what}, got ${got}`, 'body');
  }
  return body as Record<string, unknown>;
}

/** A required string field of a JSON body. */
export function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw invalid('MISSING_FIELD', `${field} is required and must be a non-empty string`, field);
  }
  return value;
}
