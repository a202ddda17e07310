/**
 * Which endpoint publishes a sandbox's ports, and the request the ports service gets.
 * Only the gateway endpoint publishes (Docker's rule); with no gateway endpoint (an
 * internal-only or none sandbox) nothing is published.
 */
import type { EngineContext, PublishRequest } from './context.js';
import type { EndpointRecord, PublishedPort, SandboxRecord } from './types.js';
import { gatewayEndpoint } from './endpoint-ops.js';
import { driverOf } from './context.js';

const bare = (cidr: string): string => cidr.split('/')[0]!;

export function publishRequest(ctx: EngineContext, sb: SandboxRecord, endpoints = ctx.state.endpointsOfSandbox(sb.id)): PublishRequest | undefined {
  if (!sb.publish.length && !sb.publishAll) return undefined;
  const gw = gatewayEndpoint(ctx, endpoints);
  if (!gw) return undefined;
  const net = ctx.state.networks.get(gw.networkId)!;
  const via = driverOf(ctx, net).publishTarget?.(net);
  if (!via) return undefined;
  // Routed: the endpoint's own veth (syr…) is where the DNATed packets leave.
  const link = via.endpointLink ? gw.hostLink : via.link;
  if (!link) return undefined;
  return {
    sandboxId: sb.id,
    requests: sb.publish,
    publishAll: sb.publishAll,
    expose: sb.expose,
    // An external sandbox's runtime holds its host ports itself (Podman binds them after the
    // CNI ADD, as it does for the reference portmap plugin): Switchyard reserves them in its
    // books only (docs/frontends/cni.md, "Published ports").
    ...(sb.owner === 'external' ? { hostSockets: false } : {}),
    target: {
      bridge: link,
      ...(gw.ipv4 ? { containerIPv4: bare(gw.ipv4) } : {}),
      ...(gw.ipv6 ? { containerIPv6: bare(gw.ipv6) } : {}),
      defaultHostIp: via.defaultHostIp ?? ctx.config.defaultBindIp,
    },
  };
}

/**
 * The bindings of `bindings` pointed at the target's current addresses: the same host
 * ports, the gateway endpoint's container address (a binding whose family the target
 * lacks is dropped).
 */
function retarget(req: PublishRequest, bindings: PublishedPort[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const b of bindings) {
    const ip = b.hostIp.includes(':') ? req.target.containerIPv6 : req.target.containerIPv4;
    if (ip) out.push({ ...b, containerIp: ip });
  }
  return out;
}

const sameTargets = (a: PublishedPort[], b: PublishedPort[]): boolean =>
  a.length === b.length && a.every((p, i) => p.containerIp === b[i]!.containerIp);

/** A move of a sandbox's published ports, done in the kernel and the port holders. */
export interface PortMove {
  /** The sandbox's bindings after the move (the caller records them). */
  ports: PublishedPort[];
  /** Puts the bindings back as they were before the move (for an operation that failed later). */
  undo(): void;
}

/**
 * Ports follow the gateway endpoint (Docker moves them with the gateway too): when the
 * sandbox's endpoints become `endpoints`, the DNAT elements must point at the new gateway
 * endpoint's addresses, and never at an address that was released (it may be handed to
 * another sandbox next). Keeps the host ports. Does the kernel and holder side only;
 * undefined when nothing moves. `before`, the endpoints the ports follow now, lets a
 * failure (or undo()) put the old bindings back.
 */
export function movePorts(ctx: EngineContext, sb: SandboxRecord, endpoints: EndpointRecord[], before?: EndpointRecord[]): PortMove | undefined {
  const ports = ctx.ports;
  if (!ports || sb.state.status !== 'running') return undefined;
  const req = publishRequest(ctx, sb, endpoints);
  const wanted = req ? (sb.ports.length ? retarget(req, sb.ports) : undefined) : [];
  if (wanted && sameTargets(wanted, sb.ports)) return undefined;
  const old = sb.ports;
  const oldReq = before ? publishRequest(ctx, sb, before) : undefined;
  const putBack = (): void => {
    if (!old.length || !oldReq) return;
    try {
      ports.restore(oldReq, old);
    } catch (err) {
      ctx.log(`ports of ${sb.name}: could not put them back: ${String(err)}`);
    }
  };
  if (old.length) ports.unpublish(sb.id, old);
  let now: PublishedPort[];
  try {
    if (req && wanted) {
      ports.restore(req, wanted);
      now = wanted;
    } else {
      now = req ? ports.publish(req) : [];
    }
  } catch (err) {
    putBack();
    throw err;
  }
  return {
    ports: now,
    undo: () => {
      if (now.length) ports.unpublish(sb.id, now);
      putBack();
    },
  };
}

/**
 * movePorts for the sandbox's current endpoints, recorded: after a change of its gateway
 * endpoint, and to repair a record left behind by a crash in the middle of a move.
 */
export async function repointPorts(ctx: EngineContext, sandboxId: string): Promise<void> {
  const sb = ctx.state.sandboxes.get(sandboxId);
  if (!sb) return;
  const move = movePorts(ctx, sb, ctx.state.endpointsOfSandbox(sb.id));
  if (move) await ctx.state.commit({ sandboxes: [{ ...ctx.state.sandboxes.get(sandboxId)!, ports: move.ports }] });
}
