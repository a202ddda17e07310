/**
 * Start-up reconciliation: the store says what should exist, the kernel says what
 * does. Missing pieces are recreated (bridges, addresses, firewall, veths of running
 * sandboxes, DNS sockets); pieces Switchyard owns that no record explains are removed
 * (links a driver says it made (ownsLink), namespace pins, address claims, sandbox directories).
 * Running sandboxes are never restarted: their processes and traffic go on.
 */
import * as path from 'node:path';
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import type { HostLink } from '../drivers/contract.js';
import { deleteSandboxNetns } from './sandbox-netns.js';
import { dropExternal, syncExternalDns } from './attachment-ops.js';
import type { SandboxRecord } from './types.js';
import type { SandboxRuntime } from './sandbox-ops.js';
import { onProcessExit } from './sandbox-ops.js';
import { takePart } from './cluster-peers.js';
import { gatewayEndpoint } from './endpoint-ops.js';
import { writeSandboxFiles, usesEmbeddedDns } from './sandbox-files.js';
import { publishRequest, repointPorts } from './publish.js';
import { namespaceSealed } from '../model/namespace-seal.js';
import { judgeJoinIntent } from './join-intent.js';

export interface KernelInventory {
  /** Links in the daemon's namespace. */
  links(): HostLink[];
  deleteLink(name: string): Promise<void>;
  /** Re-pins a live process's namespace at nsPath (after an outside unmount). */
  pinNetnsFromProcess(pid: number, nsPath: string): void;
}

export interface ReconcileReport {
  sandboxesKept: number;
  sandboxesExited: number;
  endpointsRejoined: number;
  linksRemoved: string[];
  netnsRemoved: string[];
  claimsRemoved: number;
  processesStopped: string[];
  /** External sandboxes whose namespace is gone: their attachments were dropped. */
  externalDropped: number;
}

export async function reconcile(
  ctx: EngineContext,
  runtime: SandboxRuntime,
  kernel: KernelInventory,
  strayClaims: string[],
): Promise<ReconcileReport> {
  const report: ReconcileReport = { sandboxesKept: 0, sandboxesExited: 0, endpointsRejoined: 0, linksRemoved: [], netnsRemoved: [], claimsRemoved: 0, processesStopped: [], externalDropped: 0 };
  await ctx.state.deleteKeys(strayClaims);
  report.claimsRemoved = strayClaims.length;
  if (ctx.state.orphanShared.length) {
    try {
      report.claimsRemoved += await ctx.state.deleteOrphanShared();
    } catch (err) {
      ctx.log(`reconcile: this node's global endpoints of removed sandboxes stay for now: ${String(err)}`);
    }
  }

  await settleJoinIntents(ctx);

  for (const net of ctx.state.networks.values()) {
    // A global network's kernel state comes with its first running local endpoint (takePart, below).
    if (net.scope === 'global') continue;
    try {
      driverOf(ctx, net).ensureNetwork(net);
    } catch (err) {
      ctx.log(`reconcile network ${net.name}: ${String(err)}`);
    }
  }

  const exited: { sb: SandboxRecord; code: number }[] = [];
  const externalGone: SandboxRecord[] = [];
  for (const sb of ctx.state.sandboxes.values()) {
    if (sb.state.status !== 'running') continue;
    if (sb.owner === 'external') {
      // No process to check and no /etc files: kept while its namespace exists.
      if (!sb.nsPath || !ctx.host.sandboxNetnsPresent(sb.nsPath)) {
        externalGone.push(sb);
        continue;
      }
      report.sandboxesKept++;
      report.endpointsRejoined += restoreEndpoints(ctx, sb);
      try {
        syncExternalDns(ctx, sb);
        restorePorts(ctx, sb); // CNI portMappings (attachment-ops.ts)
      } catch (err) {
        ctx.log(`reconcile: external sandbox ${sb.externalId}: dns or ports: ${String(err)}`);
      }
      continue;
    }
    if (!ctx.processes.isAlive(sb.state.pid, sb.state.pidStart)) {
      exited.push({ sb, code: ctx.processes.readExitCode(sb.dir) ?? 137 });
      continue;
    }
    report.sandboxesKept++;
    report.endpointsRejoined += restoreRunning(ctx, kernel, sb);
    // A crash in the middle of a connect or disconnect may have left the ports on an
    // address the sandbox no longer holds.
    await repointPorts(ctx, sb.id).catch((err) => ctx.log(`reconcile ${sb.name}: ports: ${String(err)}`));
  }
  for (const { sb, code } of exited) {
    report.sandboxesExited++;
    await onProcessExit(ctx, runtime, sb.id, sb.state.pid, code);
  }
  for (const sb of externalGone) {
    const r = await dropExternal(ctx, sb);
    for (const err of r.errors) ctx.log(`reconcile: external sandbox ${sb.externalId}: ${err.code}: ${err.message}`);
    report.externalDropped++;
  }

  await collectGarbage(ctx, kernel, report);
  return report;
}

/**
 * Join intents a crash left (join-intent.ts): an attach whose port was made, held, while its
 * txn was in flight. Its endpoint loaded: the txn applied, the port stays (restoreEndpoints
 * brings it up). Otherwise the port is removed; one that cannot be yet is kept for a later start.
 */
async function settleJoinIntents(ctx: EngineContext): Promise<void> {
  for (const { endpoint: ep } of [...ctx.state.joinIntents]) {
    const sb = ctx.state.sandboxes.get(ep.sandboxId);
    const net = ctx.state.networks.get(ep.networkId);
    const verdict = judgeJoinIntent({
      sharedLoaded: !ctx.state.sharedLoadError,
      endpointLoaded: ctx.state.endpoints.has(ep.id),
      sandboxRunning: sb?.state.status === 'running' && !!sb.nsPath,
      networkKnown: !!net,
    });
    if (verdict.kind === 'unknown') {
      ctx.log(`reconcile: the attach of ${ep.id.slice(0, 12)} was cut before its txn answered; settled once the cluster store is read at a start`);
      continue;
    }
    if (verdict.kind === 'remove-port') {
      try {
        await driverOf(ctx, net!).leave(net!, ep, { id: sb!.id, nsPath: sb!.nsPath! });
      } catch (err) {
        ctx.log(`reconcile: the port of an attach cut before its txn (${ep.id.slice(0, 12)}) stays for now: ${String(err)}`);
        continue;
      }
    }
    await ctx.state.dropJoinIntent(ep.id).catch((err) => ctx.log(`reconcile: join intent ${ep.id.slice(0, 12)}: ${String(err)}`));
  }
}

/** Brings a live sandbox's kernel side back to its records; returns endpoints recreated. */
function restoreRunning(ctx: EngineContext, kernel: KernelInventory, sb: SandboxRecord): number {
  let rejoined = 0;
  const ownNs = sb.nsPath && sb.networkMode !== 'host' && !sb.networkMode.startsWith('container:');
  if (ownNs && !ctx.host.sandboxNetnsPresent(sb.nsPath!)) kernel.pinNetnsFromProcess(sb.state.pid, sb.nsPath!);
  if (ownNs) rejoined += restoreEndpoints(ctx, sb);
  try {
    writeSandboxFiles(ctx, sb);
    if (sb.nsPath && usesEmbeddedDns(ctx, sb)) ctx.dns.attach(sb.id, sb.nsPath);
    restorePorts(ctx, sb);
  } catch (err) {
    ctx.log(`reconcile ${sb.name}: ${String(err)}`);
  }
  return rejoined;
}

/** Recreates the missing kernel side of a live sandbox's endpoints; returns how many. */
function restoreEndpoints(ctx: EngineContext, sb: SandboxRecord): number {
  let rejoined = 0;
  const endpoints = ctx.state.endpointsOfSandbox(sb.id);
  const gw = gatewayEndpoint(ctx, endpoints);
  for (const ep of endpoints) {
    const net = ctx.state.networks.get(ep.networkId)!;
    const driver = driverOf(ctx, net);
    try {
      takePart(ctx, net); // a global network: its kernel state and peers, once
    } catch (err) {
      ctx.log(`reconcile network ${net.name}: ${String(err)}`);
    }
    if (driver.endpointPresent(net, ep, { id: sb.id, nsPath: sb.nsPath! })) continue;
    try {
      driver.join(net, ep, { id: sb.id, nsPath: sb.nsPath! }, { gateway: gw?.id === ep.id, sealed: namespaceSealed(sb, ctx.state.sandboxes.values()) });
      rejoined++;
    } catch (err) {
      ctx.log(`reconcile ${sb.name}: endpoint on ${net.name}: ${String(err)}`);
    }
  }
  return rejoined;
}

/** Re-reserves a running sandbox's host ports and re-installs its DNAT elements. */
export function restorePorts(ctx: EngineContext, sb: SandboxRecord): void {
  const req = publishRequest(ctx, sb);
  if (ctx.ports && req && sb.ports.length) ctx.ports.restore(req, sb.ports);
}

async function collectGarbage(ctx: EngineContext, kernel: KernelInventory, report: ReconcileReport): Promise<void> {
  const wantedLinks = new Set<string>();
  for (const net of ctx.state.networks.values()) for (const l of ctx.drivers.get(net.driver)?.networkLinks(net) ?? []) wantedLinks.add(l);
  for (const ep of ctx.state.endpoints.values()) {
    if (ctx.state.sandboxes.get(ep.sandboxId)?.state.status === 'running' && ep.hostLink) wantedLinks.add(ep.hostLink);
  }
  const drivers = ctx.drivers.all();
  for (const link of kernel.links()) {
    if (wantedLinks.has(link.name) || !drivers.some((d) => d.ownsLink(link))) continue;
    await kernel.deleteLink(link.name).catch((err) => ctx.log(`gc link ${link.name}: ${String(err)}`));
    report.linksRemoved.push(link.name);
  }
  const nsDir = path.join(ctx.config.execRoot, 'netns');
  const wantedNs = new Set<string>();
  for (const sb of ctx.state.sandboxes.values()) if (sb.state.status === 'running' && sb.nsPath) wantedNs.add(path.basename(sb.nsPath));
  for (const entry of ctx.files.list(nsDir)) {
    if (wantedNs.has(entry) || ctx.state.refusedIds.has(entry)) continue;
    deleteSandboxNetns(ctx, path.join(nsDir, entry));
    report.netnsRemoved.push(entry);
  }
  const sbDir = path.join(ctx.config.dataRoot, 'sandboxes');
  // A start cut by a crash after the process was spawned but before its pid was recorded
  // (never acknowledged) leaves a process no running record owns: it goes, with its session.
  // A record holds the wrapper's pid, inside the session that the GC finds by its leader.
  const owned = new Set<number>();
  for (const sb of ctx.state.sandboxes.values()) if (sb.state.status === 'running' && sb.state.pid) owned.add(ctx.processes.sessionOf(sb.state.pid) ?? sb.state.pid);
  for (const { pid, dir } of ctx.processes.sessionsUnder(sbDir)) {
    if (owned.has(pid)) continue;
    ctx.processes.kill(pid, undefined);
    report.processesStopped.push(`${pid} (${path.basename(dir).slice(0, 12)})`);
  }
  for (const entry of ctx.files.list(sbDir)) {
    if (!ctx.state.sandboxes.has(entry) && !ctx.state.refusedIds.has(entry)) ctx.files.removeDir(path.join(sbDir, entry));
  }
}
