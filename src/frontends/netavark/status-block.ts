/**
 * netavark's answer to `setup`: a map from network name to StatusBlock (netavark v1.4
 * src/network/types.rs), built from the daemon's attach results. Each address carries its
 * Podman subnet's gateway, as netavark reports it; dns_server_ips is the embedded DNS the
 * daemon serves inside the namespace (127.0.0.11) when the Podman network has DNS on, else
 * the container's own dns_servers (netavark's rule for dns_enabled=false). Pure.
 */
import { cidrContains, parseCidr, tryParseIp } from '../../model/ip.js';
import type { AttachResult } from '../../model/attachments.js';
import type { NetworkOptions, PodmanNetwork } from './network-options.js';

export interface NetAddress {
  gateway?: string;
  ipnet: string;
}

export interface StatusBlock {
  dns_search_domains: string[];
  dns_server_ips: string[];
  interfaces: Record<string, { mac_address: string; subnets: NetAddress[] }>;
}

function gatewayFor(net: PodmanNetwork, address: string): string | undefined {
  const ip = tryParseIp(address.split('/')[0]!);
  if (!ip) return undefined;
  for (const s of net.subnets) {
    if (s.gateway && cidrContains(parseCidr(s.subnet), ip)) return s.gateway;
  }
  return undefined;
}

export function statusBlockOf(opts: NetworkOptions, podmanNet: PodmanNetwork, r: AttachResult): StatusBlock {
  const subnets = r.addresses.map((a) => {
    const gateway = gatewayFor(podmanNet, a);
    return { ...(gateway ? { gateway } : {}), ipnet: a };
  });
  const dns = podmanNet.dnsEnabled ? (r.dns?.nameservers ?? []) : opts.dnsServers;
  return {
    dns_search_domains: [],
    dns_server_ips: [...dns],
    interfaces: { [r.ifname]: { mac_address: r.mac, subnets } },
  };
}
