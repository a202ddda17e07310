/**
 * Which global networks this host takes part in, and what their driver is told about the
 * other hosts (drivers/contract.ts, "Global drivers"). A host takes part in a global network
 * while it has a running local endpoint on it: the driver's ensureNetwork runs at the first
 * local join, then syncPeers with every remote endpoint; peerJoin/peerLeave follow the
 * shared store's watch (cluster-sync.ts); deleteNetwork runs after the last local endpoint
 * left.
 */
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import type { PeerEndpoint } from '../drivers/contract.js';
import type { NetworkRecord } from '../model/records.js';
import type { RemoteEndpoint } from './state.js';
import { routedForwarding, syncAllRoutedBlocks, syncRoutedBlocks } from './routed-blocks.js';
import { handOverSecret, publishKeyReport, withdrawKeyReport } from './cluster-keys.js';

export function peerOf(ctx: EngineContext, r: RemoteEndpoint): PeerEndpoint {
  const e = r.endpoint;
  return {
    endpointId: e.id,
    networkId: e.networkId,
    nodeId: r.node,
    nodeAddress: ctx.state.nodeAddresses.get(r.node)?.dataPathAddress ?? '',
    mac: e.mac,
    ...(e.ipv4 ? { ipv4: e.ipv4 } : {}),
    ...(e.ipv6 ? { ipv6: e.ipv6 } : {}),
  };
}

export function peersOf(ctx: EngineContext, netId: string): PeerEndpoint[] {
  return ctx.state.remoteEndpointsOf(netId).map((r) => peerOf(ctx, r));
}

/** Before a local endpoint joins `net`: the first one makes the network's kernel state and hands over the peers. */
export function takePart(ctx: EngineContext, net: NetworkRecord): void {
  if (net.scope !== 'global' || ctx.state.participating.has(net.id)) return;
  const driver = driverOf(ctx, net);
  routedForwarding(ctx, net);
  // A shared secret (an encrypted overlay's key ring) before the kernel state that needs it.
  handOverSecret(ctx, net);
  driver.ensureNetwork(net);
  ctx.state.participating.add(net.id);
  driver.syncPeers?.(net, peersOf(ctx, net.id));
  syncRoutedBlocks(ctx, net);
  const sec = ctx.state.secrets.get(net.id);
  if (sec && driver.syncSecret) publishKeyReport(ctx, net, sec.value);
}

/** After local endpoints left `net` (leave, sandbox stop): the last one removes the network's kernel state here. */
export async function leavePartIfIdle(ctx: EngineContext, netId: string, leaving?: string): Promise<void> {
  const net = ctx.state.networks.get(netId);
  if (!net || net.scope !== 'global' || !ctx.state.participating.has(netId)) return;
  const running = ctx.state
    .endpointsOfNetwork(netId)
    .some((e) => e.id !== leaving && ctx.state.sandboxes.get(e.sandboxId)?.state.status === 'running');
  if (running) return;
  ctx.state.participating.delete(netId);
  withdrawKeyReport(ctx, netId);
  await driverOf(ctx, net).deleteNetwork(net);
}

/** Hands one batch of remote changes to the drivers of the networks this host takes part in. */
export function applyPeerChanges(ctx: EngineContext, joined: readonly RemoteEndpoint[], left: readonly RemoteEndpoint[]): void {
  for (const r of left) {
    const net = ctx.state.networks.get(r.endpoint.networkId);
    if (!net || !ctx.state.participating.has(net.id)) continue;
    try {
      driverOf(ctx, net).peerLeave?.(net, peerOf(ctx, r));
    } catch (err) {
      ctx.log(`cluster: peerLeave ${r.endpoint.id.slice(0, 12)} on ${net.name}: ${String(err)}`);
    }
  }
  for (const r of joined) {
    const net = ctx.state.networks.get(r.endpoint.networkId);
    if (!net || !ctx.state.participating.has(net.id)) continue;
    try {
      driverOf(ctx, net).peerJoin?.(net, peerOf(ctx, r));
    } catch (err) {
      ctx.log(`cluster: peerJoin ${r.endpoint.id.slice(0, 12)} on ${net.name}: ${String(err)}`);
    }
  }
}

/** The shared secrets that changed (a rotation step): each goes to its network's driver, if this host takes part. */
export function applySecretChanges(ctx: EngineContext, netIds: readonly string[]): void {
  for (const id of netIds) {
    const net = ctx.state.networks.get(id);
    if (!net || !ctx.state.participating.has(id)) continue;
    try {
      handOverSecret(ctx, net);
    } catch (err) {
      ctx.log(`cluster: keys of ${net.name}: ${String(err)}`);
    }
  }
}

/** After a full re-read: every network this host takes part in gets the whole peer set again. */
export function resyncPeers(ctx: EngineContext): void {
  for (const netId of [...ctx.state.participating]) {
    const net = ctx.state.networks.get(netId);
    if (!net) {
      ctx.state.participating.delete(netId);
      continue;
    }
    try {
      handOverSecret(ctx, net);
      driverOf(ctx, net).syncPeers?.(net, peersOf(ctx, netId));
    } catch (err) {
      ctx.log(`cluster: syncPeers on ${net.name}: ${String(err)}`);
    }
  }
  syncAllRoutedBlocks(ctx);
}
