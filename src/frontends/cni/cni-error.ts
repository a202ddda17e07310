/**
 * The CNI wire error (spec 1.1, "Error"): what a plugin prints on stdout with a non-zero exit.
 * Codes 1-99 are the spec's well-known ones; 100 and up are Switchyard's own.
 */
export const CNI_CODE = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  io: 5,
  decode: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD now (the daemon is down or the network is missing). */
  notAvailable: 50,
  /** Switchyard's own: the daemon refused the request as conflicting with its state (or never allowed). */
  conflict: 100,
  /** Switchyard's own: the daemon failed in an unexpected way (same value as libcni's ErrInternal). */
  internal: 999,
} as const;

export class CniError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** The JSON object the spec prescribes for an error. */
export function errorBody(err: CniError, cniVersion: string): Record<string, unknown> {
  const body: Record<string, unknown> = { cniVersion, code: err.code, msg: err.message };
  if (err.details) body['details'] = err.details;
  return body;
}
