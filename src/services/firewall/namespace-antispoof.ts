/**
 * Anti-spoofing in a namespace other than the daemon's (docs/FIREWALL.md "Anti-spoofing",
 * "Overlay networks"): the same `table bridge switchyard` as the daemon's namespace has
 * (ruleset/antispoof.ts, rendered by the same functions), loaded into a namespace that
 * holds a bridge of its own, i.e. an overlay network's (drivers/overlay.ts). Only the
 * fail-closed prefix differs: the sandbox ports there are `syo…`.
 *
 * One nftables context per namespace, opened on first use and kept until release(): the
 * kernel's close() of a netlink socket that deleted set elements waits for their RCU-deferred
 * destruction (~11 ms here, measured with strace -T, 2026-12-03), and holds the namespace's
 * nftables mutex meanwhile, so a context per call made every leave (and the next join) pay
 * it. An open context pins its namespace (its socket lives there): the driver releases it
 * before it deletes the namespace.
 */
import { SwitchyardError } from '../../errors.js';
import type { NftPort } from './firewall.js';
import { BRIDGE_FAMILY, TABLE } from './ruleset/names.js';
import {
  renderAddEndpoint, renderAntiSpoofBase, renderDeleteEndpoint, renderFlushEndpoints, type AntiSpoofEndpoint,
} from './ruleset/antispoof.js';

/** An nftables context bound to one namespace (kernel/nftables.ts's Nft). */
export interface NamespaceNft extends NftPort {
  close(): void;
  /** close() off the event loop (Nft.closeAsync); absent: close(). */
  closeAsync?(): Promise<void>;
}

/** A cheap "is the table there?" bound to one namespace (kernel/nft-elements.ts NftElements: one GETTABLE). */
export interface TableProbe {
  hasTable(family: 'bridge', name: string): boolean;
  close(): void;
}

export class NamespaceAntiSpoof {
  /**
   * `open` gives a context bound to the namespace pinned at a path (Nft.open); `portPrefix`
   * is the name prefix of the sandbox ports there (a port with it and no elements carries
   * nothing); `openProbe` (NftElements.open) answers present() without libnftables' cache.
   */
  constructor(
    private readonly open: (nsPath: string) => NamespaceNft,
    private readonly portPrefix: string,
    private readonly openProbe: (nsPath: string) => TableProbe,
  ) {}

  /** Namespace pin → its probe, open until release(). */
  private readonly probes = new Map<string, TableProbe>();

  /**
   * Is the namespace's table there? (the daemon's watchdog, every 2 s). One GETTABLE on a
   * kept socket. A chain flushed inside a table that is there is not seen.
   */
  present(nsPath: string): boolean {
    let probe = this.probes.get(nsPath);
    if (!probe) {
      probe = this.openProbe(nsPath);
      this.probes.set(nsPath, probe);
    }
    return probe.hasTable(BRIDGE_FAMILY, TABLE);
  }

  private base(): string {
    return renderAntiSpoofBase(this.portPrefix);
  }

  /** Namespace pin → its context, open until release(). */
  private readonly handles = new Map<string, NamespaceNft>();

  private with<T>(nsPath: string, fn: (nft: NamespaceNft) => T): T {
    let nft = this.handles.get(nsPath);
    if (!nft) {
      nft = this.open(nsPath);
      this.handles.set(nsPath, nft);
    }
    return fn(nft);
  }

  /**
   * Closes the namespace's context (before the namespace is deleted, or when a namespace is
   * made afresh at the same path). On the threadpool: the kernel's close() of a socket that
   * deleted elements a moment before waits for them to be freed (~11 ms here).
   */
  release(nsPath: string): void {
    this.probes.get(nsPath)?.close();
    this.probes.delete(nsPath);
    const nft = this.handles.get(nsPath);
    if (!nft) return;
    this.handles.delete(nsPath);
    if (nft.closeAsync) nft.closeAsync().catch(() => {});
    else nft.close();
  }

  /** Creates the table, sets and chains if missing (re-runnable: elements stay, chains are re-filled). */
  ensure(nsPath: string): void {
    this.with(nsPath, (nft) => nft.run(this.base()));
  }

  /** Lets the endpoint's port send only its own MAC and addresses (idempotent); recreates the table if it is gone. */
  allow(nsPath: string, e: AntiSpoofEndpoint): void {
    const text = renderAddEndpoint(e); // validates before anything is opened
    this.with(nsPath, (nft) => {
      try {
        nft.run(text);
      } catch (err) {
        if (!isNftFailure(err)) throw err;
        // The table was deleted from outside: recreate it (reload restores the others).
        nft.run(this.base() + text);
      }
    });
  }

  /** Removes the endpoint's elements; already gone, or no table, is success. */
  revoke(nsPath: string, e: AntiSpoofEndpoint): void {
    const text = renderDeleteEndpoint(e);
    this.with(nsPath, (nft) => {
      try {
        nft.run(text);
      } catch (err) {
        if (!isNftFailure(err)) throw err;
      }
    });
  }

  /** The table as it must be, holding exactly `endpoints`' elements, in one transaction. */
  reload(nsPath: string, endpoints: readonly AntiSpoofEndpoint[]): void {
    const adds = endpoints.map(renderAddEndpoint).join('');
    this.with(nsPath, (nft) => nft.run(this.base() + renderFlushEndpoints() + adds));
  }
}

function isNftFailure(err: unknown): boolean {
  return err instanceof SwitchyardError && err.code === 'NFT_FAILED';
}
