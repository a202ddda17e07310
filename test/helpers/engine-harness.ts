/**
 * An EngineContext with no kernel and no root: a recording FakeDriver that can be told to
 * fail at its N-th call of an operation, an in-memory store, and fakes for the host, DNS,
 * ports, sandbox processes and files. Unit tests drive the real engine operations over it
 * (rollback, gateway hand-over, sandbox planning, reconcile's decisions, attachments).
 *
 * The store is test/helpers/memory-store.ts (it passes the store conformance suite), with
 * the tests' view of it: the keys it holds (`data`) and how many transactions it ran (`txns`).
 */
import type { DriverCapabilities, HostLink, JoinOptions, NetworkDriver, NetworkPlanInput, PeerEndpoint, SandboxNs } from '../../src/drivers/contract.js';
import { LINK_ALIAS_PREFIX } from '../../src/drivers/contract.js';
import { makeRegistry } from '../../src/drivers/registry.js';
import { hostDriver, nullDriver } from '../../src/drivers/passive.js';
import type { EngineContext, ProcessWatcher, SandboxProcesses, SandboxFilesPort, HostPorts, DnsPort } from '../../src/engine/context.js';
import type { PortsPort, PublishRequest } from '../../src/services/ports/types.js';
import { EngineState, type SharedStoreOptions } from '../../src/engine/state.js';
import { KeyedMutex } from '../../src/engine/locks.js';
import { SwitchyardEngine } from '../../src/engine/engine.js';
import type { EndpointRecord, NetworkDriverState, NetworkRecord, PublishedPort } from '../../src/model/records.js';
import type { KeyValue, Store, Txn } from '../../src/store/contract.js';
import { createMemoryBacking, openMemoryStore } from './memory-store.js';
import { parseBridgeOptions } from '../../src/model/driver-options.js';
import { createHash } from 'node:crypto';

/** The memory store, plus what the tests look at: its keys and its transaction count. */
export interface HarnessStore extends Store {
  /** The live keys (the store's own data, not a copy). */
  readonly data: ReadonlyMap<string, KeyValue>;
  /** Transactions run so far (a txn with nothing to do counts too). */
  readonly txns: number;
  /**
   * The n-th transaction from now (1-based) waits before it writes anything: `reached`
   * resolves when it got there, `release()` lets it go on. For deterministic interleavings
   * (an operation awaiting its commit while another arrives).
   */
  pauseAt(n: number): { reached: Promise<void>; release: () => void };
}

async function harnessStore(): Promise<HarnessStore> {
  const backing = createMemoryBacking();
  const inner = await openMemoryStore({ backing });
  let txns = 0;
  let pause: { at: number; reached: () => void; gate: Promise<void> } | undefined;
  const pauseAt = (n: number) => {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const gate = new Promise<void>((r) => (release = r));
    pause = { at: txns + n, reached, gate };
    return { reached: reachedP, release };
  };
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'data') return backing.kv;
      if (key === 'txns') return txns;
      if (key === 'pauseAt') return pauseAt;
      if (key === 'txn') {
        return async (t: Txn) => {
          txns++;
          if (pause && pause.at === txns) {
            const p = pause;
            pause = undefined;
            p.reached();
            await p.gate;
          }
          return target.txn(t);
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as HarnessStore;
}

export type DriverOp = 'ensureNetwork' | 'deleteNetwork' | 'join' | 'leave' | 'setGateway' | 'endpointPresent' | 'release';

/** A driver that records its calls and keeps "kernel state" in sets; fails on demand. */
export class FakeDriver implements NetworkDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Global scope: the peers it was told of, endpoint id → `ip@nodeAddress`, per network id. */
  readonly peers = new Map<string, Map<string, string>>();
  readonly calls: string[] = [];
  readonly networks = new Set<string>();
  readonly endpoints = new Set<string>();
  readonly links = new Map<string, HostLink>();
  /** Firewall reloads (reloadFirewall) so far. */
  reloads = 0;
  private counts = new Map<DriverOp, number>();

  /**
   * `elements` stands for the firewall's sets: the driver keeps `spoof:<endpoint id>` there
   * (anti-spoofing, added at join like the bridge's), the harness's ports `port:<sandbox id>`.
   */
  /**
   * `opts.scope: 'global'` makes a global driver (peer hooks recorded, uniqueClaims from the
   * network's `vni` label); its name is then usually `bridge`, so that the record codec reads
   * its networks back from a shared store (the codec knows only real drivers' state arms).
   */
  constructor(
    readonly elements: Set<string> = new Set(),
    opts: { name?: string; scope?: 'local' | 'global' } = {},
  ) {
    this.name = opts.name ?? 'fake';
    this.capabilities = { scope: opts.scope ?? 'local', needsIpam: true, creatable: true, singleton: false, attach: 'endpoint', handsOverLinks: false };
    if (opts.scope === 'global') {
      const peerText = (p: PeerEndpoint) => `${(p.ipv4 ?? p.ipv6 ?? '').split('/')[0]}@${p.nodeAddress}`;
      this.syncPeers = (net, peers) => {
        this.calls.push(`syncPeers ${net.name} [${peers.map(peerText).sort().join(' ')}]`);
        this.peers.set(net.id, new Map(peers.map((p) => [p.endpointId, peerText(p)])));
      };
      this.peerJoin = (net, p) => {
        this.calls.push(`peerJoin ${net.name} ${peerText(p)}`);
        if (!this.peers.has(net.id)) this.peers.set(net.id, new Map());
        this.peers.get(net.id)!.set(p.endpointId, peerText(p));
      };
      this.peerLeave = (net, p) => {
        this.calls.push(`peerLeave ${net.name} ${peerText(p)}`);
        this.peers.get(net.id)?.delete(p.endpointId);
      };
      this.uniqueClaims = (net) => (net.labels['vni'] ? [`vni/${net.labels['vni']}`] : []);
      // Like the overlay: joined held while the attach's txn is in flight, released after.
      this.release = (net, ep, sb) => {
        this.step('release', `${net.name} ${ep.ifname}`);
        if (!this.held.delete(`${sb.nsPath}|${ep.id}`)) throw new Error(`release of ${ep.ifname}: not held`);
      };
    }
  }
  release?: NetworkDriver['release'];
  /** Ports joined held and not released yet (`nsPath|endpoint id`). */
  readonly held = new Set<string>();
  syncPeers?: NetworkDriver['syncPeers'];
  peerJoin?: NetworkDriver['peerJoin'];
  peerLeave?: NetworkDriver['peerLeave'];
  uniqueClaims?: NetworkDriver['uniqueClaims'];
  private failures = new Map<DriverOp, number>();

  /** The n-th call (1-based, counted from now) of `op` throws. */
  failAt(op: DriverOp, n: number): void {
    this.counts.set(op, 0);
    this.failures.set(op, n);
  }
  private step(op: DriverOp, what: string): void {
    this.calls.push(`${op} ${what}`);
    const n = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, n);
    if (this.failures.get(op) === n) throw new Error(`fake ${op} failed at call ${n}`);
  }
  planNetwork(i: NetworkPlanInput): NetworkDriverState {
    return { driver: 'bridge', bridge: `fk-${i.id.slice(0, 8)}`, options: parseBridgeOptions({}) };
  }
  predefinedOptions(): Record<string, string> {
    return {};
  }
  planEndpoint(_net: NetworkRecord, ep: { id: string }) {
    return { hostLink: `fkv${ep.id.slice(0, 8)}` };
  }
  networkLinks(net: NetworkRecord): string[] {
    return net.state.driver === 'bridge' ? [net.state.bridge] : [];
  }
  publishTarget(net: NetworkRecord) {
    return { link: this.networkLinks(net)[0]! };
  }
  ensureNetwork(net: NetworkRecord): void {
    this.step('ensureNetwork', net.name);
    this.networks.add(net.id);
    const link = this.networkLinks(net)[0]!;
    this.links.set(link, { name: link, alias: `${LINK_ALIAS_PREFIX}fake:${net.id.slice(0, 12)}` });
  }
  async deleteNetwork(net: NetworkRecord): Promise<void> {
    this.step('deleteNetwork', net.name);
    this.networks.delete(net.id);
    this.links.delete(this.networkLinks(net)[0]!);
  }
  join(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs, o: JoinOptions): void {
    this.step('join', `${net.name} ${ep.ifname}${o.gateway ? ' gw' : ''}${o.held ? ' held' : ''}`);
    this.endpoints.add(`${sb.nsPath}|${ep.id}`);
    if (o.held) this.held.add(`${sb.nsPath}|${ep.id}`);
    else this.held.delete(`${sb.nsPath}|${ep.id}`);
    this.elements.add(`spoof:${ep.id}`);
    this.links.set(ep.hostLink!, { name: ep.hostLink!, alias: `${LINK_ALIAS_PREFIX}fake-port:${ep.id.slice(0, 12)}` });
  }
  async leave(net: NetworkRecord, ep: EndpointRecord, sb: SandboxNs): Promise<void> {
    this.step('leave', `${net.name} ${ep.ifname}`);
    this.endpoints.delete(`${sb.nsPath}|${ep.id}`);
    this.held.delete(`${sb.nsPath}|${ep.id}`);
    this.elements.delete(`spoof:${ep.id}`);
    this.links.delete(ep.hostLink!);
  }
  /** Like the bridge's: the whole table is rebuilt (every element flushed), then the given endpoints'. */
  reloadFirewall(_networks: readonly NetworkRecord[], runningEndpoints: readonly EndpointRecord[]): void {
    this.reloads++;
    this.elements.clear();
    for (const ep of runningEndpoints) this.elements.add(`spoof:${ep.id}`);
  }
  setGateway(net: NetworkRecord, ep: EndpointRecord, _sb: SandboxNs, on: boolean): void {
    this.step('setGateway', `${net.name} ${ep.ifname} ${on}`);
  }
  endpointPresent(_net: NetworkRecord, ep: EndpointRecord, sb?: SandboxNs): boolean {
    // A held port is not up: not present (the overlay's checks the link is up).
    return sb ? this.endpoints.has(`${sb.nsPath}|${ep.id}`) && !this.held.has(`${sb.nsPath}|${ep.id}`) : this.links.has(ep.hostLink!);
  }
  ownsLink(link: HostLink): boolean {
    return !!link.alias?.startsWith(`${LINK_ALIAS_PREFIX}fake`);
  }
}

export interface Harness {
  ctx: EngineContext;
  engine: SwitchyardEngine;
  store: HarnessStore;
  driver: FakeDriver;
  netns: Set<string>;
  alive: Set<number>;
  dns: string[];
  ports: string[];
  files: Map<string, string>;
  /** The firewall's elements (FakeDriver.elements): `spoof:<endpoint id>`, `port:<sandbox id>`. */
  elements: Set<string>;
  /** Cluster mode: the global fake driver (named `bridge`). */
  globalDriver?: FakeDriver;
}

/** A seeded, deterministic byte source (ids and MACs differ per call, same per run). */
function counterRandom(): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    let filled = 0;
    while (filled < n) {
      const h = createHash('sha256').update(`harness-${i++}`).digest();
      filled += h.copy(out, filled);
    }
    return out;
  };
}

export interface HarnessOptions {
  /** Cluster mode: the shared store (an etcd store in the cluster tests) and this host's node id. */
  shared?: SharedStoreOptions;
  /** The host id (default 32 zeros); in cluster mode the node id. */
  hostId?: string;
}

export async function makeHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const store = await harnessStore();
  const elements = new Set<string>();
  const driver = new FakeDriver(elements);
  // Cluster mode: a global fake under the name `bridge` (see FakeDriver's constructor).
  const globalDriver = opts.shared ? new FakeDriver(elements, { name: 'bridge', scope: 'global' }) : undefined;
  const netns = new Set<string>();
  const alive = new Set<number>();
  const dnsCalls: string[] = [];
  const portCalls: string[] = [];
  const files = new Map<string, string>();
  let pid = 1000;
  const host: HostPorts = {
    reservedPrefixes: () => [],
    ensureSandboxNetns: (p) => void netns.add(p),
    ensureLoopbackUp: () => {},
    deleteSandboxNetns: (p) => void netns.delete(p),
    sandboxNetnsPresent: (p) => netns.has(p),
    hostResolvConf: () => 'nameserver 192.0.2.53\n',
    hostEtcHosts: () => '127.0.0.1 localhost\n',
    ensureForwarding: () => {},
  };
  const dns: DnsPort = {
    attach: (id) => void dnsCalls.push(`attach ${id.slice(0, 6)}`),
    park: (id) => void dnsCalls.push(`park ${id.slice(0, 6)}`),
    detach: (id) => void dnsCalls.push(`detach ${id.slice(0, 6)}`),
  };
  const ports: PortsPort = {
    publish: (req: PublishRequest): PublishedPort[] => {
      portCalls.push(`publish ${req.sandboxId.slice(0, 6)} via ${req.target.bridge}`);
      if (req.requests.length) elements.add(`port:${req.sandboxId}`);
      return req.requests.map((r) => ({ hostIp: '0.0.0.0', hostPort: r.hostPort || 32768, containerPort: r.containerPort, proto: r.proto, containerIp: req.target.containerIPv4 ?? '' }));
    },
    unpublish: (id) => {
      portCalls.push(`unpublish ${id.slice(0, 6)}`);
      elements.delete(`port:${id}`);
    },
    restore: (req) => {
      portCalls.push(`restore ${req.sandboxId.slice(0, 6)}`);
      elements.add(`port:${req.sandboxId}`);
    },
  };
  const watcher = (): ProcessWatcher => ({ has: () => true, keys: () => [], watch: () => true, unwatch: () => {}, exited: () => [], close: () => {} });
  const processes: SandboxProcesses = {
    start: async () => {
      const p = ++pid;
      alive.add(p);
      return { pid: p, pidStart: `${p}`, exited: new Promise<number>(() => {}) };
    },
    stop: async (p) => void alive.delete(p),
    kill: (p) => void alive.delete(p),
    isAlive: (p) => alive.has(p),
    readExitCode: () => undefined,
    sessionsUnder: () => [],
    sessionOf: (p) => (alive.has(p) ? p : undefined),
    capLog: async () => false,
    watcher,
  };
  const filesPort: SandboxFilesPort = {
    ensureDir: () => {},
    writeInPlace: (f, t) => void files.set(f, t),
    read: (f) => files.get(f),
    removeDir: (d) => {
      for (const f of [...files.keys()]) if (f.startsWith(`${d}/`)) files.delete(f);
    },
    list: () => [],
  };
  const state = new EngineState(store as unknown as Store, opts.shared);
  const ctx: EngineContext = {
    config: {
      dataRoot: '/harness/data', execRoot: '/harness/exec', defaultPools: [], mtu: 1500, defaultBindIp: '0.0.0.0',
      firewall: true, ipForward: true, dns: [], hostId: opts.hostId ?? '0'.repeat(32), hostName: 'harness',
    },
    state,
    locks: new KeyedMutex(),
    drivers: makeRegistry([driver, hostDriver(), nullDriver(), ...(globalDriver ? [globalDriver] : [])]),
    host,
    dns,
    ports,
    processes,
    files: filesPort,
    filesWritten: new Map(),
    upstreams: new Map(),
    random: counterRandom(),
    now: () => new Date('2026-01-01T00:00:00Z'),
    log: () => {},
  };
  await state.load();
  const engine = new SwitchyardEngine(ctx);
  return { ctx, engine, store, driver, netns, alive, dns: dnsCalls, ports: portCalls, files, elements, ...(globalDriver ? { globalDriver } : {}) };
}
