/**
 * Encrypted global networks' keys across the cluster (docs/drivers/overlay-encryption.md,
 * docs/CLUSTER.md): the key ring lives in the shared store under `/overlay-keys/<network id>`
 * (written in the network's create txn, deleted with it); each host hands it to the network's
 * driver (NetworkDriver.syncSecret) when it takes part and whenever the watch brings a new
 * version, then publishes its progress under `/overlay-key-reports/<network id>/<node id>`
 * (reportFor: the epochs it installed, the one it sends with). A timer rotates the rings: for
 * each encrypted network, the *leader* (the lowest node id among the network's hosts) starts
 * a rotation when the key is older than the interval and moves it on as the reports allow
 * (advanceRotation), each step a compare-and-swap txn on the ring's modRevision, so two
 * leaders (a view in flux) can never both write.
 */
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import { SHARED_KEY } from './shared-keys.js';
import type { NetworkRecord } from '../model/records.js';
import {
  DEFAULT_PRUNE_GRACE_MS, DEFAULT_ROTATION_INTERVAL_MS, advanceRotation, beginRotation, decodeKeyRing, encodeKeyRing, reportFor, rotationDue,
  type HostKeyReport, type NetworkKeyRing, type Random,
} from '../drivers/overlay-crypto-plan.js';

/** Hands `net`'s secret (if the store has one) to its driver; publishes this host's report when applied. */
export function handOverSecret(ctx: EngineContext, net: NetworkRecord): void {
  const driver = driverOf(ctx, net);
  const sec = ctx.state.secrets.get(net.id);
  if (!sec || !driver.syncSecret) return;
  if (driver.syncSecret(net, sec.value)) publishKeyReport(ctx, net.id, sec.value);
}

/** Writes this host's report for the ring `value` of network `netId` (errors are logged: the next change writes it again). */
export function publishKeyReport(ctx: EngineContext, netId: string, value: string): void {
  const shared = ctx.state.shared;
  if (!shared) return;
  let report: HostKeyReport;
  try {
    report = reportFor(shared.nodeId, decodeKeyRing(value));
  } catch {
    return; // not a key ring (another driver's secret): nothing to report
  }
  const key = SHARED_KEY.secretReport(netId, shared.nodeId);
  void shared.store
    .txn({ compare: [{ key: SHARED_KEY.network(netId), target: 'createRevision', op: '>', value: 0 }], success: [{ type: 'put', key, value: JSON.stringify(report) }] })
    .catch((err) => ctx.log(`cluster: key report for ${netId.slice(0, 12)}: ${String(err)}`));
}

/** This host no longer takes part in `netId`: its report goes, so a rotation does not wait for it. */
export function withdrawKeyReport(ctx: EngineContext, netId: string): void {
  const shared = ctx.state.shared;
  if (!shared || !ctx.state.secretReports.get(netId)?.has(shared.nodeId)) return;
  void shared.store
    .txn({ compare: [], success: [{ type: 'delete', key: SHARED_KEY.secretReport(netId, shared.nodeId) }] })
    .catch((err) => ctx.log(`cluster: key report for ${netId.slice(0, 12)}: ${String(err)}`));
}

function parseReport(text: string): HostKeyReport | undefined {
  try {
    const r = JSON.parse(text) as HostKeyReport;
    if (typeof r.host === 'string' && typeof r.networkId === 'string' && Array.isArray(r.rx) && typeof r.tx === 'number') return r;
  } catch {
    // a bad report counts as none: the rotation waits for that host
  }
  return undefined;
}

export interface RotationInput {
  ring: NetworkKeyRing;
  /** Node ids of the hosts taking part in the network. */
  hosts: readonly string[];
  reports: readonly HostKeyReport[];
  now: Date;
  intervalMs: number;
  graceMs?: number;
  random?: Random;
}

/** The ring's next version (a rotation begins, or moves on), or undefined: nothing to do now. Pure. */
export function nextRing(i: RotationInput): NetworkKeyRing | undefined {
  if (rotationDue(i.ring, i.now, i.intervalMs)) return beginRotation(i.ring, i.now, i.random);
  const step = advanceRotation(i.ring, i.hosts, i.reports, i.now, i.graceMs ?? DEFAULT_PRUNE_GRACE_MS);
  return step.changed ? step.ring : undefined;
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
  /** One pass over the encrypted networks now (tests; the timer calls it). */
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
  const intervalMs = o.intervalMs ?? DEFAULT_ROTATION_INTERVAL_MS;
  const checkMs = o.checkMs ?? Math.min(60_000, Math.max(250, Math.floor(intervalMs / 10)));
  let busy = false;
  const tick = async (): Promise<void> => {
    const shared = ctx.state.shared;
    if (!shared || busy) return;
    busy = true;
    try {
      for (const [netId, sec] of [...ctx.state.secrets]) {
        // The leader must hold the ring as the store has it (modRevision known) and take part.
        if (!sec.modRevision || !ctx.state.participating.has(netId)) continue;
        const hosts = networkHosts(ctx, netId);
        if (rotationLeader(hosts) !== shared.nodeId) continue;
        let ring: NetworkKeyRing;
        try {
          ring = decodeKeyRing(sec.value);
        } catch {
          continue;
        }
        const reports = [...(ctx.state.secretReports.get(netId)?.values() ?? [])].map(parseReport).filter((r): r is HostKeyReport => !!r);
        const next = nextRing({ ring, hosts, reports, now: ctx.now(), intervalMs, ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}) });
        if (!next) continue;
        const key = SHARED_KEY.secret(netId);
        const res = await shared.store.txn({
          compare: [{ key, target: 'modRevision', op: '=', value: sec.modRevision }],
          success: [{ type: 'put', key, value: encodeKeyRing(next) }],
        });
        if (res.succeeded) ctx.log(`cluster: network ${netId.slice(0, 12)} keys: epochs ${next.keys.map((k) => k.epoch).join(',')}, sending with ${next.txEpoch}`);
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
