/**
 * The embedded DNS's view of the records: who may resolve whom. Names are indexed per
 * network and the index is rebuilt lazily after any change (the state's generation
 * moves), so a query costs a couple of map lookups and a removed sandbox stops
 * resolving at the very next query.
 */
import type { DnsDirectory, LocalAddresses, UpstreamSet } from '../services/dns/types.js';
import type { EngineContext } from './context.js';
import type { EndpointRecord } from './types.js';

const bare = (cidr: string): string => cidr.split('/')[0]!;

/** No upstream at all: every forward gets SERVFAIL at once. */
const NO_UPSTREAMS: UpstreamSet = Object.freeze({ servers: [], fromSandboxNs: false });

/**
 * Every endpoint of the sandbox (of the sandbox whose namespace it shares, in container
 * mode) is on an --internal network. Such a sandbox has no way out, DNS included: the
 * embedded DNS never forwards its queries from the daemon's namespace (Docker skips
 * host-namespace upstreams for it too).
 */
export function internalOnly(ctx: EngineContext, sandboxId: string): boolean {
  const sb = ctx.state.sandboxes.get(sandboxId);
  const owner = sb?.networkMode.startsWith('container:') ? sb.networkMode.slice('container:'.length) : sandboxId;
  const eps = ctx.state.endpointsOfSandbox(owner);
  return eps.length > 0 && eps.every((e) => ctx.state.networks.get(e.networkId)?.internal === true);
}

interface AskerNetwork {
  netId: string;
  netName: string;
}

export class EngineDnsDirectory implements DnsDirectory {
  private generation = -1;
  private readonly index = new Map<string, Map<string, EndpointRecord[]>>();
  /** Per asking sandbox, its user-defined networks: every query needs them, they change only with the state. */
  private readonly askers = new Map<string, AskerNetwork[]>();
  /** Per asking sandbox, whether it is internal-only (see internalOnly). */
  private readonly closedIn = new Map<string, boolean>();
  /** The host-namespace-free version of each upstream set handed to an internal-only sandbox. */
  private readonly withoutHost = new WeakMap<UpstreamSet, UpstreamSet>();

  constructor(private readonly ctx: EngineContext) {}

  /** Drops every derived view when the state moved since they were built. */
  private sync(): void {
    if (this.generation === this.ctx.state.generation) return;
    this.index.clear();
    this.askers.clear();
    this.closedIn.clear();
    this.generation = this.ctx.state.generation;
  }

  private namesOf(netId: string): Map<string, EndpointRecord[]> {
    this.sync();
    let names = this.index.get(netId);
    if (names) return names;
    names = new Map();
    const local = this.ctx.state.endpointsOfNetwork(netId).filter((ep) => this.ctx.state.sandboxes.get(ep.sandboxId)?.state.status === 'running');
    // Cluster mode: other hosts' endpoints on a global network answer exactly like local ones.
    const remote = this.ctx.state.remoteEndpointsOf(netId).map((r) => r.endpoint);
    for (const ep of [...local, ...remote]) {
      for (const n of ep.dnsNames) {
        const key = n.toLowerCase();
        const list = names.get(key);
        if (list) list.push(ep);
        else names.set(key, [ep]);
      }
    }
    this.index.set(netId, names);
    return names;
  }

  /** The asker's endpoints on user-defined networks (the default bridge has no name resolution). */
  private askerNetworks(sandboxId: string): AskerNetwork[] {
    this.sync();
    const cached = this.askers.get(sandboxId);
    if (cached) return cached;
    const out: AskerNetwork[] = [];
    for (const ep of this.ctx.state.endpointsOfSandbox(sandboxId)) {
      const net = this.ctx.state.networks.get(ep.networkId);
      if (net && !net.predefined) out.push({ netId: net.id, netName: net.name.toLowerCase() });
    }
    this.askers.set(sandboxId, out);
    return out;
  }

  lookup(sandboxId: string, name: string): LocalAddresses | null {
    let found: LocalAddresses | null = null;
    for (const { netId, netName } of this.askerNetworks(sandboxId)) {
      const names = this.namesOf(netId);
      let eps = names.get(name);
      if (!eps && name.endsWith(`.${netName}`)) eps = names.get(name.slice(0, -netName.length - 1));
      if (!eps) continue;
      found ??= { v4: [], v6: [] };
      for (const ep of eps) {
        if (ep.ipv4) found.v4.push(bare(ep.ipv4));
        if (ep.ipv6) found.v6.push(bare(ep.ipv6));
      }
    }
    return found;
  }

  reverse(sandboxId: string, ip: string): string | null {
    for (const { netId } of this.askerNetworks(sandboxId)) {
      const owner = this.ctx.state.usedAddresses(netId).get(ip);
      if (!owner) continue;
      const ep = this.ctx.state.endpoints.get(owner);
      const net = this.ctx.state.networks.get(netId);
      if (ep && !ep.dnsNames.length) continue; // anonymous (the gateway bridge's): no name to give
      if (ep && net && this.ctx.state.sandboxes.get(ep.sandboxId)?.state.status === 'running') {
        return `${ep.dnsNames[0]}.${net.name}`;
      }
      const remote = this.ctx.state.remote.get(owner);
      if (remote && net) return `${remote.endpoint.dnsNames[0]}.${net.name}`;
    }
    return null;
  }

  /**
   * The sandbox's upstreams, except that an internal-only sandbox keeps only servers dialled
   * from its own namespace (explicit --dns, which it can reach only on its internal
   * networks): never the host's resolvers, dialled from the daemon's namespace.
   */
  upstreams(sandboxId: string): UpstreamSet {
    const set = this.ctx.upstreams.get(sandboxId);
    if (!set) return NO_UPSTREAMS;
    if (set.fromSandboxNs || set.servers.length === 0 || !this.isInternalOnly(sandboxId)) return set;
    let closed = this.withoutHost.get(set);
    if (!closed) {
      closed = { servers: [], fromSandboxNs: false, ...(set.userNdots !== undefined ? { userNdots: set.userNdots } : {}) };
      this.withoutHost.set(set, closed);
    }
    return closed;
  }

  private isInternalOnly(sandboxId: string): boolean {
    this.sync();
    let v = this.closedIn.get(sandboxId);
    if (v === undefined) {
      v = internalOnly(this.ctx, sandboxId);
      this.closedIn.set(sandboxId, v);
    }
    return v;
  }
}
