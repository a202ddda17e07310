/**
 * Which endpoint publishes a sandbox's ports, and the request the ports service gets.
 * Only the gateway endpoint publishes (Docker's rule); with no gateway endpoint (an
 * internal-only or none sandbox) nothing is published.
 */
import type { EngineContext, PublishRequest } from './context.js';
import type { SandboxRecord } from './types.js';
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
