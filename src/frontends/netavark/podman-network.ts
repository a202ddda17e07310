/**
 * A Podman network as a Switchyard network: the Docker-style create request the daemon makes
 * on the fly (same name, Podman's bridge name, subnets and gateways, --internal, IPv6; for a
 * macvlan network its parent interface and mode), marked
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

/** netavark's macvlan `mode` option (Podman: `-o mode=`), as Switchyard's `macvlan_mode`. */
const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'];

/** The driver and its options: a bridge's name, or a macvlan's parent and mode. */
function driverOf(n: PodmanNetwork, field: string): { driver: string; options: Record<string, string> } {
  if (n.driver === 'bridge') return { driver: 'bridge', options: n.networkInterface ? { [BRIDGE_NAME]: n.networkInterface } : {} };
  if (n.driver === 'macvlan') {
    // netavark falls back to the interface of the host's default route; Switchyard's
    // macvlan without a parent would be a different network (internal only), so it is refused.
    if (!n.networkInterface) {
      throw invalid('NETAVARK_UNSUPPORTED', `${field}.network_interface: a macvlan network needs its parent interface (podman network create -d macvlan -o parent=IFACE)`, `${field}.network_interface`);
    }
    const mode = n.options['mode'] ?? 'bridge';
    if (!MACVLAN_MODES.includes(mode)) {
      throw invalid('NETAVARK_BAD_OPTIONS', `${field}.options.mode: unknown macvlan mode ${mode} (one of ${MACVLAN_MODES.join(', ')})`, `${field}.options.mode`);
    }
    return { driver: 'macvlan', options: { parent: n.networkInterface, macvlan_mode: mode } };
  }
  if (n.driver === 'ipvlan') {
    throw invalid('NETAVARK_UNSUPPORTED', `${field}.driver: ipvlan networks are not taken yet (netavark 1.4 has no ipvlan driver either; use macvlan or bridge)`, `${field}.driver`);
  }
  throw invalid('NETAVARK_UNSUPPORTED', `${field}.driver: unsupported driver ${n.driver} (Switchyard's netavark runs bridge and macvlan networks)`, `${field}.driver`);
}

export function createRequestOf(n: PodmanNetwork): NetworkCreateRequest {
  const field = `network_info.${n.name}`;
  const { driver, options } = driverOf(n, field);
  if (n.ipamDriver && n.ipamDriver !== 'host-local') {
    throw invalid('NETAVARK_UNSUPPORTED', `${field}.ipam_options.driver: unsupported IPAM driver ${n.ipamDriver} (Podman's host-local only)`, `${field}.ipam_options`);
  }
  const v6 = n.subnets.some((s) => s.subnet.includes(':'));
  const v4 = n.subnets.some((s) => !s.subnet.includes(':')) || n.subnets.length === 0;
  if (n.options['mtu']) options[MTU] = n.options['mtu'];
  return {
    Name: n.name,
    Driver: driver,
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
