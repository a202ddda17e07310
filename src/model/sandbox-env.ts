/**
 * The environment of a sandbox's command (and of `switchyard exec`): the sandbox's
 * NAME=VALUE entries, with Docker's default PATH when none is set. A bare NAME (no "=")
 * is dropped: the CLI resolves `-e NAME` on the client side, as Docker's does, so the
 * daemon's own environment never reaches a sandbox. Pure.
 */

/** Docker's default PATH for a container. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** NAME=VALUE assignments for env -i; a later entry wins over an earlier one. */
export function commandEnv(...lists: readonly (readonly string[])[]): string[] {
  const out = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  for (const kv of lists.flat()) {
    const i = kv.indexOf('=');
    if (i > 0) out.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return [...out].map(([k, v]) => `${k}=${v}`);
}

/** env(1) would take a first word containing "=" for one more assignment: such a command runs through sh. */
export function commandArgv(command: readonly string[]): string[] {
  return command[0]?.includes('=') ? ['/bin/sh', '-c', 'exec "$0" "$@"', ...command] : [...command];
}
