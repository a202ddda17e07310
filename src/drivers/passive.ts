/**
 * The host and null drivers: no kernel state of their own. A sandbox on `host`
 * uses the daemon's namespace; one on `none` gets a namespace with loopback only.
 */
import type { DriverCapabilities, NetworkDriver } from './contract.js';

function passive(name: 'host' | 'null', attach: DriverCapabilities['attach'], predefined: string): NetworkDriver {
  return {
    name,
    capabilities: { scope: 'local', needsIpam: false, creatable: false, singleton: true, attach, handsOverLinks: false, predefined },
    planNetwork: () => ({ driver: name }),
    planEndpoint: () => ({}),
    networkLinks: () => [],
    ensureNetwork() {},
    async deleteNetwork() {},
    join() {},
    async leave() {},
    endpointPresent: () => true,
    ownsLink: () => false,
  };
}

export const hostDriver = (): NetworkDriver => passive('host', 'host-netns', 'host');
export const nullDriver = (): NetworkDriver => passive('null', 'loopback-only', 'none');
