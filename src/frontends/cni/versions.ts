/** CNI spec versions this plugin speaks, and the rules that depend on the version. */
import { CNI_CODE, CniError } from './cni-error.js';

export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

/** Compares two "x.y.z" versions (-1, 0, 1); a malformed one sorts first. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number(p));
  const pb = b.split('.').map((p) => Number(p));
  for (let i = 0; i < 3; i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : -1) : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Throws code 1 unless `version` is one we speak. */
export function requireSupported(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CNI_CODE.incompatibleVersion,
      'incompatible CNI versions',
      `config is "${version}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
}

/** The first spec version that has each command. */
const SINCE: Record<string, string> = { ADD: '0.1.0', DEL: '0.1.0', CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

/** Throws code 1 when the config's version predates the command. */
export function requireCommandInVersion(command: string, version: string): void {
  const since = SINCE[command];
  if (since && compareVersions(version, since) < 0) {
    throw new CniError(CNI_CODE.incompatibleVersion, `config version "${version}" does not allow ${command}`, `${command} needs cniVersion ${since} or later`);
  }
}
