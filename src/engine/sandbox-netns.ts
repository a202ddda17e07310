/**
 * Deleting a sandbox's network namespace takes its interfaces with it, without a driver
 * leave: each driver is then told (releaseSandbox) so it can release what else the
 * endpoints held (the bridge: their anti-spoofing elements, docs/SECURITY.md).
 */
import type { EngineContext } from './context.js';
import type { EndpointRecord, NetworkRecord } from '../model/records.js';
import type { NetworkDriver } from '../drivers/contract.js';

export function deleteSandboxNetns(ctx: EngineContext, nsPath: string): void {
  ctx.host.deleteSandboxNetns(nsPath);
  for (const sb of ctx.state.sandboxes.values()) {
    if (sb.nsPath !== nsPath) continue;
    const byDriver = new Map<NetworkDriver, { net: NetworkRecord; ep: EndpointRecord }[]>();
    for (const ep of ctx.state.endpointsOfSandbox(sb.id)) {
      const net = ctx.state.networks.get(ep.networkId);
      const driver = net && ctx.drivers.get(net.driver);
      if (!net || !driver?.releaseSandbox) continue;
      byDriver.set(driver, [...(byDriver.get(driver) ?? []), { net, ep }]);
    }
    for (const [driver, endpoints] of byDriver) {
      try {
        driver.releaseSandbox!({ id: sb.id, nsPath }, endpoints);
      } catch (err) {
        ctx.log(`release sandbox ${sb.name} (${driver.name}): ${String(err)}`);
      }
    }
  }
}
