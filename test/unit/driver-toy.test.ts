/**
 * The proof that docs/ARCHITECTURE.md "Adding a driver" is enough: a toy driver written
 * only against src/drivers/contract.ts, registered through makeRegistry, passes the driver
 * conformance suite (test/helpers/driver-conformance.ts). Its "kernel" is a map of links,
 * so it runs without root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriverCapabilities, HostLink, NetworkDriver, NetworkPlanInput, SandboxNs } from '../../src/drivers/contract.js';
import { LINK_ALIAS_PREFIX } from '../../src/drivers/contract.js';
import { makeRegistry } from '../../src/drivers/registry.js';
import type { EndpointRecord, NetworkDriverState, NetworkRecord } from '../../src/model/records.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';
import { driverConformance } from '../helpers/driver-conformance.js';

/** A toy kernel: host links by name, and per sandbox the interfaces that are up. */
class ToyKernel {
  readonly links = new Map<string, HostLink>();
  readonly sandboxEnds = new Map<string, { up: boolean }>();
}

/** One "switch" link per network, one port link per endpoint, all marked. */
class ToyDriver implements NetworkDriver {
  readonly name = 'toy';
  readonly capabilities: DriverCapabilities = {
    scope: 'local', needsIpam: true, creatable: true, singleton: false, attach: 'endpoint', handsOverLinks: false,
  };
  constructor(private readonly k: ToyKernel) {}
  // The toy reuses the bridge arm of the state union (a real driver adds its own arm).
  planNetwork(i: NetworkPlanInput): NetworkDriverState {
    return { driver: 'bridge', bridge: `toy-${i.id.slice(0, 8)}`, options: parseBridgeOptions({}) };
  }
  planEndpoint(_net: NetworkRecord, ep: { id: string }) {
    return { hostLink: `toyp${ep.id.slice(0, 8)}` };
  }
  networkLinks(net: NetworkRecord): string[] {
    return net.state.driver === 'bridge' ? [net.state.bridge] : [];
  }
  private sw = (net: NetworkRecord) => this.networkLinks(net)[0]!;
  ensureNetwork(net: NetworkRecord): void {
    if (!this.k.links.has(this.sw(net))) this.k.links.set(this.sw(net), { name: this.sw(net), alias: `${LINK_ALIAS_PREFIX}toy:${net.id.slice(0, 12)}` });
  }
  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.k.links.delete(this.sw(net));
  }
  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): void {
    if (!this.k.links.has(this.sw(net))) throw new Error('no switch');
    this.k.links.set(ep.hostLink!, { name: ep.hostLink!, alias: `${LINK_ALIAS_PREFIX}toy-port:${ep.id.slice(0, 12)}` });
    this.k.sandboxEnds.set(`${sb.nsPath}/${ep.ifname}`, { up: true });
  }
  async leave(_net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    this.k.links.delete(ep.hostLink!);
    this.k.sandboxEnds.delete(`${sb.nsPath}/${ep.ifname}`);
  }
  endpointPresent(_net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    if (!this.k.links.has(ep.hostLink!)) return false;
    return !sb || this.k.sandboxEnds.get(`${sb.nsPath}/${ep.ifname}`)?.up === true;
  }
  ownsLink(link: HostLink): boolean {
    return !!link.alias?.startsWith(`${LINK_ALIAS_PREFIX}toy`);
  }
}

const NET_ID = 'e'.repeat(64);

driverConformance('toy driver', async () => {
  const kernel = new ToyKernel();
  const registry = makeRegistry([new ToyDriver(kernel)]);
  const driver = registry.get('toy')!;
  const network: NetworkRecord = {
    v: 1, id: NET_ID, name: 'toynet', driver: 'toy', created: '', scope: 'local', enableIPv4: true, enableIPv6: false,
    ipamDriver: 'default', ipamOptions: {}, pools: [], internal: false, attachable: false, ingress: false, options: {}, labels: {},
    predefined: false, state: driver.planNetwork({ id: NET_ID, name: 'toynet', options: parseBridgeOptions({}), predefined: false, others: [] }),
  };
  let sandboxes = 0;
  return {
    driver,
    network,
    endpoint: (n) => {
      const id = `${n}`.repeat(64);
      return {
        v: 1, id, networkId: NET_ID, sandboxId: 'f'.repeat(64), ifname: 'eth0', ...driver.planEndpoint(network, { id, ifname: 'eth0' }),
        mac: '02:00:00:00:00:01', aliases: [], links: [], dnsNames: [], order: 0,
      };
    },
    sandbox: () => ({ id: 'f'.repeat(64), nsPath: `/toy/ns/${++sandboxes}` }),
    inHost: (fn) => fn(),
    hostLinks: () => [...kernel.links.values()],
    halfJoin: (ep, sb) => {
      kernel.links.set(ep.hostLink!, { name: ep.hostLink!, alias: `${LINK_ALIAS_PREFIX}toy-port:${ep.id.slice(0, 12)}` });
      kernel.sandboxEnds.set(`${sb.nsPath}/${ep.ifname}`, { up: false });
    },
    settle: async () => {},
    cleanup: async () => {},
  };
});

test('the registry refuses two drivers of one name', () => {
  const k = new ToyKernel();
  assert.throws(() => makeRegistry([new ToyDriver(k), new ToyDriver(k)]), /registered twice/);
});
