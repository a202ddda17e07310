/**
 * One "host" of a cluster of ipvlan L3 networks, in-process (test/integration/ipvlan-global
 * and the VM lane's test/vm/ipvlan-cluster): the real engine (the engine harness: fake
 * processes, DNS and ports) on a real etcd with its node record and cluster sync, and the
 * real IpvlanDriver whose rtnetlink is opened in the host's own namespace. Each sandbox the
 * engine starts gets a real swy- namespace (made at its first join, removed with the
 * sandbox's netns), so slaves, addresses and routes are real. `failJoin` makes the next
 * joins fail before the driver's (after the engine's takePart: block claimed, routes
 * installed), for the undo tests.
 */
import { randomBytes } from 'node:crypto';
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { IpvlanDriver } from '../../src/drivers/ipvlan.js';
import { makeRegistry } from '../../src/drivers/registry.js';
import type { NetworkDriver, SandboxNs } from '../../src/drivers/contract.js';
import type { EndpointRecord, NetworkRecord } from '../../src/model/records.js';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { Store } from '../../src/store/contract.js';
import { ClusterNodes } from '../../src/engine/cluster-nodes.js';
import { startClusterSync, type ClusterSync } from '../../src/engine/cluster-sync.js';
import { makeHarness, type Harness } from './engine-harness.js';
import { makeNs, removeNs, type TestNs } from './netns.js';

export interface IpvlanClusterHost {
  ns: TestNs;
  h: Harness;
  store: Store;
  nodes: ClusterNodes;
  sync: ClusterSync;
  nodeId: string;
  driver: IpvlanDriver;
  /** The engine's sandbox netns path → the real namespace standing for it. */
  sandboxes: Map<string, TestNs>;
  /** The real namespace of a running sandbox (by name). */
  sandboxNs(name: string): TestNs;
  failJoin: boolean;
  logs: string[];
  close(): Promise<void>;
}

export async function ipvlanClusterHost(o: { endpoints: string[]; prefix: string; index: number; ns: TestNs; dataPath: string }): Promise<IpvlanClusterHost> {
  const store = await openEtcdStore({ endpoints: o.endpoints, prefix: o.prefix, requestTimeoutMs: 5000 });
  const nodeId = String(o.index + 1).repeat(32).slice(0, 32);
  const nodes = new ClusterNodes(store, { id: nodeId, name: `host${o.index}`, address: o.dataPath, dataPathAddress: o.dataPath, dataPathPort: 4789 }, { ttlSeconds: 10 });
  await nodes.join();
  const h = await makeHarness({ shared: { store, nodeId }, hostId: nodeId });
  h.ctx.random = (n) => randomBytes(n); // ids must differ between the hosts
  h.ctx.now = () => new Date();
  const logs: string[] = [];
  h.ctx.log = (m) => void logs.push(m);
  const rtnl = Rtnl.open(o.ns.path);
  const driver = new IpvlanDriver({ rtnl, openRtnl: (p) => Rtnl.open(p), log: (m) => void logs.push(m) });
  const sandboxes = new Map<string, TestNs>();
  const real = (sb: SandboxNs): SandboxNs => {
    let n = sandboxes.get(sb.nsPath);
    if (!n) sandboxes.set(sb.nsPath, (n = makeNs('ipsb')));
    return { ...sb, nsPath: n.path };
  };
  const self: IpvlanClusterHost = {
    ns: o.ns, h, store, nodes, nodeId, driver, sandboxes, failJoin: false, logs,
    sync: undefined as unknown as ClusterSync,
    sandboxNs(name) {
      const sb = [...h.ctx.state.sandboxes.values()].find((s) => s.name === name);
      const n = sb?.nsPath ? sandboxes.get(sb.nsPath) : undefined;
      if (!n) throw new Error(`sandbox ${name} has no namespace`);
      return n;
    },
    async close() {
      await self.sync?.close();
      await nodes.close({ leave: true }).catch(() => {});
      await driver.close();
      rtnl.close();
      await store.close();
      for (const n of sandboxes.values()) removeNs(n);
      sandboxes.clear();
    },
  };
  // The engine's sandbox paths stand for real namespaces in every call that takes one.
  const wrapped = new Proxy(driver, {
    get(t, k) {
      switch (k) {
        case 'join':
          return (net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, opts: { gateway: boolean }) => {
            if (self.failJoin) throw new Error('injected join failure');
            t.join(net, ep, real(sb), opts);
          };
        case 'leave':
          return (net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs) => (sandboxes.has(sb.nsPath) ? t.leave(net, ep, real(sb)) : Promise.resolve());
        case 'setGateway':
          return (net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, gw: boolean) => (sandboxes.has(sb.nsPath) ? t.setGateway(net, ep, real(sb), gw) : undefined);
        case 'endpointPresent':
          return (net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs) => (sb && sandboxes.has(sb.nsPath) ? t.endpointPresent(net, ep, real(sb)) : false);
        default: {
          const v: unknown = Reflect.get(t, k, t);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        }
      }
    },
  }) as NetworkDriver;
  h.ctx.drivers = makeRegistry([...h.ctx.drivers.all(), wrapped]);
  const host = h.ctx.host as { deleteSandboxNetns: (p: string) => void };
  const del = host.deleteSandboxNetns.bind(host);
  host.deleteSandboxNetns = (p) => {
    del(p);
    const n = sandboxes.get(p);
    if (n) removeNs(n);
    sandboxes.delete(p);
  };
  self.sync = await startClusterSync(h.ctx, { retryMs: 100 });
  return self;
}
