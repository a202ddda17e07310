/**
 * The nftables firewall backend (contract.ts): keeps `table inet switchyard` and
 * `table bridge switchyard` in step with the networks, endpoints and published ports.
 * Rendering is in ruleset/ (pure); this class decides what to render and applies it as one
 * nftables transaction per call. `--firewall=false` uses NoFirewall (no-firewall.ts) instead.
 *
 * Cost model: ensureNetwork/deleteNetwork change a few hash-set elements and at most one
 * small chain, never the rest of the table, so their cost barely grows with the number of
 * networks, unlike a ruleset rewrite (moby#53466). Per-endpoint and per-port elements go
 * over nfnetlink in one batch when an element writer is given. Numbers in docs/FIREWALL.md.
 */
import { SwitchyardError } from '../../errors.js';
import type { ElementOp } from '../../kernel/nft-elements.js';
import type { FirewallBackend } from './contract.js';
import type { NftListing } from './observed.js';
import { bridgesIn, hasTable } from './observed.js';
import type { AntiSpoofEndpoint, FirewallNetwork, PortElement, PortProto, PublishedElement } from './ruleset.js';
import {
  BRIDGE_FAMILY, FAMILY, NAMES, TABLE,
  addPortOps, antiSpoofOps, deleteAntiSpoofOps, deletePortOps, dnatKey, publishedKey,
  renderAddEndpoint, renderAntiSpoofBase, renderDeleteEndpoint, renderFlushEndpoints,
  renderAddPorts, renderBase, renderDeleteDnatKey, renderDeleteNetwork, renderDeletePorts,
  renderFlushMembership, renderNetwork, validateBridge,
} from './ruleset.js';

export type { AntiSpoofEndpoint, FirewallNetwork, PortElement, PublishedElement } from './ruleset.js';

/** The part of kernel/nftables.ts's Nft that the firewall uses (a fake in unit tests). */
export interface NftPort {
  run(commands: string): string;
  listJson(what: string): NftListing;
}

/** The part of kernel/nft-elements.ts's NftElements that the firewall uses. */
export interface ElementsPort {
  apply(ops: ElementOp[]): void;
  /** Is the table there? (a cheap probe for the watchdog) */
  hasTable(family: 'inet' | 'bridge', name: string): boolean;
}

export interface FirewallOptions {
  /**
   * Writes set elements straight over nfnetlink (the fast path of allowEndpointSources,
   * revokeEndpointSources, addPorts, deletePorts). Whatever it refuses goes through the text
   * path, which knows how to recover (table deleted from outside, stale keys). Absent: text only.
   */
  elements?: () => ElementsPort;
}

const T = `${FAMILY} ${TABLE}`;

export class Firewall implements FirewallBackend {
  readonly enabled = true;
  private port: NftPort | undefined;
  private readonly openPort: () => NftPort;
  private elementsPort: ElementsPort | undefined;
  private readonly openElements: (() => ElementsPort) | undefined;
  /** Families whose forwarding the daemon turned on (the not-a-router guard); undefined: not known yet. */
  private guarded: Set<4 | 6> | undefined;

  /** `nft` may be a factory so that nftables is opened on first use only. */
  constructor(nft: NftPort | (() => NftPort), options: FirewallOptions = {}) {
    this.openPort = typeof nft === 'function' ? nft : () => nft;
    this.openElements = options.elements;
  }

  /**
   * The fast path: true when `ops` were applied as one transaction. False (nothing changed:
   * the batch is all or nothing) sends the caller down its text path.
   */
  private applyFast(ops: ElementOp[]): boolean {
    if (!this.openElements) return false;
    try {
      this.elements()!.apply(ops);
      return true;
    } catch (err) {
      if (err instanceof SwitchyardError) return false;
      throw err;
    }
  }

  /** The nfnetlink element writer, opened on first use (callers check openElements and catch). */
  private elements(): ElementsPort | undefined {
    if (this.openElements) this.elementsPort ??= this.openElements();
    return this.elementsPort;
  }

  /** The base of both tables, with the forwarding guard as known (kept as the kernel has it when not known). */
  private base(): string {
    return renderBase(this.guarded ? { notARouter: [...this.guarded] } : {}) + renderAntiSpoofBase();
  }

  /** Creates the tables, their sets, maps, user chain and base chains if missing; keeps elements and user rules. */
  ensureBase(): void {
    this.guarded ??= this.observedGuard();
    this.nft().run(this.base());
  }

  // --- forwarding (docs/FIREWALL.md "Forwarding") ---

  guardForwarding(family: 4 | 6): void {
    this.guarded ??= this.observedGuard();
    if (this.guarded.has(family)) return;
    this.guarded.add(family);
    this.nft().run(renderBase({ notARouter: [...this.guarded] }));
  }

  /** The guard a previous daemon left in the table (it turned forwarding on; the sysctl stays). */
  private observedGuard(): Set<4 | 6> {
    const out = new Set<4 | 6>();
    // No table or chain yet: no guard.
    for (const o of this.listOrEmpty(`chain ${T} ${NAMES.notRouter}`).nftables) {
      const rule = JSON.stringify(o['rule'] ?? '');
      if (!rule.includes('"nfproto"')) continue;
      if (rule.includes('"ipv4"')) out.add(4);
      if (rule.includes('"ipv6"')) out.add(6);
    }
    return out;
  }

  // --- anti-spoofing: table bridge switchyard (docs/FIREWALL.md "Anti-spoofing") ---

  /** Lets the endpoint's port send only its own MAC and addresses (one element per set and address, idempotent). */
  allowEndpointSources(e: AntiSpoofEndpoint): void {
    // The operations validate the input; the text is rendered from the same operations only
    // when the fast path refuses.
    if (this.applyFast(antiSpoofOps(e))) return;
    const text = renderAddEndpoint(e);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err)) throw err;
      // The bridge table was deleted from outside: recreate it (reloadEndpointSources restores the others).
      this.nft().run(renderAntiSpoofBase() + text);
    }
  }

  /** Removes the endpoint's elements; already gone, or no table, is success. */
  revokeEndpointSources(e: AntiSpoofEndpoint): void {
    if (this.applyFast(deleteAntiSpoofOps(e))) return;
    this.tryRun(renderDeleteEndpoint(e));
  }

  /** Makes the anti-spoofing sets hold exactly `endpoints`, in one transaction. */
  reloadEndpointSources(endpoints: AntiSpoofEndpoint[]): void {
    this.nft().run(renderAntiSpoofBase() + renderFlushEndpoints() + endpoints.map(renderAddEndpoint).join(''));
  }

  // --- networks: table inet switchyard ---

  /** Creates or updates one network's rules (idempotent). Recreates the base first if the table was deleted. */
  ensureNetwork(net: FirewallNetwork): void {
    const text = renderNetwork(net);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err) || this.present()) throw err;
      // The table was deleted from outside. Recreate it with this network; reload() with
      // the full list of networks restores the others.
      this.nft().run(renderBase(this.guarded ? { notARouter: [...this.guarded] } : {}) + text);
    }
  }

  /** Removes one network's rules. Unknown bridge, or no table at all, is success. */
  deleteNetwork(bridge: string): void {
    const text = renderDeleteNetwork(bridge);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err) || this.present()) throw err;
    }
  }

  // --- published ports ---

  /**
   * Publishes host ports: their DNAT and published elements, one transaction, no rule
   * touched. Idempotent for the same data. A DNAT key already there with other data can
   * only be left over from a crash (the caller holds the host port), so it is removed
   * and the add retried once; `onStale` hears about each. Recreates the base first if the
   * table was deleted from outside.
   */
  addPorts(ports: PortElement[], onStale: (what: string) => void = () => {}): void {
    if (!ports.length) return;
    if (this.applyFast(addPortOps(ports))) return;
    const text = renderAddPorts(ports);
    try {
      this.nft().run(text);
      return;
    } catch (err) {
      if (!isNftFailure(err)) throw err;
      if (!this.present()) {
        this.nft().run(renderBase(this.guarded ? { notARouter: [...this.guarded] } : {}) + text);
        return;
      }
    }
    for (const p of ports) {
      try {
        this.nft().run(renderDeleteDnatKey(p));
        onStale(`${p.proto} ${p.hostIp || '*'}:${p.hostPort}`);
      } catch (err) {
        if (!isNftFailure(err)) throw err; // not there: fine
      }
    }
    this.nft().run(text);
  }

  /**
   * Unpublishes: removes the DNAT elements of `ports` and the `published` elements (the
   * caller keeps those still used by another binding). Already gone, or no table, is success.
   */
  deletePorts(ports: PortElement[], published: PublishedElement[]): void {
    const ops = deletePortOps(ports, published);
    if (!ops.length) return;
    if (this.applyFast(ops)) return;
    const text = renderDeletePorts(ports, published);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err)) throw err;
      if (!this.present()) return;
      // One element's key holds other data (a crash left it, or it was re-published
      // since): remove the others one by one, never that one.
      for (const p of ports) this.tryRun(renderDeletePorts([p], []));
      for (const p of published) this.tryRun(renderDeletePorts([], [p]));
    }
  }

  /**
   * Published-port elements that no running sandbox's binding explains, removed. A daemon
   * killed between installing a sandbox's DNAT elements and recording its ports (sandbox
   * start) leaves elements that send a host port to an address whose sandbox does not
   * publish it: the host port is not reserved any more, and the address may be handed to
   * another sandbox next (found by the chaos runner, docs/RELIABILITY.md).
   */
  removeStalePorts(wanted: PortElement[]): { ports: PortElement[]; published: PublishedElement[] } {
    const keep = new Set([...wanted.map(dnatKey), ...wanted.map(publishedKey)]);
    const ports: PortElement[] = [];
    const published: PublishedElement[] = [];
    for (const family of [4, 6] as const) {
      for (const any of [false, true]) {
        const map = family === 4 ? (any ? NAMES.dnat4Any : NAMES.dnat4) : any ? NAMES.dnat6Any : NAMES.dnat6;
        for (const e of this.elementsOf('map', map)) {
          const [hostIp, proto, hostPort, containerIp, containerPort] = any ? ['', ...e] : e;
          const p: PortElement = { family, hostIp: String(hostIp), proto: proto as PortProto, hostPort: Number(hostPort), containerIp: String(containerIp), containerPort: Number(containerPort) };
          if (!keep.has(dnatKey(p))) ports.push(p);
        }
      }
      for (const [containerIp, proto, containerPort] of this.elementsOf('set', family === 4 ? NAMES.published4 : NAMES.published6)) {
        const p: PublishedElement = { family, containerIp: String(containerIp), proto: proto as PortProto, containerPort: Number(containerPort) };
        if (!keep.has(publishedKey(p))) published.push(p);
      }
    }
    if (ports.length || published.length) this.deletePorts(ports, published);
    return { ports, published };
  }

  /** A map's or set's elements, each flattened to its key (and data) parts; none when absent. */
  private elementsOf(kind: 'map' | 'set', name: string): unknown[][] {
    const listing = this.listOrEmpty(`${kind} ${T} ${name}`);
    const obj = listing.nftables.map((e) => e[kind] as { elem?: unknown[] } | undefined).find(Boolean);
    return (obj?.elem ?? []).map((e) => {
      const parts = (Array.isArray(e) ? e : [e]).map((p) => {
        const v = (p as { elem?: { val?: unknown } }).elem?.val ?? p;
        return ((v as { concat?: unknown[] }).concat ?? [v]) as unknown[];
      });
      return parts.flat();
    });
  }

  private tryRun(text: string): void {
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err)) throw err;
    }
  }

  /** Are both of our tables there (`inet` and the anti-spoofing `bridge` one)? */
  complete(): boolean {
    if (this.openElements) {
      // Two GETTABLE requests: libnftables' `list tables` builds its whole cache first
      // (20-35 ms with 1,000 endpoints), a stall the DNS answers felt every 2 s.
      try {
        const port = this.elements()!;
        return port.hasTable(FAMILY, TABLE) && port.hasTable(BRIDGE_FAMILY, TABLE);
      } catch (err) {
        if (!(err instanceof SwitchyardError)) throw err; // otherwise ask libnftables
      }
    }
    const tables = this.nft().listJson('tables');
    return hasTable(tables) && hasTable(tables, BRIDGE_FAMILY);
  }

  /** Is `table inet switchyard` there? */
  present(): boolean {
    return hasTable(this.nft().listJson('tables'));
  }

  /**
   * Makes the table match `networks` in one transaction: recreates whatever is missing
   * (after `nft flush ruleset` or `nft delete table inet switchyard`), rebuilds the
   * membership sets and masquerade chains, and removes networks that are no longer
   * wanted. The user chain's rules and the published/DNAT elements are kept when the
   * table exists; when it was deleted, the user chain comes back empty.
   */
  reload(networks: FirewallNetwork[]): void {
    networks.forEach((n, i) => validateBridge(n.bridge, `networks[${i}].bridge`));
    const wanted = new Set(networks.map((n) => n.bridge));
    const stale = [...this.observedBridges()].filter((b) => !wanted.has(b));
    this.nft().run(
      renderBase(this.guarded ? { notARouter: [...this.guarded] } : {}) + renderFlushMembership()
        + stale.map(renderDeleteNetwork).join('') + networks.map(renderNetwork).join(''),
    );
  }

  /** Bridges the table currently has rules for (empty when the table is absent). */
  observedBridges(): Set<string> {
    if (!this.present()) return new Set();
    const what = [
      `chains ${FAMILY}`,
      `set ${T} ${NAMES.bridges}`,
      `set ${T} ${NAMES.icc}`,
      `set ${T} ${NAMES.internal}`,
      `map ${T} ${NAMES.postroutingOut}`,
    ];
    return bridgesIn(what.map((w) => this.listOrEmpty(w)));
  }

  /** A listing, or nothing when the object is missing (a half-deleted table is what reload repairs). */
  private listOrEmpty(what: string): NftListing {
    try {
      return this.nft().listJson(what);
    } catch (err) {
      if (isNftFailure(err)) return { nftables: [] };
      throw err;
    }
  }

  private nft(): NftPort {
    this.port ??= this.openPort();
    return this.port;
  }
}

function isNftFailure(err: unknown): boolean {
  return err instanceof SwitchyardError && err.code === 'NFT_FAILED';
}
