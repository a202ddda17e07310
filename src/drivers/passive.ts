/**
 * The host and null drivers: no kernel state of their own. A sandbox on `host`
 * uses the daemon's namespace; one on `none` gets a namespace with loopback only.
 */
import type { NetworkDriver } from './types.js';

function passive(name: string): NetworkDriver {
  return {
    name,
    attachesEndpoints: false,
    ensureNetwork() {},
    async deleteNetwork() {},
    join() {},
    setGateway() {},
    async leave() {},
    endpointPresent: () => true,
  };
}

export const hostDriver = (): NetworkDriver => passive('host');
export const nullDriver = (): NetworkDriver => passive('null');
