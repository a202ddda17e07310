/**
 * A Podman network as a Switchyard network: the Docker-style create request the daemon makes
 * on the fly (same name, Podman's bridge name, subnets and gateways, --internal, IPv6), marked
 * by origin with labels so `switchyard network ls --filter label=com.switchyard.origin=podman`
 * shows them apart from Switchyard's own. Pure.
 */
import { invalid } from '../../errors.js';
import type { NetworkCreateRequest } from '../../model/network-spec.js';
import type { PodmanNetwork } from './network-options.js';

export const ORIGIN_LABEL = 'com.switchyard.origin';
export const ORIGIN_PODMAN = 'podman';
/** Podman's network id, so a network Podman removed and made again is told apart. */
export const PODMAN_ID_LABEL = 'com.switchyard.podman.id';

const BRIDGE_NAME = 'com.docker.network.bridge.name';
const MTU = 'com.docker.network.driver.mtu';

export function createRequestOf(n: PodmanNetwork): NetworkCreateRequest {
  const field = `network_info.${n.name}`;
  if (n.driver !== 'bridge') {
    throw invalid('NETAVARK_UNSUPPORTED', `${field}.driver: unsupported driver ${n.driver} (Switchyard's netavark runs bridge networks)`, `${field}.driver`);
  }
  if (n.ipamDriver && n.ipamDriver !== 'host-local') {
    throw invalid('NETAVARK_UNSUPPORTED', `${field}.ipam_options.driver: unsupported IPAM driver ${n.ipamDriver} (Podman's host-local only)`, `${field}.ipam_options`);
  }
  const v6 = n.subnets.some((s) => s.subnet.includes(':'));
  const v4 = n.subnets.some((s) => !s.subnet.includes(':')) || n.subnets.length === 0;
  const options: Record<string, string> = {};
  if (n.networkInterface) options[BRIDGE_NAME] = n.networkInterface;
  if (n.options['mtu']) options[MTU] = n.options['mtu'];
  return {
    Name: n.name,
    Driver: 'bridge',
    EnableIPv4: v4,
    EnableIPv6: n.ipv6Enabled || v6,
    Internal: n.internal,
    IPAM: { Driver: 'default', Config: n.subnets.map((s) => ({ Subnet: s.subnet, ...(s.gateway ? { Gateway: s.gateway } : {}) })) },
    Options: options,
    Labels: { [ORIGIN_LABEL]: ORIGIN_PODMAN, [PODMAN_ID_LABEL]: n.id },
  };
}

/** Whether a Switchyard network's labels say it is this Podman network. */
export function isPodmanNetwork(labels: Readonly<Record<string, string>> | undefined, n?: PodmanNetwork): boolean {
  if (labels?.[ORIGIN_LABEL] !== ORIGIN_PODMAN) return false;
  return n === undefined || labels[PODMAN_ID_LABEL] === n.id;
}
