/**
 * Whether a sandbox's network namespace is *sealed*: no process that Switchyard lets into it
 * can hold CAP_NET_ADMIN there. A driver may then put a port's source check inside that
 * namespace (the overlay driver's direct ports: docs/drivers/overlay.md "Ports"), where
 * only CAP_NET_ADMIN could remove it. Pure.
 *
 * Sealed when Switchyard made the sandbox (an external one's processes are the caller's, of
 * unknown capabilities), it is not `--privileged`, its capability set lacks NET_ADMIN, it has
 * a namespace of its own (not host, not another sandbox's), and no sandbox that shares its
 * namespace (`--network container:<it>`) may hold NET_ADMIN either. `exec` runs with the
 * sandbox's own capability set (cli/exec-command.ts), so it cannot unseal.
 */
import { effectiveCapabilities } from './capabilities.js';
import type { SandboxRecord } from './records.js';

type Caps = Pick<SandboxRecord, 'capAdd' | 'capDrop' | 'privileged'>;

/** The sandbox's command may hold CAP_NET_ADMIN (docker run's capability rules). */
export function mayHoldNetAdmin(sb: Caps): boolean {
  return effectiveCapabilities({
    ...(sb.capAdd ? { capAdd: sb.capAdd } : {}),
    ...(sb.capDrop ? { capDrop: sb.capDrop } : {}),
    ...(sb.privileged ? { privileged: true } : {}),
  }).includes('CAP_NET_ADMIN');
}

/** `sb`'s namespace is sealed, given every sandbox record (its sharers are found among them). */
export function namespaceSealed(sb: SandboxRecord, all: Iterable<SandboxRecord>): boolean {
  if (sb.owner !== 'switchyard' || sb.networkMode === 'host' || sb.networkMode.startsWith('container:')) return false;
  if (mayHoldNetAdmin(sb)) return false;
  const mode = `container:${sb.id}`;
  for (const other of all) if (other.networkMode === mode && mayHoldNetAdmin(other)) return false;
  return true;
}
