/**
 * Docker's `filters` query parameter (api/types/filters): a JSON map from key to a set of
 * values, `{"name":{"x":true}}`, or the legacy `{"name":["x"]}`. Matching follows
 * moby v28.5.2 daemon/network/filter.go and daemon/prune.go.
 */
import { internal, invalid } from '../errors.js';
import { parseGoBool, parseGoDuration } from './go-syntax.js';
import { compileLinear } from './linear-regexp.js';

/** key → values. Several values of one key are OR'ed, except `label` (AND), as in Docker. */
export type Filters = ReadonlyMap<string, readonly string[]>;

export const NETWORK_LIST_FILTERS: readonly string[] = ['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling'];
export const NETWORK_PRUNE_FILTERS: readonly string[] = ['until', 'label', 'label!'];

const badFilter = (message: string) => invalid('INVALID_FILTER', message, 'filters');

/** Allowed keys: a list, or the name of a known set. */
export type FilterKeys = readonly string[] | 'network' | 'prune';

const keysOf = (allowed: FilterKeys): readonly string[] =>
  allowed === 'network' ? NETWORK_LIST_FILTERS : allowed === 'prune' ? NETWORK_PRUNE_FILTERS : allowed;

/**
 * Parses the JSON text of `filters`; checks its keys against `allowed` when given
 * (otherwise call validateFilterKeys).
 */
export function parseFilters(json: string | undefined, allowed?: FilterKeys): Filters {
  const out = new Map<string, string[]>();
  if (json === undefined || json === '') return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw badFilter(`invalid filters: ${JSON.stringify(json)} is not JSON`);
  }
  if (raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badFilter('invalid filters: want a JSON object');
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    let values: string[];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) values = value as string[];
    else if (value !== null && typeof value === 'object' && Object.values(value).every((v) => typeof v === 'boolean')) {
      values = Object.entries(value as Record<string, boolean>).filter(([, on]) => on).map(([v]) => v);
    } else throw badFilter(`invalid filters: values of ${JSON.stringify(key)} must be a list or a map of booleans`);
    out.set(key, values);
  }
  return allowed === undefined ? out : validateFilterKeys(out, allowed);
}

/** Parses CLI `--filter key=value` flags (repeatable) into Filters. */
export function parseFilterFlags(flags: readonly string[], allowed: FilterKeys): Filters {
  const out = new Map<string, string[]>();
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw badFilter(`bad format of filter (expected name=value): ${flag}`);
    const key = flag.slice(0, eq).trim().toLowerCase();
    const list = out.get(key) ?? [];
    list.push(flag.slice(eq + 1));
    out.set(key, list);
  }
  return validateFilterKeys(out, allowed);
}

/** Refuses keys outside `allowed` (`invalid filter 'x'`) and, for networks, bad values. */
export function validateFilterKeys(filters: Filters, allowed: FilterKeys): Filters {
  const keys = keysOf(allowed);
  for (const key of filters.keys()) {
    if (!keys.includes(key)) throw badFilter(`invalid filter '${key}'`);
  }
  if (allowed === 'network') validateNetworkFilters(filters);
  if (allowed === 'prune') pruneMatcher(filters, 0);
  return filters;
}

/** The modern JSON form, as the docker CLI sends it. */
export function filtersToJson(filters: Filters): string {
  const obj: Record<string, Record<string, boolean>> = {};
  for (const [key, values] of filters) obj[key] = Object.fromEntries(values.map((v) => [v, true]));
  return JSON.stringify(obj);
}

// ---------------------------------------------------------------------------------------
// Matching primitives (api/types/filters Args)

/**
 * Args.Match: exact, or the value read as a regular expression (unanchored) matches. Go's
 * regexp is linear-time; so is linear-regexp.ts. V8's backtracking RegExp is never used on
 * a client's pattern: `([0-9a-f]+)+z` against a 64-hex ID would run for ages and stop the
 * event loop (docs/SECURITY.md). A pattern that does not compile matches only exactly.
 */
function matchesAny(values: readonly string[], source: string): boolean {
  return values.some((v) => v === source || compileLinear(v)?.test(source) === true);
}

/** Args.MatchKVList: every `k` or `k=v` must be present in the labels. */
function matchesLabels(values: readonly string[], labels: Readonly<Record<string, string>>): boolean {
  return values.every((v) => {
    const eq = v.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, v);
    const key = v.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(labels, key) && labels[key] === v.slice(eq + 1);
  });
}

// ---------------------------------------------------------------------------------------
// Networks

export interface FilterableNetwork {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly scope: string;
  readonly labels: Readonly<Record<string, string>>;
  /** A predefined network (bridge, host, none). */
  readonly builtin: boolean;
  /** Number of endpoints, or just whether there are any (for `dangling`). */
  readonly endpointCount?: number;
  readonly inUse?: boolean;
  /** Creation time, RFC 3339 text or ms (for the prune filter `until`). */
  readonly created?: string | number;
}

/** Checks the values of a network list filter (bad `type` / `dangling` values are 400s). */
export function validateNetworkFilters(filters: Filters): Filters {
  for (const t of filters.get('type') ?? []) {
    if (t !== 'custom' && t !== 'builtin') throw badFilter(`invalid filter: 'type'='${t}'`);
  }
  const dangling = filters.get('dangling') ?? [];
  if (dangling.length > 1) throw badFilter("invalid filter: 'dangling' takes a single value");
  if (dangling.length === 1 && parseGoBool(dangling[0]!) === undefined) {
    throw badFilter(`invalid filter 'dangling=${dangling[0]}'`);
  }
  return filters;
}

/**
 * Whether `net` passes every filter. Handles the list keys and the prune keys (`until`
 * is resolved against `nowMs`, which prune callers must pass).
 */
export function matchNetwork(filters: Filters, net: FilterableNetwork, nowMs?: number): boolean {
  const get = (key: string): readonly string[] | undefined => {
    const v = filters.get(key);
    return v === undefined || v.length === 0 ? undefined : v;
  };
  const driver = get('driver');
  if (driver && !driver.includes(net.driver)) return false;
  const scope = get('scope');
  if (scope && !scope.includes(net.scope)) return false;
  const name = get('name');
  if (name && !matchesAny(name, net.name)) return false;
  const id = get('id');
  if (id && !matchesAny(id, net.id)) return false;
  const label = get('label');
  if (label && !matchesLabels(label, net.labels)) return false;
  const type = get('type');
  if (type && !type.includes(net.builtin ? 'builtin' : 'custom')) return false;
  const dangling = get('dangling');
  if (dangling) {
    const want = parseGoBool(dangling[0]!);
    // Dangling = a custom network with no endpoints; predefined ones never are.
    const isDangling = !net.builtin && !(net.inUse ?? (net.endpointCount ?? 0) > 0);
    if (want !== undefined && want !== isDangling) return false;
  }
  if (filters.has('until') || filters.has('label!')) {
    if (nowMs === undefined && filters.has('until')) {
      throw internal('NO_CLOCK', "matchNetwork needs the current time for the 'until' filter");
    }
    const createdMs = typeof net.created === 'number' ? net.created : Date.parse(net.created ?? '');
    return pruneMatcher(filters, nowMs ?? 0)({ labels: net.labels, createdMs });
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Prune

/**
 * A filter timestamp as dockerd reads it (api/types/time GetTimestamp): a Go duration
 * relative to `nowMs` ("24h" = 24 hours ago), Unix seconds with optional fraction, or an
 * RFC 3339 / ISO 8601 date or date-time (local dates are read as UTC). Returns ms.
 */
export function parseTimestamp(value: string, nowMs: number, field = 'until'): number {
  const duration = parseGoDuration(value);
  if (duration !== undefined) return nowMs - duration;
  if (/^[0-9]+(\.[0-9]{1,9})?$/.test(value)) return Math.floor(Number(value) * 1000);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value)) {
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(value) && value.length > 10;
    const ms = Date.parse(hasZone ? value : `${value.length === 10 ? `${value}T00:00:00` : value}Z`);
    if (!Number.isNaN(ms)) return ms;
  }
  throw invalid('INVALID_FILTER', `invalid filter '${field}=${value}': not a timestamp or duration`, 'filters');
}

export interface PrunableNetwork {
  readonly labels: Readonly<Record<string, string>>;
  /** Creation time in ms since the epoch. */
  readonly createdMs: number;
}

/** Prepared prune filters: `until` is resolved once against the caller's clock. */
export interface PruneMatcher {
  (net: PrunableNetwork): boolean;
}

export function pruneMatcher(filters: Filters, nowMs: number): PruneMatcher {
  const until = filters.get('until') ?? [];
  if (until.length > 1) throw badFilter("invalid filter: 'until' takes a single value");
  const untilMs = until.length === 1 ? parseTimestamp(until[0]!, nowMs) : undefined;
  const labels = filters.get('label') ?? [];
  const notLabels = filters.get('label!') ?? [];
  return (net) => {
    if (untilMs !== undefined && !(net.createdMs < untilMs)) return false;
    if (labels.length > 0 && !matchesLabels(labels, net.labels)) return false;
    // label! removes networks that carry any of the given labels (daemon/prune.go).
    if (notLabels.length > 0 && notLabels.some((l) => matchesLabels([l], net.labels))) return false;
    return true;
  };
}
