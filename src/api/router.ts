/**
 * A small router: a route is a method plus a path pattern whose `{name}` segments capture
 * one URL-decoded path segment. Routes are tried in the order they were added, so the
 * literal `/networks/create` must come before `/networks/{id}` (Docker's mux behaves the
 * same way for POST; for GET, /networks/create is simply a network named "create").
 * A `{name...}` segment (at most one per pattern) captures one or more segments joined by
 * `/`, like Docker's `{name:.*}` for image and plugin references (`vieux/sshfs:latest`).
 */
export type PathParams = Record<string, string>;

interface CompiledRoute<H> {
  method: string;
  segments: string[];
  handler: H;
}

export interface RouteMatch<H> {
  handler: H;
  params: PathParams;
}

export class Router<H> {
  private readonly routes: CompiledRoute<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method, segments: splitPath(pattern), handler });
    return this;
  }

  /** The first route matching method and path; HEAD falls back to GET routes. */
  match(method: string, path: string): RouteMatch<H> | undefined {
    const segments = splitPath(path);
    const exact = this.find(method, segments);
    if (exact !== undefined || method !== 'HEAD') return exact;
    return this.find('GET', segments);
  }

  private find(method: string, segments: string[]): RouteMatch<H> | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const params = matchSegments(route.segments, segments);
      if (params !== undefined) return { handler: route.handler, params };
    }
    return undefined;
  }
}

function splitPath(path: string): string[] {
  // "/networks/" and "/networks" are the same route (Docker registers both).
  return path.split('/').filter((s) => s !== '');
}

function matchSegments(pattern: string[], actual: string[]): PathParams | undefined {
  const greedy = pattern.findIndex((p) => p.startsWith('{') && p.endsWith('...}'));
  if (greedy < 0) return matchFixed(pattern, actual, {});
  const after = pattern.length - greedy - 1;
  if (actual.length < pattern.length) return undefined;
  const params = matchFixed(pattern.slice(0, greedy), actual.slice(0, greedy), {});
  if (params === undefined) return undefined;
  if (matchFixed(pattern.slice(greedy + 1), actual.slice(actual.length - after), params) === undefined) return undefined;
  const parts: string[] = [];
  for (const got of actual.slice(greedy, actual.length - after)) {
    const decoded = decode(got);
    if (decoded === undefined) return undefined;
    parts.push(decoded);
  }
  params[pattern[greedy]!.slice(1, -4)] = parts.join('/');
  return params;
}

function matchFixed(pattern: string[], actual: string[], params: PathParams): PathParams | undefined {
  if (pattern.length !== actual.length) return undefined;
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = actual[i]!;
    if (want.startsWith('{') && want.endsWith('}')) {
      const decoded = decode(got);
      if (decoded === undefined) return undefined; // a malformed %-escape cannot name anything
      params[want.slice(1, -1)] = decoded;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
