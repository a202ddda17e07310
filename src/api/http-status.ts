/**
 * The one place that turns an error kind into an HTTP status, and a status back into a
 * kind (for the client). Docker's table is api/server/httpstatus/status.go
 * (docs/notes/kernel-facts.md#docker-error-statuses); the docker CLI maps the status back to an error
 * class, so `docker network rm -f` relies on 404 meaning "not found".
 */
import type { ErrorKind } from '../errors.js';

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  internal: 500,
  unavailable: 503,
  'not-implemented': 501, // RFC 9110 §15.6.2; moby errdefs.NotImplemented answers the same
};

/** Codes whose status is more precise than their kind's. */
const STATUS_BY_CODE: Record<string, number> = {
  BODY_TOO_LARGE: 413, // RFC 9110 §15.5.14
};

export function httpStatusOf(error: { kind: ErrorKind; code: string }): number {
  return STATUS_BY_CODE[error.code] ?? STATUS_BY_KIND[error.kind];
}

/** The inverse, for errors the client rebuilds from a response. */
export function errorKindOf(status: number): ErrorKind {
  switch (status) {
    case 400:
    case 413:
    case 415:
      return 'invalid';
    case 401:
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 409:
      return 'conflict';
    case 501:
      return 'not-implemented';
    case 503:
      return 'unavailable';
    default:
      return status >= 400 && status < 500 ? 'invalid' : 'internal';
  }
}

/** The stable error code the client gives a rebuilt error when the body carries none. */
export function defaultCodeOf(kind: ErrorKind): string {
  return `API_${kind.toUpperCase().replaceAll('-', '_')}`;
}
