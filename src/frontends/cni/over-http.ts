/**
 * One CNI call carried over HTTP (the daemon's POST /cni, src/api/routes-cni.ts): the plugin
 * process (bin/cni/forward.c) sends the CNI_* variables as Cni-* headers, percent-encoded, and
 * its stdin as the body; the answer is what the plugin prints (a result, or an error object)
 * with its exit code in the Cni-Exit-Code header, HTTP 200 for exit 0 and 400 otherwise.
 * Pure apart from `backend` and `netnsExists`.
 */
import type { CniBackend } from './backend.js';
import { CNI_CODE, CniError, errorBody } from './cni-error.js';
import { dispatch } from './dispatch.js';
import type { NetworkConfig } from './network-config.js';
import { peekVersion } from './network-config.js';
import { LATEST_VERSION } from './versions.js';

export const CNI_HEADERS = ['command', 'containerid', 'netns', 'ifname', 'args', 'path'] as const;

export interface CniAnswer {
  status: number;
  exitCode: number;
  /** What the plugin prints on stdout (one JSON line, or nothing). */
  text: string;
}

/** The CNI_* environment of a request's Cni-* headers (absent or empty = unset, as in the plugin). */
export function environmentOf(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of CNI_HEADERS) {
    const raw = headers[`cni-${k}`];
    if (typeof raw !== 'string' || raw === '') continue;
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw new CniError(CNI_CODE.invalidEnvironment, `CNI_${k.toUpperCase()} is not valid UTF-8`);
    }
    env[`CNI_${k.toUpperCase()}`] = value;
  }
  return env;
}

export async function cniOverHttp(
  headers: Record<string, string | string[] | undefined>,
  stdin: string,
  backend: CniBackend | ((conf: NetworkConfig) => CniBackend),
  netnsExists: (path: string) => boolean,
): Promise<CniAnswer> {
  let text = '';
  let exitCode: number;
  try {
    exitCode = await dispatch({ env: environmentOf(headers), stdin, stdout: { write: (s: string) => (text += s) }, backend, netnsExists });
  } catch (err) {
    if (!(err instanceof CniError)) throw err;
    text = `${JSON.stringify(errorBody(err, peekVersion(stdin) ?? LATEST_VERSION))}\n`;
    exitCode = 1;
  }
  return { status: exitCode === 0 ? 200 : 400, exitCode, text };
}
