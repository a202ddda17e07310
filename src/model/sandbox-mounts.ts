/**
 * The mounts a sandbox's wrapper makes before its command starts, as an fstab that one
 * `mount --fstab FILE -a` applies in order (one process instead of one per mount: a
 * start spawns ~3 processes for its mounts instead of ~25). Pure; the caller says which
 * of the masked paths exist on this kernel. docs/SECURITY.md "What a sandbox can do".
 */

/** Kernel knobs Docker makes read-only (moby oci/defaults.go ReadonlyPaths). */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
/** Files and directories Docker masks (moby oci/defaults.go MaskedPaths, the ones outside /sys/devices). */
export const MASKED_PATHS = ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];

export interface SandboxMountPlan {
  /** The sandbox's directory, holding hosts, hostname and resolv.conf. */
  dir: string;
  /** A PID namespace of its own: a new /proc. */
  ownProc: boolean;
  /** --privileged: no read-only knobs, no masks. */
  privileged: boolean;
  /** Of READONLY_PATHS and MASKED_PATHS, those present, and whether each is a directory. */
  present: ReadonlyMap<string, 'file' | 'dir'>;
  /** Directories covered by an empty read-only tmpfs. */
  hiddenDirs: readonly string[];
  /** Files covered by /dev/null (present ones only). */
  hiddenFiles: readonly string[];
}

/** fstab(5) escapes a space, tab, newline and backslash in a field as octal. */
export function fstabField(text: string): string {
  return text.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

export function renderSandboxFstab(plan: SandboxMountPlan): string {
  const lines: string[][] = [];
  for (const f of ['hosts', 'hostname', 'resolv.conf']) lines.push([`${plan.dir}/${f}`, `/etc/${f}`, 'none', 'bind,ro']);
  if (plan.ownProc) lines.push(['swy-proc', '/proc', 'proc', 'nosuid,nodev,noexec']);
  if (!plan.privileged) {
    for (const p of READONLY_PATHS) if (plan.present.has(p)) lines.push([p, p, 'none', 'bind,ro,nosuid,nodev,noexec']);
    for (const p of MASKED_PATHS) {
      const kind = plan.present.get(p);
      if (kind === 'dir') lines.push(['swy-masked', p, 'tmpfs', 'ro,size=4k,nr_inodes=1']);
      else if (kind === 'file') lines.push(['/dev/null', p, 'none', 'bind']);
    }
  }
  for (const p of plan.hiddenDirs) lines.push(['switchyard-hidden', p, 'tmpfs', 'ro,size=4k,nr_inodes=1,mode=0755']);
  for (const p of plan.hiddenFiles) lines.push(['/dev/null', p, 'none', 'bind']);
  return lines.map((l) => `${l.map(fstabField).join(' ')} 0 0\n`).join('');
}
