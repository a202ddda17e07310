/**
 * Which IP forwarding switches this daemon turned on itself, kept in the exec root so that
 * `switchyard system reset` can turn exactly those off again and leave the host as it was
 * before Switchyard (a switch the admin had turned on is never recorded, so never touched).
 * One line per family ("4", "6"); the file lives as long as the exec root (a tmpfs under
 * /run by default: gone at reboot, as the sysctl is).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FORWARDING_MARKER = 'forwarding-enabled';

export const FORWARDING_SYSCTL = { 4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding' } as const;

export function recordForwardingEnabled(execRoot: string, family: 4 | 6): void {
  fs.appendFileSync(path.join(execRoot, FORWARDING_MARKER), `${family}\n`, { mode: 0o600 });
}

export function forwardingEnabledBySwitchyard(execRoot: string): (4 | 6)[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(execRoot, FORWARDING_MARKER), 'utf8');
  } catch {
    return [];
  }
  const seen = new Set<4 | 6>();
  for (const line of text.split('\n')) {
    if (line.trim() === '4') seen.add(4);
    if (line.trim() === '6') seen.add(6);
  }
  return [...seen].sort();
}
