/**
 * Encrypted global networks' keys across the cluster (docs/drivers/overlay-encryption.md,
 * docs/CLUSTER.md): the key ring lives in the shared store under `/overlay-keys/<network id>`
 * (written in the network's create txn, deleted with it); each host hands it to the network's
 * driver (NetworkDriver.syncSecret) when it takes part and whenever the watch brings a new
 * version, then publishes its progress under `/overlay-key-reports/<network id>/<node id>`
 * (the driver's secretReport: the epochs it installed, the one it sends with). A timer rotates
 * the rings: for each encrypted network, the *leader* (the lowest node id among the network's
 * hosts) asks the driver's rotateSecret whether a rotation starts (the key is older than the
 * interval) or moves on (as the reports allow), and writes each step with a compare-and-swap
 * txn on the ring's modRevision, so two leaders (a view in flux) can never both write. The
 * engine itself never reads a key: the ring's format is the driver's.
 */
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import { SHARED_KEY } from './shared-keys.js';
import type { NetworkRecord } from '../model/records.js';

/** Docker's key lifetime (the daemon's --overlay-key-rotation default). */
export const DEFAULT_SECRET_INTERVAL_MS = 12 * 3600_000;

/** Hands `net`'s secret (if the store has one) to its driver; publishes this host's report when applied. */
export function handOverSecret(ctx: EngineContext, net: NetworkRecord): void {
  const driver = driverOf(ctx, net);
  const sec = ctx.state.secrets.get(net.id);
  if (!sec || !driver.syncSecret) return;
  if (driver.syncSecret(net, sec.value)) publishKeyReport(ctx, net, sec.value);
}

/** Writes this host's report for the secret `value` of `net` (errors are logged: the next change writes it again). */
export function publishKeyReport(ctx: EngineContext, net: NetworkRecord, value: string): void {
  const shared = ctx.state.shared;
  const driver = driverOf(ctx, net);
  if (!shared || !driver.secretReport) return;
  let report: string;
  try {
    report = driver.secretReport(net, value, shared.nodeId);
  } catch (err) {
    ctx.log(`cluster: key report for ${net.name}: ${String(err)}`);
    return;
  }
  const key = SHARED_KEY.secretReport(net.id, shared.nodeId);
  void shared.store
    .txn({ compare: [{ key: SHARED_KEY.network(net.id), target: 'createRevision', op: '>', value: 0 }], success: [{ type: 'put', key, value: report }] })
    .catch((err) => ctx.log(`cluster: key report for ${net.name}: ${String(err)}`));
}

/** This host no longer takes part in `netId`: its report goes, so a rotation does not wait for it. */
export function withdrawKeyReport(ctx: EngineContext, netId: string): void {
  const shared = ctx.state.shared;
  if (!shared || !ctx.state.secretReports.get(netId)?.has(shared.nodeId)) return;
  void shared.store
    .txn({ compare: [], success: [{ type: 'delete', key: SHARED_KEY.secretReport(netId, shared.nodeId) }] })
    .catch((err) => ctx.log(`cluster: key report for ${netId.slice(0, 12)}: ${String(err)}`));
}

/** The host that moves the network's rotation on: the lowest node id among its hosts. */
export function rotationLeader(hosts: readonly string[]): string | undefined {
  return [...hosts].sort()[0];
}

/** Node ids taking part in a global network: this host (if it does), hosts with endpoints on it, hosts that reported. */
export function networkHosts(ctx: EngineContext, netId: string): string[] {
  const hosts = new Set<string>();
  const self = ctx.state.shared?.nodeId;
  if (self && ctx.state.participating.has(netId)) hosts.add(self);
  for (const r of ctx.state.remoteEndpointsOf(netId)) hosts.add(r.node);
  for (const node of ctx.state.secretReports.get(netId)?.keys() ?? []) hosts.add(node);
  return [...hosts].sort();
}

export interface KeyRotation {
  /** One pass over the networks with a secret now (tests; the timer calls it). */
  tick(): Promise<void>;
  close(): void;
}

export interface KeyRotationOptions {
  /** Key lifetime (default 12 h, Docker's). */
  intervalMs?: number;
  /** How often the leader looks (default: a tenth of the interval, between 250 ms and 60 s). */
  checkMs?: number;
  graceMs?: number;
}

export function startKeyRotation(ctx: EngineContext, o: KeyRotationOptions = {}): KeyRotation {
  const intervalMs = o.intervalMs ?? DEFAULT_SECRET_INTERVAL_MS;
  const checkMs = o.checkMs ?? Math.min(60_000, Math.max(250, Math.floor(intervalMs / 10)));
  let busy = false;
  const tick = async (): Promise<void> => {
    const shared = ctx.state.shared;
    if (!shared || busy) return;
    busy = true;
    try {
      for (const [netId, sec] of [...ctx.state.secrets]) {
        // The leader must hold the secret as the store has it (modRevision known) and take part.
        const net = ctx.state.networks.get(netId);
        if (!net || !sec.modRevision || !ctx.state.participating.has(netId)) continue;
        const hosts = networkHosts(ctx, netId);
        if (rotationLeader(hosts) !== shared.nodeId) continue;
        const driver = driverOf(ctx, net);
        let next: string | undefined;
        try {
          next = driver.rotateSecret?.(net, sec.value, {
            hosts, reports: [...(ctx.state.secretReports.get(netId)?.values() ?? [])], now: ctx.now(), intervalMs,
            ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
          });
        } catch (err) {
          ctx.log(`cluster: key rotation of ${net.name}: ${String(err)}`);
          continue;
        }
        if (!next) continue;
        const key = SHARED_KEY.secret(netId);
        const res = await shared.store.txn({
          compare: [{ key, target: 'modRevision', op: '=', value: sec.modRevision }],
          success: [{ type: 'put', key, value: next }],
        });
        if (res.succeeded) ctx.log(`cluster: network ${net.name}: its key rotation moved on`);
      }
    } catch (err) {
      ctx.log(`cluster: key rotation: ${String(err)}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), checkMs);
  timer.unref();
  return { tick, close: () => clearInterval(timer) };
}
