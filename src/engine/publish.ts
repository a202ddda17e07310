/**
 * Which endpoint publishes a sandbox's ports, and the request the ports service gets.
 * Only the gateway endpoint publishes (Docker's rule); with no gateway endpoint (an
 * internal-only or none sandbox) nothing is published.
 */
import type { EngineContext, PublishRequest } from './context.js';
import type { PublishedPort, SandboxRecord } from './types.js';
import { gatewayEndpoint } from './endpoint-ops.js';
import { BRIDGE_OPT } from '../drivers/bridge.js';

const bare = (cidr: string): string => cidr.split('/')[0]!;

export function publishRequest(ctx: EngineContext, sb: SandboxRecord): PublishRequest | undefined {
  if (!sb.publish.length && !sb.publishAll) return undefined;
  const gw = gatewayEndpoint(ctx, ctx.state.endpointsOfSandbox(sb.id));
  if (!gw) return undefined;
  const net = ctx.state.networks.get(gw.networkId)!;
  if (!net.bridgeName) return undefined;
  return {
    sandboxId: sb.id,
    requests: sb.publish,
    publishAll: sb.publishAll,
    expose: sb.expose,
    target: {
      bridge: net.bridgeName,
      ...(gw.ipv4 ? { containerIPv4: bare(gw.ipv4) } : {}),
      ...(gw.ipv6 ? { containerIPv6: bare(gw.ipv6) } : {}),
      defaultHostIp: net.options[BRIDGE_OPT.hostBinding] || ctx.config.defaultBindIp,
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

/**
 * Ports follow the gateway endpoint (Docker moves them with the gateway too): after a
 * connect or disconnect changed it, the DNAT elements must not keep pointing at an
 * address that was released (and may be handed to another sandbox next). Keeps the host
 * ports; also repairs a record left behind by a crash in the middle of a move.
 */
export async function repointPorts(ctx: EngineContext, sandboxId: string): Promise<void> {
  const sb = ctx.state.sandboxes.get(sandboxId);
  if (!ctx.ports || !sb || sb.state.status !== 'running') return;
  const req = publishRequest(ctx, sb);
  const wanted = req ? (sb.ports.length ? retarget(req, sb.ports) : undefined) : [];
  if (wanted && sameTargets(wanted, sb.ports)) return;
  if (sb.ports.length) ctx.ports.unpublish(sb.id, sb.ports);
  let ports: PublishedPort[] = [];
  if (req && wanted) {
    ctx.ports.restore(req, wanted);
    ports = wanted;
  } else if (req) {
    ports = ctx.ports.publish(req);
  }
  await ctx.state.commit({ sandboxes: [{ ...ctx.state.sandboxes.get(sandboxId)!, ports }] });
}
