/**
 * The firewall as a driver that needs one sees it (a port it is handed, so it never knows
 * the firewall's internals). The driver contract itself is drivers/contract.ts, re-exported
 * here for older imports.
 */
export type * from './contract.js';

export interface FirewallNetworkSpec {
  bridge: string;
  subnets: string[];
  icc: boolean;
  masquerade: boolean;
  internal: boolean;
}

export interface FirewallPort {
  ensureNetwork(net: FirewallNetworkSpec): void;
  deleteNetwork(bridge: string): void;
}
