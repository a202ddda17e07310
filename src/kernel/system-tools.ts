/**
 * Host tools (util-linux, coreutils) by absolute path, looked up once in the system
 * directories and never through a PATH a request or a sandbox could set
 * (docs/SECURITY.md "Environment").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** The environment host-side tools run with: nothing inherited. */
export const TOOL_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: SYSTEM_DIRS.join(':'), LC_ALL: 'C' });

const found = new Map<string, string>();

/** The absolute path of a system tool; throws when none of the system directories has it. */
export function systemTool(name: string): string {
  const cached = found.get(name);
  if (cached) return cached;
  const p = SYSTEM_DIRS.map((d) => path.join(d, name)).find((candidate) => {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!p) throw new Error(`${name} not found in ${SYSTEM_DIRS.join(', ')}: install util-linux and coreutils`);
  found.set(name, p);
  return p;
}
