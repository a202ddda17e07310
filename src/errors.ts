/**
 * One error type for the whole project. Every failure the user can see is a
 * SwitchyardError with a stable `code` (documented in docs/ERRORS.md), a `kind`
 * that decides the HTTP status (api/http-status.ts) and the CLI exit code
 * (cli/exit-code.ts), and optionally the input `field` that was wrong.
 */
export type ErrorKind =
  | 'invalid' // the caller's input is wrong (400)
  | 'not-found' // a named thing does not exist (404)
  | 'conflict' // the request clashes with current state (409)
  | 'forbidden' // the operation is never allowed on this object (403)
  | 'unavailable' // a resource ran out or a dependency is down (503)
  | 'not-implemented' // a valid request for something this release does not do yet (501)
  | 'internal'; // a bug or an unexpected kernel answer (500)

export interface ErrorOptions {
  /** The input field that was wrong, e.g. "IPAM.Config[0].Subnet". */
  field?: string;
  cause?: unknown;
}

export class SwitchyardError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly field: string | undefined;

  constructor(kind: ErrorKind, code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.kind = kind;
    this.code = code;
    this.field = options.field;
  }
}

export const invalid = (code: string, message: string, field?: string): SwitchyardError =>
  new SwitchyardError('invalid', code, message, { field });
export const notFound = (code: string, message: string): SwitchyardError =>
  new SwitchyardError('not-found', code, message);
export const conflict = (code: string, message: string): SwitchyardError =>
  new SwitchyardError('conflict', code, message);
export const forbidden = (code: string, message: string): SwitchyardError =>
  new SwitchyardError('forbidden', code, message);
export const unavailable = (code: string, message: string, cause?: unknown): SwitchyardError =>
  new SwitchyardError('unavailable', code, message, { cause });
export const notImplemented = (code: string, message: string, field?: string): SwitchyardError =>
  new SwitchyardError('not-implemented', code, message, { field });
export const internal = (code: string, message: string, cause?: unknown): SwitchyardError =>
  new SwitchyardError('internal', code, message, { cause });

/** Wraps anything thrown into a SwitchyardError, keeping Switchyard errors as they are. */
export function asSwitchyardError(err: unknown): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internal('INTERNAL', message, err);
}
