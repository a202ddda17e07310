/**
 * The port-publishing service: `-p` and `-P` in the kernel, element by element.
 *
 * Publishing a port is (1) reserving the host port with a bound socket in the daemon's
 * namespace (host-sockets.ts) and (2) adding a few elements to the maps and sets of
 * `table inet switchyard` in ONE nftables transaction per call (firewall/ruleset/ports.ts):
 * a DNAT element keyed by host address (or any address) and port, and a `published`
 * element that lets the DNATed flow through the forward filter. No rule is written, no
 * process started (Docker starts one docker-proxy per port and family), so the cost per
 * port does not grow with the number of ports already published. docs/PORTS.md.
 */
import { conflict, invalid, unavailable } from '../../errors.js';
import type { PortsPort, PublishRequest } from './types.js';
import type { PublishedPort } from '../../model/records.js';
import { withNetns } from '../../kernel/netns.js';
import { ifNameToIndex } from '../../kernel/libc.js';
import { readSysctl, writeSysctl } from '../../kernel/sysctl.js';
import type { PortElement, PortsFirewall, PublishedElement } from '../firewall/contract.js';
import { publishedKey } from '../firewall/ruleset.js';
import { HostSockets, hostPortKey, type HostPort } from './host-sockets.js';
import { isWildcard, joinHostPort, planPorts, type AddressBinding, type PlannedPort } from './plan.js';

export type { PortsFirewall } from '../firewall/contract.js';

export interface PortsServiceOptions {
  firewall: PortsFirewall;
  /**
   * false (`--firewall=false`): host ports are still reserved (conflicts are still
   * reported, and `switchyard port` shows them) but no element is installed and no sysctl
   * written, so nothing answers on them: like Docker with iptables=false and no proxy.
   */
  enabled: boolean;
  /** Range for ephemeral host ports; default: the namespace's net.ipv4.ip_local_port_range. */
  ephemeralRange?: [number, number];
  /** Namespace the host ports live in; default: the calling thread's (the daemon's own). */
  netnsPath?: string;
  log: (msg: string) => void;
}

/** Docker's fallback when ip_local_port_range cannot be read (portallocator_unix.go). */
const FALLBACK_RANGE: [number, number] = [49153, 65535];
/** Ports other processes hold that an ephemeral pick may skip before giving up (Docker: 10). */
const MAX_EPHEMERAL_CLASHES = 100;

export class PortsService implements PortsPort {
  private readonly sockets: HostSockets;
  private readonly range: [number, number];
  /** Next ephemeral candidate: ports are handed out in turn, as Docker's allocator does,
   *  so a just-released port (whose UDP conntrack entries may linger) is not reused at once. */
  private cursor: number;
  /** sandbox → its live bindings, by host key. */
  private readonly active = new Map<string, Map<string, PublishedPort>>();
  /** published element → how many live bindings lead to it. */
  private readonly publishedRefs = new Map<string, number>();

  constructor(private readonly o: PortsServiceOptions) {
    this.sockets = new HostSockets(o.log);
    this.range = o.ephemeralRange ?? readPortRange(o.netnsPath, o.log);
    if (!(this.range[0] >= 1 && this.range[0] <= this.range[1] && this.range[1] <= 65535)) {
      throw invalid('INVALID_PORT_RANGE', `ephemeral port range ${this.range[0]}-${this.range[1]} is not within 1-65535`, 'ephemeralRange');
    }
    this.cursor = this.range[0];
  }

  publish(req: PublishRequest): PublishedPort[] {
    const plan = planPorts(req);
    plan.skipped.forEach((m) => this.o.log(`ports ${req.sandboxId.slice(0, 12)}: ${m}`));
    if (!plan.ports.length) return [];
    const made: PublishedPort[] = [];
    try {
      this.inHostNs(() => {
        for (const p of plan.ports) made.push(...this.reservePlanned(req.sandboxId, p, req.holdSockets ?? true));
        if (this.o.enabled) this.allowLoopback(req.target.bridge, made);
      });
      this.install(req.sandboxId, made);
    } catch (err) {
      for (const b of made) this.sockets.release(hostPortOf(b), req.sandboxId);
      throw err;
    }
    return made;
  }

  unpublish(sandboxId: string, bindings: PublishedPort[]): void {
    const mine = this.active.get(sandboxId);
    const dnat: PortElement[] = [];
    const mayDrop = new Map<string, PublishedElement>();
    for (const b of bindings) {
      const hp = hostPortOf(b);
      const owner = this.sockets.ownerOf(hp);
      // Held by another sandbox now (a stale record after a crash): not ours to remove.
      if (owner !== undefined && owner !== sandboxId) continue;
      dnat.push(elementOf(b));
      const pub = publishedOf(b);
      if (mine?.delete(hostPortKey(hp))) this.unref(pub);
      mayDrop.set(publishedKey(pub), pub);
    }
    if (mine && !mine.size) this.active.delete(sandboxId);
    const published = [...mayDrop.entries()].filter(([k]) => !this.publishedRefs.has(k)).map(([, p]) => p);
    try {
      if (this.o.enabled) this.o.firewall.deletePorts(dnat, published);
    } finally {
      for (const b of bindings) this.sockets.release(hostPortOf(b), sandboxId);
    }
  }

  /**
   * Re-reserves and re-installs exactly these bindings: after a daemon restart (sockets
   * gone, elements maybe still there) or a firewall reload (sockets held, elements maybe
   * gone). Idempotent. A host port someone else took meanwhile is left out, the others are
   * restored, and then a conflict naming the lost ones is thrown.
   */
  restore(req: PublishRequest, bindings: PublishedPort[]): void {
    const restored: PublishedPort[] = [];
    const lost: string[] = [];
    this.inHostNs(() => {
      for (const b of bindings) {
        const hp = hostPortOf(b);
        const owner = this.sockets.ownerOf(hp);
        if (owner === req.sandboxId || (owner === undefined && this.sockets.reserve(hp, req.sandboxId, req.holdSockets ?? true) === 'reserved')) restored.push(b);
        else lost.push(joinHostPort(b.hostIp, b.hostPort) + `/${b.proto}`);
      }
      if (this.o.enabled) this.allowLoopback(req.target.bridge, restored);
    });
    this.install(req.sandboxId, restored);
    if (lost.length) {
      throw conflict('PORT_ALLOCATED', `cannot restore published ports of sandbox ${req.sandboxId.slice(0, 12)}: ${lost.join(', ')} already allocated`);
    }
  }

  /** The range ephemeral host ports come from. */
  get ephemeralRange(): [number, number] {
    return [this.range[0], this.range[1]];
  }

  /** Number of host ports reserved (for tests and `info`). */
  get reservedCount(): number {
    return this.sockets.size;
  }

  /** Closes every reserved socket; elements stay (daemon shutdown: restore puts the sockets back). */
  close(): void {
    this.sockets.releaseAll();
    this.active.clear();
    this.publishedRefs.clear();
  }

  /** Records the bindings as live and installs their elements, as one transaction. */
  private install(sandboxId: string, bindings: PublishedPort[]): void {
    if (!bindings.length) return;
    const mine = this.active.get(sandboxId) ?? new Map<string, PublishedPort>();
    const added: PublishedPort[] = [];
    for (const b of bindings) {
      const key = hostPortKey(hostPortOf(b));
      if (mine.has(key)) continue;
      mine.set(key, b);
      added.push(b);
      this.ref(publishedOf(b));
    }
    this.active.set(sandboxId, mine);
    if (!this.o.enabled) return;
    try {
      this.o.firewall.addPorts(bindings.map(elementOf), (stale) => this.o.log(`ports: removed a stale DNAT element for ${stale}`));
    } catch (err) {
      for (const b of added) {
        mine.delete(hostPortKey(hostPortOf(b)));
        this.unref(publishedOf(b));
      }
      if (!mine.size) this.active.delete(sandboxId);
      throw err;
    }
  }

  /** Reserves the host port of one planned binding on each of its families; all or nothing. */
  private reservePlanned(owner: string, p: PlannedPort, hold: boolean): PublishedPort[] {
    const bindingsAt = (port: number): PublishedPort[] =>
      p.addresses.map((a) => ({ hostIp: a.hostIp, hostPort: port, containerPort: p.containerPort, proto: p.proto, containerIp: a.containerIp }));
    switch (p.choice.kind) {
      case 'fixed': {
        const failed = this.reserveAll(owner, p, p.choice.port, hold);
        if (failed) throw allocated(failed, p.choice.port);
        return bindingsAt(p.choice.port);
      }
      case 'range': {
        for (let port = p.choice.start; port <= p.choice.end; port++) {
          if (!this.reserveAll(owner, p, port, hold)) return bindingsAt(port);
        }
        throw allocated(p.addresses[0]!, `${p.choice.start}-${p.choice.end}`);
      }
      case 'ephemeral': {
        const port = this.reserveEphemeral(owner, p, hold);
        return bindingsAt(port);
      }
    }
  }

  /** Tries one port on every family of the binding; returns the address that failed, or undefined. */
  private reserveAll(owner: string, p: PlannedPort, port: number, hold = true): AddressBinding | undefined {
    const taken: HostPort[] = [];
    for (const a of p.addresses) {
      const hp: HostPort = { family: a.family, hostIp: a.hostIp, proto: p.proto, port };
      const r = this.sockets.reserve(hp, owner, hold);
      if (r === 'reserved') {
        taken.push(hp);
        continue;
      }
      for (const t of taken) this.sockets.release(t, owner);
      if (r === 'not-local') {
        throw invalid('PORT_HOST_IP_NOT_LOCAL', `Bind for ${joinHostPort(a.hostIp, port)} failed: cannot assign requested address (${a.hostIp} is not an address of this host)`, 'PortBindings');
      }
      return a;
    }
    return undefined;
  }

  /**
   * An ephemeral port: the next one in the range that is free on every family of the
   * binding (Docker gives v4 and v6 the same port), skipping our own without a syscall.
   */
  private reserveEphemeral(owner: string, p: PlannedPort, hold: boolean): number {
    const [lo, hi] = this.range;
    const size = hi - lo + 1;
    let clashes = 0;
    for (let i = 0; i < size && clashes < MAX_EPHEMERAL_CLASHES; i++) {
      const port = this.cursor;
      this.cursor = port >= hi ? lo : port + 1;
      const ours = p.addresses.some((a) => this.sockets.ownerOf({ family: a.family, hostIp: a.hostIp, proto: p.proto, port }) !== undefined);
      if (ours) continue;
      if (!this.reserveAll(owner, p, port, hold)) return port;
      clashes++;
    }
    const where = p.addresses.map((a) => a.hostIp).join(' and ');
    throw unavailable('PORTS_EXHAUSTED', `no free ${p.proto} host port in ${lo}-${hi} on ${where} (${clashes} in use by other processes)`);
  }

  /**
   * The host's own connections to 127.0.0.1:<port> are DNATed into the bridge; the kernel
   * routes a 127/8 source out of an interface only with route_localnet=1 on it
   * (Documentation/networking/ip-sysctl.rst). The raw-prerouting rule of the table drops
   * 127/8 arriving from anywhere but lo, which keeps this from opening the host's
   * loopback services to sandboxes (CVE-2020-8558). Written on each publish: the bridge
   * may have been recreated, and a write costs microseconds.
   */
  /** Bridges already given route_localnet=1, by name → ifindex (a recreated bridge has a new index). */
  private readonly localnet = new Map<string, number>();

  private allowLoopback(bridge: string, bindings: PublishedPort[]): void {
    const needs = bindings.some((b) => b.hostIp === '0.0.0.0' || b.hostIp.startsWith('127.'));
    if (!needs) return;
    // Writing the sysctl costs a /proc walk that grows with the number of interfaces
    // (0.07 ms at 10 endpoints, 1.4 ms at 1,000): write it once per bridge.
    const index = this.inHostNs(() => ifNameToIndex(bridge));
    if (index && this.localnet.get(bridge) === index) return;
    writeSysctl(['net', 'ipv4', 'conf', bridge, 'route_localnet'], '1');
    if (index) this.localnet.set(bridge, index);
  }

  private inHostNs<T>(fn: () => T): T {
    return this.o.netnsPath ? withNetns(this.o.netnsPath, fn) : fn();
  }

  private ref(p: PublishedElement): void {
    const k = publishedKey(p);
    this.publishedRefs.set(k, (this.publishedRefs.get(k) ?? 0) + 1);
  }

  private unref(p: PublishedElement): void {
    const k = publishedKey(p);
    const n = (this.publishedRefs.get(k) ?? 1) - 1;
    if (n > 0) this.publishedRefs.set(k, n);
    else this.publishedRefs.delete(k);
  }
}

/** Docker's words (portallocator ErrPortAlreadyAllocated), so scripts that match them still work. */
function allocated(a: AddressBinding, port: number | string) {
  return conflict('PORT_ALLOCATED', `Bind for ${joinHostPort(a.hostIp, port)} failed: port is already allocated`);
}

const familyOf = (hostIp: string): 4 | 6 => (hostIp.includes(':') ? 6 : 4);

function hostPortOf(b: PublishedPort): HostPort {
  return { family: familyOf(b.hostIp), hostIp: b.hostIp, proto: b.proto, port: b.hostPort };
}

/** A binding as the firewall's DNAT element (also what the daemon's stale-element sweep keeps). */
export function elementOf(b: PublishedPort): PortElement {
  return {
    family: familyOf(b.hostIp),
    hostIp: isWildcard(b.hostIp) ? '' : b.hostIp,
    proto: b.proto,
    hostPort: b.hostPort,
    containerIp: b.containerIp,
    containerPort: b.containerPort,
  };
}

function publishedOf(b: PublishedPort): PublishedElement {
  return { family: familyOf(b.hostIp), containerIp: b.containerIp, proto: b.proto, containerPort: b.containerPort };
}

function readPortRange(nsPath: string | undefined, log: (m: string) => void): [number, number] {
  try {
    const [lo, hi] = readSysctl('net.ipv4.ip_local_port_range', nsPath).trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch (err) {
    log(`ports: cannot read net.ipv4.ip_local_port_range (${String(err)}); ephemeral ports from ${FALLBACK_RANGE.join('-')}`);
  }
  return FALLBACK_RANGE;
}
