/**
 * Switchyard's firewall service: keeps `table inet switchyard` in step with the bridge
 * networks. Rendering is in ruleset.ts (pure); this class decides what to render and
 * applies it as one nftables transaction per call.
 *
 * Cost model: ensureNetwork/deleteNetwork change a few hash-set elements and at most one
 * small chain, never the rest of the table, so their cost barely grows with the number of
 * networks, unlike a ruleset rewrite (moby#53466). Numbers in docs/FIREWALL.md.
 */
import { SwitchyardError } from '../../errors.js';
import type { ElementOp } from '../../kernel/nft-elements.js';
import type { NftListing } from './observed.js';
import { bridgesIn, hasTable } from './observed.js';
import type { AntiSpoofEndpoint, FirewallNetwork, PortElement, PublishedElement } from './ruleset.js';
import {
  BRIDGE_FAMILY,
  addPortOps, antiSpoofOps, deleteAntiSpoofOps, deletePortOps,
  renderAddEndpoint, renderAntiSpoofBase, renderDeleteEndpoint, renderFlushEndpoints,
  FAMILY, NAMES, TABLE, renderAddPorts, renderBase, renderDeleteDnatKey, renderDeleteNetwork, renderDeletePorts,
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
  /** false (`--firewall=false`): every method returns at once and nftables is never opened. */
  enabled: boolean;
  /**
   * Writes set elements straight over nfnetlink (the fast path of ensureEndpoint,
   * deleteEndpoint, addPorts, deletePorts). Whatever it refuses goes through the text path,
   * which knows how to recover (table deleted from outside, stale keys). Absent: text only.
   */
  elements?: () => ElementsPort;
}

export class Firewall {
  readonly enabled: boolean;
  private port: NftPort | undefined;
  private readonly openPort: () => NftPort;
  private elementsPort: ElementsPort | undefined;
  private readonly openElements: (() => ElementsPort) | undefined;

  /** `nft` may be a factory so that a disabled firewall never even opens libnftables. */
  constructor(nft: NftPort | (() => NftPort), options: FirewallOptions) {
    this.enabled = options.enabled;
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

  /** Creates the table, its sets, maps, user chain and base chains if missing; keeps elements and user rules. */
  ensureBase(): void {
    if (!this.enabled) return;
    this.nft().run(renderBase() + renderAntiSpoofBase());
  }

  // --- anti-spoofing: table bridge switchyard (docs/FIREWALL.md "Anti-spoofing") ---

  /** Lets the endpoint's port send only its own MAC and addresses (one element per set and address, idempotent). */
  ensureEndpoint(e: AntiSpoofEndpoint): void {
    if (!this.enabled) return;
    // The operations validate the input; the text is rendered from the same operations only
    // when the fast path refuses.
    if (this.applyFast(antiSpoofOps(e))) return;
    const text = renderAddEndpoint(e);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err)) throw err;
      // The bridge table was deleted from outside: recreate it (reloadEndpoints restores the others).
      this.nft().run(renderAntiSpoofBase() + text);
    }
  }

  /** Removes the endpoint's elements; already gone, or no table, is success. */
  deleteEndpoint(e: AntiSpoofEndpoint): void {
    if (!this.enabled) return;
    if (this.applyFast(deleteAntiSpoofOps(e))) return;
    this.tryRun(renderDeleteEndpoint(e));
  }

  /** Makes the anti-spoofing sets hold exactly `endpoints`, in one transaction. */
  reloadEndpoints(endpoints: AntiSpoofEndpoint[]): void {
    if (!this.enabled) return;
    this.nft().run(renderAntiSpoofBase() + renderFlushEndpoints() + endpoints.map(renderAddEndpoint).join(''));
  }

  /** Creates or updates one network's rules (idempotent). Recreates the base first if the table was deleted. */
  ensureNetwork(net: FirewallNetwork): void {
    if (!this.enabled) return;
    const text = renderNetwork(net);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err) || this.present()) throw err;
      // The table was deleted from outside. Recreate it with this network; reload() with
      // the full list of networks restores the others.
      this.nft().run(renderBase() + text);
    }
  }

  /** Removes one network's rules. Unknown bridge, or no table at all, is success. */
  deleteNetwork(bridge: string): void {
    if (!this.enabled) return;
    const text = renderDeleteNetwork(bridge);
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err) || this.present()) throw err;
    }
  }

  /**
   * Publishes host ports: their DNAT and published elements, one transaction, no rule
   * touched. Idempotent for the same data. A DNAT key already there with other data can
   * only be left over from a crash (the caller holds the host port), so it is removed
   * and the add retried once; `onStale` hears about each. Recreates the base first if the
   * table was deleted from outside.
   */
  addPorts(ports: PortElement[], onStale: (what: string) => void = () => {}): void {
    if (!this.enabled || !ports.length) return;
    if (this.applyFast(addPortOps(ports))) return;
    const text = renderAddPorts(ports);
    try {
      this.nft().run(text);
      return;
    } catch (err) {
      if (!isNftFailure(err)) throw err;
      if (!this.present()) {
        this.nft().run(renderBase() + text);
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
    if (!this.enabled) return;
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

  private tryRun(text: string): void {
    try {
      this.nft().run(text);
    } catch (err) {
      if (!isNftFailure(err)) throw err;
    }
  }

  /** Are both of our tables there (`inet` and the anti-spoofing `bridge` one)? False when disabled. */
  complete(): boolean {
    if (!this.enabled) return false;
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

  /** Is `table inet switchyard` there? (false when disabled: nothing is looked at.) */
  present(): boolean {
    if (!this.enabled) return false;
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
    if (!this.enabled) return;
    networks.forEach((n, i) => validateBridge(n.bridge, `networks[${i}].bridge`));
    const wanted = new Set(networks.map((n) => n.bridge));
    const stale = [...this.observedBridges()].filter((b) => !wanted.has(b));
    this.nft().run(
      renderBase() + renderFlushMembership() + stale.map(renderDeleteNetwork).join('') + networks.map(renderNetwork).join(''),
    );
  }

  /** Bridges the table currently has rules for (empty when the table is absent). */
  observedBridges(): Set<string> {
    if (!this.enabled || !this.present()) return new Set();
    const t = `${FAMILY} ${TABLE}`;
    const what = [
      `chains ${FAMILY}`,
      `set ${t} ${NAMES.bridges}`,
      `set ${t} ${NAMES.icc}`,
      `set ${t} ${NAMES.internal}`,
      `map ${t} ${NAMES.postroutingOut}`,
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
