/**
 * Attachments: endpoints in network namespaces that a caller owns (an "external" sandbox),
 * shaped so that CNI ADD/DEL/CHECK/GC, netavark setup/teardown and the Docker remote
 * driver's CreateEndpoint/Join/Leave/DeleteEndpoint are each a thin translation:
 *  - attach is idempotent per (sandbox id, network, ifname): a repeated ADD returns the
 *    same result and changes nothing;
 *  - detach of what is already gone is success, and can be repeated;
 *  - teardown returns what failed (a TeardownReport of coded errors) instead of logging.
 * An external sandbox has no process and no /etc files; reconcile keeps it while its
 * namespace exists (reconcile.ts).
 */
import { createHash } from 'node:crypto';
import type { EngineContext } from './context.js';
import { driverOf, timestamp, ZERO_TIME } from './context.js';
import type { AttachRequest, AttachResult, AttachmentRef, TeardownReport } from './contract.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/records.js';
import { RECORD_VERSION } from '../model/records.js';
import { isValidIfname } from '../model/driver-options.js';
import { parseCidr } from '../model/ip.js';
import { asSwitchyardError, conflict, invalid, notFound, notImplemented, SwitchyardError } from '../errors.js';
import { findNetwork, admitEndpoint, netLock } from './network-ops.js';
import { gatewayEndpoint, planEndpoint, sbLock } from './endpoint-ops.js';
import { endpointAddresses } from './state.js';
import { givenIpam, poolIpam } from './ipam.js';
import { usesEmbeddedDns } from './sandbox-files.js';
import { publishRequest } from './publish.js';
import type { AttachPort } from '../model/attachments.js';
import type { PortRequest } from '../model/records.js';
import { canonicalIp } from '../model/ip.js';
import { leavePartIfIdle, takePart } from './cluster-peers.js';

/** The embedded DNS's address inside every namespace it serves. */
const EMBEDDED_RESOLVER = '127.0.0.11';

const EXTERNAL_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** The record id of the external sandbox with the caller's id (stable, so every call finds it). */
export function externalSandboxId(externalId: string): string {
  return createHash('sha256').update(`switchyard-external:${externalId}`).digest('hex');
}

function checkRef(r: { sandboxId: string; ifname: string }): void {
  if (typeof r.sandboxId !== 'string' || !EXTERNAL_ID.test(r.sandboxId)) {
    throw invalid('INVALID_SANDBOX_ID', 'the sandbox id must be 1-128 characters of [A-Za-z0-9_.:-], starting with a letter or digit', 'Sandbox.ID');
  }
  if (typeof r.ifname !== 'string' || !isValidIfname(r.ifname)) {
    throw invalid('INVALID_IFNAME', `invalid interface name ${JSON.stringify(r.ifname)}: 1-15 of [A-Za-z0-9_.-], starting with a letter or digit`, 'Ifname');
  }
}

const externalOf = (ctx: EngineContext, externalId: string): SandboxRecord | undefined => {
  const sb = ctx.state.sandboxes.get(externalSandboxId(externalId));
  return sb?.owner === 'external' ? sb : undefined;
};

function resultOf(ctx: EngineContext, sb: SandboxRecord, ep: EndpointRecord): AttachResult {
  const net = ctx.state.networks.get(ep.networkId)!;
  return {
    sandboxId: sb.externalId!,
    networkId: net.id,
    network: net.name,
    ifname: ep.ifname,
    mac: ep.mac,
    addresses: [ep.ipv4, ep.ipv6].filter((a): a is string => !!a),
    gateways: [ep.gateway, ep.ipv6Gateway].filter((a): a is string => !!a),
    ...(ep.hostLink ? { hostLink: ep.hostLink } : {}),
    ...(usesEmbeddedDns(ctx, sb) ? { dns: { nameservers: [EMBEDDED_RESOLVER] } } : {}),
  };
}

/**
 * Serves the embedded DNS in the external sandbox's namespace while it has an endpoint on a
 * user-defined network, and closes its sockets once it has none. lo is set up first: the
 * listeners bind 127.0.0.11, which exists only while lo is up, and a runtime may run its
 * loopback plugin after ours (or not at all).
 */
export function syncExternalDns(ctx: EngineContext, sb: SandboxRecord): void {
  if (sb.nsPath && ctx.state.sandboxes.has(sb.id) && usesEmbeddedDns(ctx, sb) && ctx.host.sandboxNetnsPresent(sb.nsPath)) {
    ctx.host.ensureLoopbackUp(sb.nsPath);
    ctx.dns.attach(sb.id, sb.nsPath);
  } else {
    ctx.dns.detach(sb.id);
  }
}

/** The static addresses of a request, one per family at most (bare addresses for the planner). */
function givenAddresses(addresses: readonly string[] | undefined): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const [i, text] of (addresses ?? []).entries()) {
    const field = `Addresses[${i}]`;
    if (typeof text !== 'string') throw invalid('INVALID_ADDRESS', 'an address must be a string', field);
    if (text.includes('/')) parseCidr(text, field); // the prefix must be valid; the network's is used
    const bare = text.split('/')[0]!;
    const family = bare.includes(':') ? 'ipv6' : 'ipv4';
    if (out[family]) throw invalid('INVALID_ADDRESS', `more than one IPv${family === 'ipv4' ? 4 : 6} address given`, field);
    out[family] = bare;
  }
  return out;
}

/** CNI portMappings as the sandbox's port requests (`run -p hostIP:hostPort:containerPort/proto`). */
export function portRequests(ports: readonly AttachPort[] | undefined): PortRequest[] {
  if (ports === undefined || ports === null) return [];
  if (!Array.isArray(ports)) throw invalid('INVALID_PORT', 'Ports must be a list', 'Ports');
  return ports.map((p, i) => {
    const field = `Ports[${i}]`;
    const port = (v: unknown, k: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw invalid('INVALID_PORT', `${k} must be a port number 1-65535`, `${field}.${k}`);
      return v;
    };
    if (p === null || typeof p !== 'object') throw invalid('INVALID_PORT', 'a port mapping must be an object', field);
    const proto = p.protocol ?? 'tcp';
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalid('INVALID_PORT', 'protocol must be tcp, udp or sctp', `${field}.protocol`);
    const hostIp = p.hostIP ? canonicalIp(p.hostIP, `${field}.hostIP`) : '';
    return { hostPort: port(p.hostPort, 'hostPort'), containerPort: port(p.containerPort, 'containerPort'), proto, hostIp };
  });
}

/**
 * Publishes the sandbox's port requests once it has a gateway endpoint (publish.ts: the
 * driver's publish target; none for drivers without one, as for `run -p` on them) and
 * commits the bindings into its record; `undo` releases them.
 */
async function publishExternal(ctx: EngineContext, sb: SandboxRecord): Promise<{ undo: () => void }> {
  const current = ctx.state.sandboxes.get(sb.id) ?? sb;
  const pub = ctx.ports && !current.ports.length ? publishRequest(ctx, current) : undefined;
  if (!ctx.ports || !pub) return { undo: () => {} };
  const ports = ctx.ports.publish(pub);
  const undo = () => ctx.ports!.unpublish(sb.id, ports);
  try {
    await ctx.state.commit({ sandboxes: [{ ...current, ports }] });
  } catch (err) {
    undo();
    throw err;
  }
  return { undo };
}

export async function attach(ctx: EngineContext, req: AttachRequest): Promise<AttachResult> {
  const ref = { sandboxId: req.sandbox?.id, ifname: req.ifname };
  checkRef(ref);
  const nsPath = req.sandbox.nsPath;
  if (typeof nsPath !== 'string' || !nsPath.startsWith('/')) throw invalid('INVALID_NETNS', 'the namespace path must be absolute', 'Sandbox.NsPath');
  if (!ctx.host.sandboxNetnsPresent(nsPath)) throw notFound('NETNS_NOT_FOUND', `${nsPath} is not a network namespace`);
  const net = findNetwork(ctx, req.network);
  const driver = driverOf(ctx, net);
  if (driver.capabilities.attach !== 'endpoint') {
    throw invalid('NETWORK_NOT_ATTACHABLE', `network ${net.name} (driver ${driver.name}) gives no interface to attach`, 'Network');
  }
  if (req.handOver && !driver.capabilities.handsOverLinks) {
    throw notImplemented('HAND_OVER_NOT_SUPPORTED', `the ${driver.name} driver cannot hand its links over to the caller yet: it configures the sandbox end itself`, 'HandOver');
  }
  const publish = portRequests(req.ports);
  const id = externalSandboxId(ref.sandboxId);
  return ctx.locks.withLocks([sbLock(id), netLock(net.id)], async () => {
    const existing = externalOf(ctx, ref.sandboxId);
    if (ctx.state.sandboxes.has(id) && !existing) throw conflict('SANDBOX_ID_IN_USE', `sandbox id ${ref.sandboxId} is not an external sandbox`);
    if (existing && existing.nsPath !== nsPath) {
      throw conflict('ATTACHMENT_NETNS_MISMATCH', `sandbox ${ref.sandboxId} is attached in ${existing.nsPath}, not ${nsPath}`);
    }
    const siblings = existing ? ctx.state.endpointsOfSandbox(id) : [];
    const same = siblings.find((e) => e.networkId === net.id);
    if (same) {
      // A repeated ADD: the same answer, nothing changes.
      if (same.ifname !== ref.ifname) throw conflict('ALREADY_ATTACHED', `sandbox ${ref.sandboxId} is already attached to network ${net.name} as ${same.ifname}`);
      return resultOf(ctx, existing!, same);
    }
    if (siblings.some((e) => e.ifname === ref.ifname)) {
      throw conflict('IFNAME_IN_USE', `sandbox ${ref.sandboxId} already has an interface ${ref.ifname} from another network`);
    }
    const base: SandboxRecord = existing ?? {
      v: RECORD_VERSION,
      id,
      owner: 'external',
      externalId: ref.sandboxId,
      name: `external-${id.slice(0, 12)}`,
      hostname: '',
      created: timestamp(ctx.now()),
      command: [],
      env: [],
      networkMode: net.name,
      nsPath,
      state: { status: 'running', pid: 0, exitCode: 0, startedAt: timestamp(ctx.now()), finishedAt: ZERO_TIME, error: '' },
      dns: { servers: [], search: [], options: [] },
      links: [],
      publish: [],
      publishAll: false,
      expose: [],
      ports: [],
      autoRemove: false,
      dir: '',
    };
    // Ports asked for by a sandbox that publishes none yet (a repeat, or a second network's
    // ADD with the same mappings, leaves the published ones as they are).
    const sb: SandboxRecord = publish.length && !base.publish.length && !base.ports.length ? { ...base, publish } : base;
    const { endpoint, claims } = planEndpoint(ctx, net, sb, {
      ifname: ref.ifname,
      aliases: req.aliases ?? [],
      ...givenAddresses(req.addresses),
      ...(req.mac ? { mac: req.mac } : {}),
    }, siblings, undefined, req.addresses?.length ? givenIpam : poolIpam);
    admitEndpoint(ctx, net);
    await ctx.state.commit({ endpoints: [endpoint], claims, ...(existing && sb === existing ? {} : { sandboxes: [sb] }) });
    let unpublish = () => {};
    try {
      const all = [...siblings, endpoint];
      // A global network: this host takes part in it (its kernel state, the peers) as for a sandbox's join.
      takePart(ctx, net);
      driver.join(net, endpoint, { id, nsPath }, { gateway: gatewayEndpoint(ctx, all)?.id === endpoint.id });
      syncExternalDns(ctx, sb);
      if (sb.publish.length) unpublish = (await publishExternal(ctx, sb)).undo;
    } catch (err) {
      try {
        unpublish();
      } catch (e) {
        ctx.log(`undo attach: ports: ${String(e)}`);
      }
      await driver.leave(net, endpoint, { id, nsPath }).catch((e) => ctx.log(`undo attach: ${String(e)}`));
      await leavePartIfIdle(ctx, net.id, endpoint.id).catch((e) => ctx.log(`undo attach: ${String(e)}`));
      await ctx.state.commit({
        removeEndpoints: [endpoint.id],
        releases: claims.map((c) => ({ networkId: c.networkId, ip: c.ip })),
        ...(existing ? (sb === existing ? {} : { sandboxes: [existing] }) : { removeSandboxes: [id] }),
      });
      try {
        syncExternalDns(ctx, sb);
      } catch (e) {
        ctx.log(`undo attach: dns: ${String(e)}`);
      }
      throw err;
    }
    return resultOf(ctx, ctx.state.sandboxes.get(id) ?? sb, endpoint);
  });
}

/** Removes one attachment. Already gone (sandbox, network or endpoint) = success. */
export async function detach(ctx: EngineContext, r: AttachmentRef): Promise<TeardownReport> {
  checkRef(r);
  const report: TeardownReport = { errors: [] };
  const sb = externalOf(ctx, r.sandboxId);
  if (!sb) return report;
  let net: NetworkRecord;
  try {
    net = findNetwork(ctx, r.network);
  } catch {
    return report;
  }
  await ctx.locks.withLocks([sbLock(sb.id), netLock(net.id)], async () => {
    const ep = ctx.state.endpointsOfSandbox(sb.id).find((e) => e.networkId === net.id && e.ifname === r.ifname);
    if (!ep) return;
    await removeEndpoint(ctx, sb, net, ep, report);
  });
  return report;
}

async function removeEndpoint(ctx: EngineContext, sb: SandboxRecord, net: NetworkRecord, ep: EndpointRecord, report: TeardownReport): Promise<void> {
  // Published ports pointing at this endpoint go with it (before its address is released).
  const current = ctx.state.sandboxes.get(sb.id) ?? sb;
  const mine = new Set(endpointAddresses(ep).map((a) => a.split('/')[0]));
  const bound = current.ports.filter((p) => mine.has(p.containerIp));
  if (ctx.ports && bound.length) {
    try {
      ctx.ports.unpublish(sb.id, current.ports);
    } catch (err) {
      report.errors.push(asSwitchyardError(err));
    }
  }
  const portsGone = bound.length ? { sandboxes: [{ ...current, ports: [], publish: [] }] } : {};
  const nsPresent = ctx.host.sandboxNetnsPresent(sb.nsPath!);
  if (nsPresent) {
    try {
      await driverOf(ctx, net).leave(net, ep, { id: sb.id, nsPath: sb.nsPath! });
    } catch (err) {
      report.errors.push(asSwitchyardError(err));
    }
  } else {
    try {
      driverOf(ctx, net).releaseSandbox?.({ id: sb.id, nsPath: sb.nsPath! }, [{ net, ep }]);
    } catch (err) {
      report.errors.push(asSwitchyardError(err));
    }
  }
  const last = ctx.state.endpointsOfSandbox(sb.id).length === 1;
  await ctx.state.commit({
    removeEndpoints: [ep.id],
    releases: endpointAddresses(ep).map((ip) => ({ networkId: net.id, ip })),
    ...(last ? { removeSandboxes: [sb.id] } : portsGone),
  });
  try {
    // The last local endpoint on a global network: this host's part in it goes.
    await leavePartIfIdle(ctx, net.id);
  } catch (err) {
    report.errors.push(asSwitchyardError(err));
  }
  try {
    syncExternalDns(ctx, sb);
  } catch (err) {
    report.errors.push(asSwitchyardError(err));
  }
}

/** CNI CHECK: the attachment exists and its kernel state is in place. */
export async function check(ctx: EngineContext, r: AttachmentRef): Promise<AttachResult> {
  checkRef(r);
  const sb = externalOf(ctx, r.sandboxId);
  const net = findNetwork(ctx, r.network);
  const ep = sb && ctx.state.endpointsOfSandbox(sb.id).find((e) => e.networkId === net.id && e.ifname === r.ifname);
  if (!sb || !ep) throw notFound('ATTACHMENT_NOT_FOUND', `no attachment of ${r.sandboxId} to network ${net.name} as ${r.ifname}`);
  if (!ctx.host.sandboxNetnsPresent(sb.nsPath!)) throw conflict('NETNS_GONE', `the namespace ${sb.nsPath} of ${r.sandboxId} is gone`);
  if (!driverOf(ctx, net).endpointPresent(net, ep, { id: sb.id, nsPath: sb.nsPath! })) {
    throw conflict('ATTACHMENT_BROKEN', `the interface ${r.ifname} of ${r.sandboxId} on network ${net.name} is missing or incomplete`);
  }
  return resultOf(ctx, sb, ep);
}

/**
 * CNI GC: removes every external attachment not in `keep` (by sandbox id and ifname). With
 * `network`, only attachments to that network are considered, as a CNI runtime collects one
 * network configuration at a time; a network that does not exist has nothing to collect.
 */
export async function gc(ctx: EngineContext, keep: readonly { sandboxId: string; ifname: string }[], network?: string): Promise<TeardownReport> {
  const wanted = new Set(keep.map((k) => `${k.sandboxId}\u0000${k.ifname}`));
  const report: TeardownReport = { errors: [] };
  let only: string | undefined;
  if (network !== undefined) {
    try {
      only = findNetwork(ctx, network).id;
    } catch (err) {
      if (err instanceof SwitchyardError && err.kind === 'not-found') return report;
      throw err;
    }
  }
  for (const sb of [...ctx.state.sandboxes.values()]) {
    if (sb.owner !== 'external') continue;
    for (const ep of ctx.state.endpointsOfSandbox(sb.id)) {
      if (wanted.has(`${sb.externalId}\u0000${ep.ifname}`)) continue;
      if (only !== undefined && ep.networkId !== only) continue;
      const net = ctx.state.networks.get(ep.networkId);
      if (!net) continue;
      const r = await detach(ctx, { sandboxId: sb.externalId!, network: net.id, ifname: ep.ifname });
      report.errors.push(...r.errors);
    }
  }
  return report;
}

/** Reconcile: an external sandbox whose namespace is gone is dropped (its records and claims). */
export async function dropExternal(ctx: EngineContext, sb: SandboxRecord): Promise<TeardownReport> {
  const report: TeardownReport = { errors: [] };
  for (const ep of ctx.state.endpointsOfSandbox(sb.id)) {
    const net = ctx.state.networks.get(ep.networkId);
    if (net) await removeEndpoint(ctx, sb, net, ep, report);
  }
  if (ctx.state.sandboxes.has(sb.id)) await ctx.state.commit({ removeSandboxes: [sb.id] });
  ctx.dns.detach(sb.id);
  return report;
}
