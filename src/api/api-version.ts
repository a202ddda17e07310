/**
 * Engine API versioning as Docker does it (moby api/server/middleware/version.go): every
 * route is served at /PATH and /vX.Y/PATH; an unversioned request means the maximum
 * version; a version outside [min, max] is refused with 400.
 *
 * We advertise 1.51 (the docker CLI 28.3+ default) and accept down to 1.24 so that
 * Debian's docker.io 20.10 (API 1.41) and the 28.x CLI both work.
 */
import { invalid } from '../errors.js';

export const MAX_API_VERSION = '1.51';
export const MIN_API_VERSION = '1.24';

/** Splits "/v1.41/networks" into version "1.41" and path "/networks". */
export function splitVersionedPath(pathname: string): { version: string | undefined; path: string } {
  const match = /^\/v([0-9][0-9.]*)(\/.*)?$/.exec(pathname);
  if (match === null) return { version: undefined, path: pathname };
  return { version: match[1], path: match[2] ?? '/' };
}

/** Compares dotted versions numerically ("1.9" < "1.24"); <0, 0, >0 like a sort comparator. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Throws the error Docker sends for a version it does not serve; returns the effective version. */
export function checkApiVersion(requested: string | undefined): string {
  if (requested === undefined) return MAX_API_VERSION;
  if (compareApiVersions(requested, MIN_API_VERSION) < 0) {
    throw invalid(
      'API_VERSION_TOO_OLD',
      `client version ${requested} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
      'version',
    );
  }
  if (compareApiVersions(requested, MAX_API_VERSION) > 0) {
    throw invalid(
      'API_VERSION_TOO_NEW',
      `client version ${requested} is too new. Maximum supported API version is ${MAX_API_VERSION}`,
      'version',
    );
  }
  return requested;
}
