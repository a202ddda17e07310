/**
 * The gateway bridge (Docker's `docker_gwbridge`, docs/drivers/overlay.md "Gateway bridge"):
 * a local bridge network, `switchyard_gwbridge`, made on first need with inter-container
 * traffic off and masquerade on. A sandbox whose networks include a non-internal global
 * (overlay) network and no local network that gives it a default route gets one more
 * endpoint there: it carries the sandbox's default route and its `-p` ports on its own host
 * (the overlay's endpoint never does: gatewayEndpoint skips global networks). It goes with
 * the sandbox's last such overlay endpoint.
 */
import type { EngineContext } from './context.js';
import type { NetworkRecord } from '../model/records.js';
import { validateNetworkCreate } from '../model/network-spec.js';
import { createNetwork } from './network-ops.js';
import { conflict } from '../errors.js';

export const GATEWAY_BRIDGE = 'switchyard_gwbridge';
/** The bridge device's name in the daemon's namespace. */
export const GATEWAY_BRIDGE_DEVICE = 'sy_gwbridge';

/** An overlay network: its endpoints reach out through the gateway bridge, never through the overlay itself. */
export function egressByGatewayBridge(net: NetworkRecord): boolean {
  return net.scope === 'global' && net.driver === 'overlay';
}

export function isGatewayBridge(net: NetworkRecord): boolean {
  return net.name === GATEWAY_BRIDGE && net.scope === 'local' && net.driver === 'bridge';
}

/**
 * Whether a sandbox on `nets` needs an endpoint on the gateway bridge: it is on a
 * non-internal overlay network, and on no local non-internal network with a gateway (that
 * one gives it its default route and ports, as in Docker).
 */
export function needsGatewayBridge(nets: readonly NetworkRecord[]): boolean {
  const overlay = nets.some((n) => egressByGatewayBridge(n) && !n.internal);
  const routed = nets.some((n) => n.scope === 'local' && !n.internal && !isGatewayBridge(n) && n.pools.some((p) => !!p.gateway));
  return overlay && !routed;
}

/** The gateway bridge network, made now if this host has none (a concurrent maker wins = fine). */
export async function ensureGatewayBridge(ctx: EngineContext): Promise<NetworkRecord> {
  const have = ctx.state.networkByName(GATEWAY_BRIDGE);
  if (have) return have;
  const spec = validateNetworkCreate({
    Name: GATEWAY_BRIDGE,
    Driver: 'bridge',
    Options: {
      'com.docker.network.bridge.name': GATEWAY_BRIDGE_DEVICE,
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
    },
  });
  try {
    await createNetwork(ctx, spec);
  } catch (err) {
    if ((err as { code?: string }).code !== 'NETWORK_EXISTS') throw err;
  }
  const made = ctx.state.networkByName(GATEWAY_BRIDGE);
  if (!made) throw conflict('NETWORK_GONE', `network ${GATEWAY_BRIDGE} was removed while it was being made`);
  return made;
}
