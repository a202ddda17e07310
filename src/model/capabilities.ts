/**
 * Linux capabilities of a sandbox's command, as `docker run` computes them
 * (moby oci/caps/utils.go TweakCapabilities, oci/caps/defaults.go DefaultCapabilities):
 * Docker's default set, minus --cap-drop, plus --cap-add; "ALL" in --cap-add means every
 * capability but the dropped ones; "ALL" in --cap-drop means only the added ones;
 * --privileged means every capability. Names are accepted with or without CAP_, in any
 * case, and stored as CAP_NAME (Docker's NormalizeLegacyCapabilities). Pure.
 */
import { invalid } from '../errors.js';

/** capabilities(7), in kernel order (bit 0 … 40), as of Linux 5.9. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** Docker's default set (moby oci/caps/defaults.go, unchanged since Docker 20.10). */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

const KNOWN = new Set<string>(ALL_CAPABILITIES);

/** "net_admin", "CAP_NET_ADMIN", "all" → "CAP_NET_ADMIN", "ALL"; unknown names are a 400 naming the field. */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) throw invalid('UNKNOWN_CAPABILITY', `${field}: unknown capability: "${name}"`, field);
  return full;
}

export function normalizeCapabilities(names: readonly string[], field: string): string[] {
  return [...new Set(names.map((n, i) => normalizeCapability(n, `${field}[${i}]`)))];
}

export interface CapabilityRequest {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
}

/** The capability set of the command (normalized names, kernel order). */
export function effectiveCapabilities(req: CapabilityRequest): string[] {
  if (req.privileged) return [...ALL_CAPABILITIES];
  const add = new Set(req.capAdd ?? []);
  const drop = new Set(req.capDrop ?? []);
  let caps: Set<string>;
  if (add.has('ALL')) caps = new Set(ALL_CAPABILITIES.filter((c) => !drop.has(c)));
  else if (drop.has('ALL')) caps = add;
  else caps = new Set([...DOCKER_DEFAULT_CAPABILITIES.filter((c) => !drop.has(c)), ...add]);
  return ALL_CAPABILITIES.filter((c) => caps.has(c));
}

/** setpriv(1)'s argument for a capability list: "-all,+chown,+kill" (lower case, no CAP_). */
export function setprivCapList(caps: readonly string[]): string {
  return ['-all', ...caps.map((c) => `+${c.slice(4).toLowerCase()}`)].join(',');
}

/** The kernel's bit mask of a capability list (as /proc/PID/status CapBnd shows it). */
export function capabilityMask(caps: readonly string[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    const bit = ALL_CAPABILITIES.indexOf(c as (typeof ALL_CAPABILITIES)[number]);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask;
}
