/**
 * The firewall reload: rebuilds the nftables tables from the committed records (every
 * network's rules, the anti-spoofing elements of every running endpoint, the ports of every
 * running sandbox). `POST /firewall/reload` and the daemon's watchdog (a table went missing)
 * run it.
 *
 * It runs under the engine-wide lock, exclusively (locks.ts): the operations in flight
 * (start, stop, rm, connect, disconnect, network create/rm) finish first, and new ones wait
 * until the tables are rebuilt. An operation changes the kernel and then awaits its commit;
 * a rebuild in between would read records that do not show the change yet, and flush what
 * the operation just added (a started sandbox left without its anti-spoofing and port
 * elements) or put back what it just removed (audit M1). Per-sandbox locks would not do: a
 * sandbox created after the reload listed them could start in the middle of it. The rebuild
 * itself is synchronous and short, so normal operations only ever wait for one rebuild.
 */
import type { EngineContext } from './context.js';
import { restorePorts } from './reconcile.js';

/** Each driver rebuilds its networks' rules and its running endpoints' elements from the records. */
export function rebuildDriverFirewalls(ctx: EngineContext): void {
  const { state } = ctx;
  const running = new Set([...state.sandboxes.values()].filter((sb) => sb.state.status === 'running').map((sb) => sb.id));
  for (const driver of ctx.drivers.all()) {
    if (!driver.reloadFirewall) continue;
    const nets = [...state.networks.values()].filter((n) => n.driver === driver.name);
    const ids = new Set(nets.map((n) => n.id));
    driver.reloadFirewall(
      nets,
      [...state.endpoints.values()].filter((e) => running.has(e.sandboxId) && ids.has(e.networkId)),
      (id) => state.sandboxes.get(id)?.nsPath,
    );
  }
}

/**
 * Rebuilds the tables from the records as they are now: networks and endpoints first, then
 * every running sandbox's ports. Without locks: only for the daemon's start (nothing else
 * runs yet) and inside `reloadFirewall`.
 */
export function rebuildFirewall(ctx: EngineContext): void {
  rebuildDriverFirewalls(ctx);
  for (const sb of ctx.state.sandboxes.values()) {
    if (sb.state.status !== 'running') continue;
    try {
      restorePorts(ctx, sb);
    } catch (err) {
      ctx.log(`firewall reload: ports of ${sb.name}: ${String(err)}`);
    }
  }
}

/** The reload operation: the rebuild, with no other operation half-way. */
export function reloadFirewall(ctx: EngineContext): Promise<void> {
  return ctx.locks.exclusive(() => rebuildFirewall(ctx));
}
