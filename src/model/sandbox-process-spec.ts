/**
 * What a sandbox process is started with: the engine plans it, kernel/sandbox-process.ts
 * runs it (through the engine's `processes` port).
 */
export interface SandboxProcessSpec {
  /** Directory holding hosts, hostname, resolv.conf; the exit code file goes there too. */
  dir: string;
  /** Network namespace to run in; absent = the daemon's own (host mode). */
  nsPath?: string;
  hostname: string;
  command: string[];
  env: string[];
  logPath: string;
  /** Directories covered by an empty tmpfs for the command (the daemon's data and exec roots). */
  hiddenPaths?: string[];
  /** Files covered by /dev/null for the command (the TLS key and certificates of the API). */
  hiddenFiles?: string[];
  /** The command's capabilities, normalized (CAP_…): bounding and inheritable sets. */
  capabilities: readonly string[];
  /** --privileged: /sys and /proc/sys stay writable (capabilities come from `capabilities`). */
  privileged?: boolean;
  /** --pid host: no PID namespace of its own, the host's /proc. */
  pidHost?: boolean;
}
