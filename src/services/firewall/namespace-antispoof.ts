/**
 * Anti-spoofing in a namespace other than the daemon's (docs/FIREWALL.md "Anti-spoofing",
 * "Overlay networks"): the same `table bridge switchyard` as the daemon's namespace has
 * (ruleset/antispoof.ts, rendered by the same functions), loaded into a namespace that
 * holds a bridge of its own, i.e. an overlay network's (drivers/overlay.ts). Only the
 * fail-closed prefix differs: the sandbox ports there are `syo…`.
 *
 * Every call opens an nftables context bound to the namespace and closes it before it
 * returns: an open context would pin the namespace (its netlink socket lives there), and
 * the driver deletes the namespace with the network's last local endpoint.
 */
import { SwitchyardError } from '../../errors.js';
import type { NftPort } from './firewall.js';
import {
  renderAddEndpoint, renderAntiSpoofBase, renderDeleteEndpoint, renderFlushEndpoints, type AntiSpoofEndpoint,
} from './ruleset/antispoof.js';

/** An nftables context bound to one namespace (kernel/nftables.ts's Nft). */
export interface NamespaceNft extends NftPort {
  close(): void;
}

export class NamespaceAntiSpoof {
  /**
   * `open` gives a context bound to the namespace pinned at a path (Nft.open); `portPrefix`
   * is the name prefix of the sandbox ports there (a port with it and no elements carries nothing).
   */
  constructor(
    private readonly open: (nsPath: string) => NamespaceNft,
    private readonly portPrefix: string,
  ) {}

  private base(): string {
    return renderAntiSpoofBase(this.portPrefix);
  }

  private with<T>(nsPath: string, fn: (nft: NamespaceNft) => T): T {
    const nft = this.open(nsPath);
    try {
      return fn(nft);
    } finally {
      nft.close();
    }
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
