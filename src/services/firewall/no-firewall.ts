/**
 * The backend for `--firewall=false`: nothing is enforced and nftables is never opened,
 * like Docker with `iptables=false` (docs/FIREWALL.md "Without a firewall"). What is
 * forwarded is whatever the host's own firewall and ip_forward decide.
 */
import type { AntiSpoofEndpoint, FirewallBackend, FirewallNetwork, PortElement, PublishedElement } from './contract.js';

export class NoFirewall implements FirewallBackend {
  readonly enabled = false;
  ensureBase(): void {}
  ensureNetwork(_net: FirewallNetwork): void {}
  deleteNetwork(_bridge: string): void {}
  reload(_networks: FirewallNetwork[]): void {}
  allowEndpointSources(_e: AntiSpoofEndpoint): void {}
  revokeEndpointSources(_e: AntiSpoofEndpoint): void {}
  reloadEndpointSources(_endpoints: AntiSpoofEndpoint[]): void {}
  addPorts(_ports: PortElement[], _onStale?: (what: string) => void): void {}
  deletePorts(_ports: PortElement[], _published: PublishedElement[]): void {}
  removeStalePorts(_wanted: PortElement[]): { ports: PortElement[]; published: PublishedElement[] } {
    return { ports: [], published: [] };
  }
  guardForwarding(_family: 4 | 6): void {}
  /** Nothing is missing: there is nothing to restore. */
  complete(): boolean {
    return true;
  }
}
