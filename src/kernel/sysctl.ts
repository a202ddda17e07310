/**
 * Kernel parameters under /proc/sys, optionally inside another network namespace.
 *
 * /proc/sys/net shows the namespace of the thread that opens the file, so a per-netns
 * sysctl is read and written with *synchronous* fs calls inside a withNetns window:
 * async fs would run on a libuv pool thread that is still in the daemon's namespace
 * (docs/notes/kernel-facts.md#per-netns-sysctls).
 */
import * as fs from 'node:fs';
import { SwitchyardError, invalid, notFound } from '../errors.js';
import { withNetns } from './netns.js';

/**
 * A key in dotted form ('net.ipv4.ip_forward') or as path segments
 * (['net', 'ipv6', 'conf', 'eth0.10', 'accept_ra']): interface names may contain dots,
 * which the dotted form cannot express (sysctl(8) swaps '.' and '/' for that case).
 */
export type SysctlKey = string | readonly string[];

export function sysctlPath(key: SysctlKey): string {
  const parts = typeof key === 'string' ? key.split('.') : [...key];
  const shown = typeof key === 'string' ? key : key.join('/');
  if (!parts.length || parts.some((p) => !p || p === '.' || p === '..' || p.includes('/') || p.includes('\0'))) {
    throw invalid('INVALID_SYSCTL_KEY', `sysctl key "${shown}" must be non-empty segments without "/" (e.g. net.ipv4.ip_forward)`, 'key');
  }
  return `/proc/sys/${parts.join('/')}`;
}

function inNamespace<T>(nsPath: string | undefined, fn: () => T): T {
  return nsPath ? withNetns(nsPath, fn) : fn();
}

function fsError(err: unknown, key: SysctlKey, op: string, nsPath: string | undefined): SwitchyardError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = nsPath ? ` in ${nsPath}` : '';
  const shown = typeof key === 'string' ? key : key.join('/');
  if (code === 'ENOENT') return notFound('SYSCTL_NOT_FOUND', `sysctl ${shown}${where} does not exist`);
  if (code === 'EINVAL') return new SwitchyardError('invalid', 'SYSCTL_INVALID_VALUE', `${op} sysctl ${shown}${where}: the kernel rejected the value`, { field: 'value', cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new SwitchyardError('forbidden', 'SYSCTL_FORBIDDEN', `${op} sysctl ${shown}${where}: permission denied`, { cause: err });
  return new SwitchyardError('internal', 'SYSCTL_FAILED', `${op} sysctl ${shown}${where}: ${String(err)}`, { cause: err });
}

/** Writes a sysctl (in nsPath's namespace when given). */
export function writeSysctl(key: SysctlKey, value: string, nsPath?: string): void {
  const file = sysctlPath(key);
  try {
    inNamespace(nsPath, () => fs.writeFileSync(file, value));
  } catch (err) {
    if (err instanceof SwitchyardError) throw err;
    throw fsError(err, key, 'write', nsPath);
  }
}

/** Reads a sysctl, trailing newline removed. */
export function readSysctl(key: SysctlKey, nsPath?: string): string {
  const file = sysctlPath(key);
  try {
    return inNamespace(nsPath, () => fs.readFileSync(file, 'utf8')).replace(/\n$/, '');
  } catch (err) {
    if (err instanceof SwitchyardError) throw err;
    throw fsError(err, key, 'read', nsPath);
  }
}
