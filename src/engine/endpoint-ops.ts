/**
 * Endpoints: a sandbox's attachment to a network. Planning (pure, over the
 * in-memory state) picks the interface name, MAC and addresses; the store claims the
 * addresses create-only; the driver makes the kernel match.
 *
 * The default route belongs to the earliest-connected endpoint on a non-internal
 * network, so connecting another network never moves it (Docker moves it by name
 * order and priority, which breaks published ports: moby#20179, moby#21741).
 */
import type { EngineContext } from './context.js';
import { driverOf } from './context.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';
import type { EndpointSettings } from './contract.js';
import type { AddressClaim, Change } from './state.js';
import { endpointAddresses } from './state.js';
import { macFromIpv4, parseMac, randomMac } from '../model/ip.js';
import { newId, shortId, validateAlias } from '../model/names.js';
import { conflict, forbidden, invalid } from '../errors.js';
import { RECORD_VERSION } from '../model/records.js';
import { admitEndpoint, findNetwork } from './network-ops.js';
import { findSandbox } from './sandbox-lookup.js';
import { usesEmbeddedDns, writeSandboxFiles } from './sandbox-files.js';
import { movePorts, repointPorts } from './publish.js';
import { poolIpam, type Ipam } from './ipam.js';
import { ipamFor } from './routed-blocks.js';
import { leavePartIfIdle, takePart } from './cluster-peers.js';
import { PhaseTrace } from './phase-trace.js';
import { egressByGatewayBridge, ensureGatewayBridge, isGatewayBridge, needsGatewayBridge } from './gateway-bridge.js';
import { namespaceSealed } from '../model/namespace-seal.js';

export const sbLock = (id: string): string => `sb:${id}`;

export interface PlannedEndpoint {
  endpoint: EndpointRecord;
  claims: AddressClaim[];
}

/** Lowest free ethN in the sandbox (Docker numbers them in connect order). */
function nextIfname(existing: EndpointRecord[]): string {
  const taken = new Set(existing.map((e) => e.ifname));
  for (let i = 0; ; i++) if (!taken.has(`eth${i}`)) return `eth${i}`;
}

/**
 * Plans an endpoint of `sb` on `net`: validates the settings, picks ethN, the MAC and
 * the addresses (static ones checked, dynamic ones first-free), with no side effect.
 * `extraUsed` holds addresses planned earlier in the same operation.
 */
export function planEndpoint(
  ctx: EngineContext,
  net: NetworkRecord,
  sb: SandboxRecord,
  settings: EndpointSettings,
  siblings: EndpointRecord[],
  extraUsed: Map<string, Set<bigint>> = new Map(),
  ipam: Ipam = poolIpam,
): PlannedEndpoint {
  // Docker's rule for swarm-scoped networks: only --attachable ones take sandboxes directly.
  if (net.scope === 'global' && !net.attachable) throw forbidden('NETWORK_NOT_ATTACHABLE_MANUALLY', `network ${net.name} not manually attachable`);
  if (siblings.some((e) => e.networkId === net.id)) {
    throw forbidden('ENDPOINT_EXISTS', `endpoint with name ${sb.name} already exists in network ${net.name}`);
  }
  const aliases = (settings.aliases ?? []).map((a, i) => validateAlias(a, `EndpointConfig.Aliases[${i}]`));
  if (aliases.length && net.predefined) {
    throw invalid('ALIAS_DEFAULT_NETWORK', 'network-scoped alias is supported only for containers in user defined networks', 'Aliases');
  }
  const id = newId(ctx.random(32));
  const requestedMac = settings.mac ? parseMac(settings.mac, 'MacAddress') : undefined;
  const chosenMac = requestedMac ?? randomMac(ctx.random(6));
  const ifname = settings.ifname ?? nextIfname(siblings);
  // The driver may refuse a requested MAC, or name the one the interface really carries.
  const { hostLink, mac: driverMac } = driverOf(ctx, net).planEndpoint(net, { id, ifname, ...(requestedMac ? { mac: requestedMac } : {}) });
  const mac = driverMac ?? chosenMac;
  const ep: EndpointRecord = {
    v: RECORD_VERSION,
    id,
    networkId: net.id,
    sandboxId: sb.id,
    ifname,
    ...(hostLink ? { hostLink } : {}),
    mac,
    aliases,
    links: [...(settings.links ?? [])],
    // The gateway bridge's endpoints are anonymous (as Docker's on docker_gwbridge): sandboxes of
    // different overlays meet there, and must not learn each other's names.
    dnsNames: isGatewayBridge(net) ? [] : [sb.name, ...aliases, shortId(sb.id), ...(sb.hostname !== shortId(sb.id) && sb.hostname !== sb.name ? [sb.hostname] : [])],
    order: Math.max(-1, ...siblings.map((e) => e.order)) + 1,
    ...(settings.requested ? { requested: settings.requested } : {}),
    ...(settings.ipv4 ? { staticIPv4: settings.ipv4 } : {}),
    ...(settings.ipv6 ? { staticIPv6: settings.ipv6 } : {}),
  };
  const { claims, ...addresses } = ipamFor(net, ipam).assign(ctx, {
    net,
    endpointId: id,
    ...(settings.ipv4 ? { ipv4: settings.ipv4 } : {}),
    ...(settings.ipv6 ? { ipv6: settings.ipv6 } : {}),
    extraUsed,
  });
  Object.assign(ep, addresses);
  // Global (VXLAN) networks: the MAC follows the IPv4 address, as Docker's overlay does
  // (macFromIpv4), unless the driver named the MAC the interface carries (ipvlan: the parent's).
  if (!settings.mac && !driverMac && net.scope === 'global' && ep.ipv4) ep.mac = macFromIpv4(ep.ipv4);
  return { endpoint: ep, claims };
}

/** The endpoint that carries the default route: the earliest connected on a non-internal network. */
export function gatewayEndpoint(ctx: EngineContext, endpoints: EndpointRecord[]): EndpointRecord | undefined {
  return endpoints
    .filter((e) => {
      const n = ctx.state.networks.get(e.networkId);
      // Overlay endpoints never carry the default route or ports: the gateway bridge does.
      return n && !n.internal && !egressByGatewayBridge(n) && (e.gateway || e.ipv6Gateway);
    })
    .sort((a, b) => a.order - b.order)[0];
}

/** Creates the kernel side of an endpoint for a running sandbox. */
export function joinEndpoint(ctx: EngineContext, sb: SandboxRecord, ep: EndpointRecord, all: EndpointRecord[], trace?: PhaseTrace, held = false): void {
  const net = ctx.state.networks.get(ep.networkId)!;
  admitEndpoint(ctx, net);
  const gw = gatewayEndpoint(ctx, all);
  takePart(ctx, net);
  trace?.mark('take-part');
  const sealed = namespaceSealed(sb, ctx.state.sandboxes.values());
  driverOf(ctx, net).join(net, ep, { id: sb.id, nsPath: sb.nsPath! }, { gateway: gw?.id === ep.id, sealed, ...(held ? { held } : {}) });
  trace?.mark('join');
}

/**
 * A sandbox that may hold CAP_NET_ADMIN now shares `target`'s namespace (`--network
 * container:`): every port of `target` whose check lives inside that namespace is joined
 * again unsealed (the overlay's direct port becomes a guarded one: the same endpoint,
 * address and MAC). The caller holds `target`'s lock.
 */
export function unsealPorts(ctx: EngineContext, target: SandboxRecord): void {
  if (target.state.status !== 'running' || !target.nsPath) return;
  const all = ctx.state.endpointsOfSandbox(target.id);
  const gw = gatewayEndpoint(ctx, all);
  for (const ep of all) {
    const net = ctx.state.networks.get(ep.networkId);
    if (!net) continue;
    const driver = driverOf(ctx, net);
    if (!driver.portSealed?.(ep)) continue;
    driver.join(net, ep, { id: target.id, nsPath: target.nsPath }, { gateway: gw?.id === ep.id, sealed: false });
    ctx.log(`sandbox ${target.name}: its port on ${net.name} joined again outside its namespace (a sandbox sharing it may hold CAP_NET_ADMIN)`);
  }
}

export async function leaveEndpoint(ctx: EngineContext, sb: SandboxRecord, ep: EndpointRecord, trace?: PhaseTrace): Promise<void> {
  const net = ctx.state.networks.get(ep.networkId);
  if (!net || !sb.nsPath) return;
  await driverOf(ctx, net).leave(net, ep, { id: sb.id, nsPath: sb.nsPath });
  trace?.mark('leave');
  await leavePartIfIdle(ctx, net.id, ep.id);
  trace?.mark('idle-check');
}


/** The networks of a sandbox's endpoints. */
function networksOfSandbox(ctx: EngineContext, sbId: string): NetworkRecord[] {
  return ctx.state.endpointsOfSandbox(sbId).flatMap((e) => ctx.state.networks.get(e.networkId) ?? []);
}

/**
 * Connects a sandbox to a network; a first non-internal overlay also brings the gateway
 * bridge's endpoint (gateway-bridge.ts), and is undone if that fails.
 */
export async function connect(ctx: EngineContext, netRef: string, sbRef: string, settings: EndpointSettings): Promise<void> {
  const net = findNetwork(ctx, netRef);
  await connectOne(ctx, net, sbRef, settings);
  if (!egressByGatewayBridge(net)) return;
  const sbId = findSandbox(ctx, sbRef).id;
  const nets = networksOfSandbox(ctx, sbId);
  if (!needsGatewayBridge(nets) || nets.some(isGatewayBridge)) return;
  try {
    const gw = await ensureGatewayBridge(ctx);
    await connectOne(ctx, gw, sbId, {});
  } catch (err) {
    await disconnectOne(ctx, net, sbId, true).catch((e) => ctx.log(`undo connect: ${String(e)}`));
    throw err;
  }
}

async function connectOne(ctx: EngineContext, net: NetworkRecord, sbRef: string, settings: EndpointSettings): Promise<void> {
  const netRef = net.name;
  const sb0 = findSandbox(ctx, sbRef);
  const attach = driverOf(ctx, net).capabilities.attach;
  if (sb0.networkMode === 'host' || attach === 'host-netns') {
    throw invalid('HOST_NETWORK', 'cannot connect container to host network - container must be created in host network mode', 'Container');
  }
  if (sb0.networkMode.startsWith('container:')) {
    throw invalid('SHARED_NETNS', 'container sharing network namespace with another container or host cannot be connected to any other network', 'Container');
  }
  if (sb0.networkMode === 'none' || attach === 'loopback-only') {
    throw invalid('NONE_NETWORK', 'container cannot be connected to multiple networks with one of the networks in private (none) mode', 'Container');
  }
  const trace = PhaseTrace.start(`connect ${net.name}`);
  await ctx.locks.withLocks([sbLock(sb0.id), `net:${net.id}`], async () => {
    trace?.mark('lock');
    const sb = ctx.state.sandboxes.get(sb0.id);
    if (!sb) throw conflict('SANDBOX_GONE', `sandbox ${sbRef} was removed concurrently`);
    if (!ctx.state.networks.has(net.id)) throw conflict('NETWORK_GONE', `network ${netRef} was removed concurrently`);
    const siblings = ctx.state.endpointsOfSandbox(sb.id);
    let planned: PlannedEndpoint;
    let move: ReturnType<typeof movePorts>;
    // A global network whose driver can hold a port: the kernel work overlaps etcd's commit
    // (commitWhileJoining), and the port passes traffic once the commit succeeded.
    const driver = driverOf(ctx, net);
    const canHold = sb.state.status === 'running' && ctx.state.clustered && net.scope === 'global' && !!driver.release;
    let held = false;
    // A global network's dynamic address may lose its claim to another host (the watch had
    // not brought that host's endpoint yet): re-read the claims and take the next address.
    for (let attempt = 1; ; attempt++) {
      planned = planEndpoint(ctx, net, sb, settings, siblings);
      const all = [...siblings, planned.endpoint];
      // A sandbox without a gateway endpoint may get one now, and its published ports go with
      // it. They move before the endpoint exists in the kernel (a DNAT to an address that
      // appears a moment later is harmless), so that the endpoint, its address claims and the
      // sandbox's new bindings are ONE store commit. Not running: joined when it starts.
      move = movePorts(ctx, sb, all, siblings);
      trace?.mark('plan');
      const change: Change = { endpoints: [planned.endpoint], claims: planned.claims, ...(move ? { sandboxes: [{ ...sb, ports: move.ports }] } : {}) };
      try {
        // (Never the endpoint that carries the default route: a held port has no routes yet.)
        held = canHold && gatewayEndpoint(ctx, all)?.id !== planned.endpoint.id;
        if (held) await commitWhileJoining(ctx, sb, planned, move, change, all, trace);
        else await ctx.state.commit(change, trace);
        break;
      } catch (err) {
        move?.undo();
        const dynamic = !settings.ipv4 && !settings.ipv6;
        if (net.scope !== 'global' || !dynamic || attempt >= 5 || (err as { code?: string }).code !== 'ADDRESS_IN_USE') throw err;
        await ctx.state.refreshSharedClaims(net.id);
      }
    }
    const { endpoint } = planned;
    const all = [...siblings, endpoint];
    if (sb.state.status !== 'running') return;
    try {
      if (held) {
        driver.release!(net, endpoint, { id: sb.id, nsPath: sb.nsPath! });
        trace?.mark('release');
      } else joinEndpoint(ctx, sb, endpoint, all, trace);
      refreshNaming(ctx, sb);
      trace?.mark('naming');
    } catch (err) {
      await leaveEndpoint(ctx, sb, endpoint).catch((e) => ctx.log(`undo join: ${String(e)}`));
      move?.undo();
      await uncommitEndpoint(ctx, sb, planned, move);
      throw err;
    }
  });
  if (trace) ctx.log(trace.line());
}

/** Removes a committed new endpoint's records again (its join failed); the sandbox's ports as they were. */
async function uncommitEndpoint(ctx: EngineContext, sb: SandboxRecord, planned: PlannedEndpoint, move: ReturnType<typeof movePorts>): Promise<void> {
  await ctx.state.commit({
    removeEndpoints: [planned.endpoint.id],
    releases: planned.claims.map((c) => ({ networkId: c.networkId, ip: c.ip })),
    ...(move ? { sandboxes: [{ ...ctx.state.sandboxes.get(sb.id)!, ports: sb.ports }] } : {}),
  });
}

/**
 * A new endpoint's commit and its join at once (docs/CLUSTER.md "An attach's txn and join
 * overlap"): the shared txn is sent, the join intent written (join-intent.ts: the port must
 * never outlive a crash unexplained), then the port made held while etcd commits. Both
 * succeeded: the intent is dropped and the caller releases the port. Either failed: the port
 * is removed, the intent dropped, a commit that succeeded undone, and the first failure
 * thrown (the caller's retry sees the commit's).
 */
async function commitWhileJoining(ctx: EngineContext, sb: SandboxRecord, planned: PlannedEndpoint, move: ReturnType<typeof movePorts>, change: Change, all: EndpointRecord[], trace?: PhaseTrace): Promise<void> {
  const ep = planned.endpoint;
  const committing = ctx.state.commit(change, trace);
  committing.catch(() => undefined); // awaited below, after the join
  let joinErr: unknown;
  try {
    // One turn of the event loop first: the txn's HTTP/2 frames are written in its check
    // phase (setImmediate runs after them), and what follows keeps the loop for milliseconds:
    // the intent's local write (synchronous, ~0.25 ms; made before this turn, it held the
    // frames back by as much) and the join.
    await new Promise((resolve) => setImmediate(resolve));
    trace?.mark('send');
    await ctx.state.recordJoinIntent(ep);
    trace?.mark('intent');
    joinEndpoint(ctx, sb, ep, all, trace, true);
  } catch (err) {
    joinErr = err;
  }
  const committed = await committing.then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  if (!joinErr && !committed) {
    await ctx.state.dropJoinIntent(ep.id);
    return;
  }
  await leaveEndpoint(ctx, sb, ep).catch((e) => ctx.log(`undo join: ${String(e)}`));
  await ctx.state.dropJoinIntent(ep.id).catch((e) => ctx.log(`undo join: its intent: ${String(e)}`));
  if (joinErr && !committed) {
    await uncommitEndpoint(ctx, sb, planned, move);
    throw joinErr;
  }
  throw committed ? committed.err : joinErr;
}


/** Disconnects a sandbox from a network; its gateway bridge endpoint goes with its last overlay one. */
export async function disconnect(ctx: EngineContext, netRef: string, sbRef: string, force: boolean): Promise<void> {
  const net = findNetwork(ctx, netRef);
  await disconnectOne(ctx, net, sbRef, force);
  if (!egressByGatewayBridge(net)) return;
  const sb = ctx.state.sandboxes.get(findSandboxOrUndefined(ctx, sbRef) ?? '');
  if (!sb) return;
  const nets = networksOfSandbox(ctx, sb.id);
  const gw = nets.find(isGatewayBridge);
  if (gw && !needsGatewayBridge(nets.filter((n) => n.id !== gw.id))) await disconnectOne(ctx, gw, sb.id, true);
}

function findSandboxOrUndefined(ctx: EngineContext, ref: string): string | undefined {
  try {
    return findSandbox(ctx, ref).id;
  } catch {
    return undefined;
  }
}

async function disconnectOne(ctx: EngineContext, net: NetworkRecord, sbRef: string, force: boolean): Promise<void> {
  let sb0: SandboxRecord;
  try {
    sb0 = findSandbox(ctx, sbRef);
  } catch (err) {
    if (force) return; // the sandbox is gone, and so are its endpoints
    throw err;
  }
  if (sb0.networkMode === 'host' || driverOf(ctx, net).capabilities.attach === 'host-netns') {
    throw invalid('HOST_NETWORK', 'cannot disconnect container from host network - container was created in host network mode', 'Container');
  }
  const trace = PhaseTrace.start(`disconnect ${net.name}`);
  await ctx.locks.withLocks([sbLock(sb0.id), `net:${net.id}`], async () => {
    trace?.mark('lock');
    const sb = ctx.state.sandboxes.get(sb0.id);
    if (!sb) return;
    const all = ctx.state.endpointsOfSandbox(sb.id);
    const ep = all.find((e) => e.networkId === net.id);
    if (!ep) throw forbidden('NOT_CONNECTED', `container ${sb.name} is not connected to network ${net.name}`);
    const running = sb.state.status === 'running';
    let newGateway: EndpointRecord | undefined;
    if (running) {
      const before = gatewayEndpoint(ctx, all);
      await leaveEndpoint(ctx, sb, ep, trace);
      const rest = all.filter((e) => e.id !== ep.id);
      const after = gatewayEndpoint(ctx, rest);
      if (before?.id === ep.id && after) {
        const n2 = ctx.state.networks.get(after.networkId)!;
        driverOf(ctx, n2).setGateway?.(n2, after, { id: sb.id, nsPath: sb.nsPath! }, true);
        newGateway = after;
      }
      trace?.mark('gateway');
    }
    try {
      await ctx.state.commit(
        {
          removeEndpoints: [ep.id],
          releases: endpointAddresses(ep).map((ip) => ({ networkId: net.id, ip })),
        },
        trace,
      );
    } catch (err) {
      // The records stay (etcd unreachable, say): so does the sandbox's kernel side. It had
      // left already (the address is released only once nothing uses it): join it again.
      if (running) rejoinAfterFailedLeave(ctx, sb, ep, all, newGateway);
      throw err;
    }
    if (running) {
      refreshNaming(ctx, sb);
      trace?.mark('naming');
      await repointPorts(ctx, sb.id); // the ports leave the released address with the gateway
      trace?.mark('ports');
    }
  });
  if (trace) ctx.log(trace.line());
}

/** Undoes a disconnect's kernel work when its commit failed: the gateway back, the endpoint joined again. */
function rejoinAfterFailedLeave(ctx: EngineContext, sb: SandboxRecord, ep: EndpointRecord, all: EndpointRecord[], newGateway: EndpointRecord | undefined): void {
  const sbNs = { id: sb.id, nsPath: sb.nsPath! };
  try {
    if (newGateway) {
      const n2 = ctx.state.networks.get(newGateway.networkId)!;
      driverOf(ctx, n2).setGateway?.(n2, newGateway, sbNs, false);
    }
    joinEndpoint(ctx, sb, ep, all);
  } catch (e) {
    ctx.log(`undo disconnect of ${sb.name}: join again: ${String(e)}`);
  }
}

/**
 * After a connect or disconnect: rewrite what changed of /etc (usually only hosts) and
 * start or stop the embedded DNS for the sandbox when its first user-defined network
 * came or its last one went (resolv.conf switches between the two forms then).
 */
function refreshNaming(ctx: EngineContext, sb: SandboxRecord): void {
  writeSandboxFiles(ctx, sb);
  if (!sb.nsPath || sb.networkMode === 'host') return;
  // Without a user-defined network the resolver is parked (REFUSED), not closed: a connect
  // back to one then costs no socket work.
  if (usesEmbeddedDns(ctx, sb)) ctx.dns.attach(sb.id, sb.nsPath);
  else ctx.dns.park(sb.id, sb.nsPath);
}
