/** `KEY=VALUE` flags (-o, --label, --ipam-opt, --driver-opt) into a map. */
import { invalid } from '../errors.js';

/** A bare KEY means an empty value, as docker's MapOpts reads it. */
export function keyValues(entries: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (key === '') throw invalid('USAGE', `invalid argument "${entry}" for "--${flag}": expected KEY=VALUE`, flag);
    out[key] = eq < 0 ? '' : entry.slice(eq + 1);
  }
  return out;
}
