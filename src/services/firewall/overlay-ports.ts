/**
 * The overlay driver's ports in nftables (drivers/overlay-ports.ts has the two kinds;
 * docs/drivers/overlay.md "Ports", docs/FIREWALL.md "Overlay ports").
 *
 * - In a network's namespace, `table netdev switchyard`: the anti-spoofing sets and check
 *   chain keyed on `iifname` (ruleset/antispoof.ts, the rules the bridge table has), and per
 *   guarded port two ingress chains: on its veth end `jump check` (with a firewall) then
 *   `fwd` to its proxy macvlan, on the proxy `fwd` back to the veth end. Text through
 *   libnftables, one context kept per network namespace until release(): the kernel's close()
 *   of a socket that deleted set elements waits for their RCU-deferred destruction (~11 ms).
 * - In a sandbox's namespace with a direct port, `table netdev switchyard` keyed on `oifname`
 *   (ruleset/port-guard.ts): the base once per namespace through libnftables, then each
 *   port's egress chain and elements as nfnetlink bytes in one batch (NftElements
 *   joinPortChain), on a socket kept there while the namespace has direct ports (it keeps
 *   the namespace alive: closed with its last direct port, or by release()).
 *
 * Without a firewall (`checked` false) the guarded ports' forwarding is still written (it is
 * the data path) and nothing else.
 */
import { SwitchyardError } from '../../errors.js';
import { withNetns } from '../../kernel/netns.js';
import type { ElementOp } from '../../kernel/nft-elements.js';
import type { GuardedPort, OverlayPorts } from '../../drivers/overlay-ports.js';
import type { NftPort } from './firewall.js';
import type { NftFamily } from '../../kernel/nft-elements.js';
import { antiSpoofCheckRules, antiSpoofOps, antiSpoofSets, deleteAntiSpoofOps, type AntiSpoofEndpoint } from './ruleset/antispoof.js';
import { elementText, filledChain, lines, validateBridge } from './ruleset/elements.js';
import { ANTISPOOF, NETDEV_FAMILY, TABLE } from './ruleset/names.js';
import { deletePortGuardOps, portGuardChainSpec, portGuardOps, renderPortGuardBase } from './ruleset/port-guard.js';
import type { NetdevPortChain } from '../../kernel/nft-port-chain.js';

const N = `${NETDEV_FAMILY} ${TABLE}`;
const PRIORITY = -300;

/** An nftables context bound to one namespace (kernel/nftables.ts's Nft). */
export interface NamespaceNft extends NftPort {
  close(): void;
  /** close() off the event loop (Nft.closeAsync); absent: close(). */
  closeAsync?(): Promise<void>;
}

/** What this needs of kernel/nft-elements.ts's NftElements, opened in a namespace. */
export interface PortChainSocket {
  hasTable(family: NftFamily, name: string): boolean;
  joinPortChain(chain: NetdevPortChain, ops: ElementOp[]): void;
  leavePortChain(chain: NetdevPortChain, ops: ElementOp[]): void;
  apply(ops: ElementOp[]): void;
  close(): void;
  closeAsync?(): Promise<void>;
}

const portChain = (dev: string): string => `port-${dev}`;
const opText = (o: ElementOp): string => `${o.op} element ${N} ${o.set} { ${elementText(o.key)} }`;

/** The network namespace's table (re-runnable: sets create-or-verify, check chain re-filled). */
export function renderNetworkPorts(checked: boolean): string {
  if (!checked) return lines(`add table ${N}`);
  return lines(`add table ${N}`, ...antiSpoofSets(N, 'iifname'), ...filledChain(N, ANTISPOOF.check, undefined, antiSpoofCheckRules('iifname')));
}

/** A guarded port's two ingress chains (created or re-filled) and, checked, its elements. */
export function renderGuardedPort(p: GuardedPort, checked: boolean): string {
  const end = p.spec.port;
  validateBridge(end, 'port');
  validateBridge(p.proxy, 'proxy');
  const hook = (dev: string) => `type filter hook ingress device "${dev}" priority ${PRIORITY}; policy accept;`;
  return lines(
    ...(checked ? antiSpoofOps(p.spec, NETDEV_FAMILY).map(opText) : []),
    ...filledChain(N, portChain(end), hook(end), [...(checked ? [`jump ${ANTISPOOF.check}`] : []), `fwd to "${p.proxy}"`]),
    ...filledChain(N, portChain(p.proxy), hook(p.proxy), [`fwd to "${end}"`]),
  );
}

/** Its chains and elements gone; each written so that "already gone" is success (add, flush, delete). */
export function renderGuardedPortDelete(p: GuardedPort, checked: boolean): string {
  const del = (c: string) => [`add chain ${N} ${c}`, `flush chain ${N} ${c}`, `delete chain ${N} ${c}`];
  return lines(
    ...del(portChain(p.spec.port)),
    ...del(portChain(p.proxy)),
    ...(checked ? deleteAntiSpoofOps(p.spec, NETDEV_FAMILY).map(opText) : []),
  );
}

export class NftOverlayPorts implements OverlayPorts {
  /** Network namespace pin → its kept context and probe. */
  private readonly handles = new Map<string, NamespaceNft>();
  private readonly probes = new Map<string, PortChainSocket>();

  constructor(
    private readonly o: {
      /** A firewall: the checks are written (otherwise only the guarded ports' forwarding). */
      checked: boolean;
      /** libnftables bound to a namespace (Nft.open). */
      openNft: (nsPath: string) => NamespaceNft;
      /** nfnetlink bound to a namespace (NftElements.open). */
      openElements: (nsPath: string) => PortChainSocket;
    },
  ) {}

  /**
   * `fn` with the namespace's kept context, run from inside that namespace: libnftables looks
   * up the interface a `fwd to "name"` names in the calling thread's namespace, not its socket's.
   */
  private with<T>(nsPath: string, fn: (nft: NamespaceNft) => T): T {
    let nft = this.handles.get(nsPath);
    if (!nft) {
      nft = this.o.openNft(nsPath);
      this.handles.set(nsPath, nft);
    }
    const kept = nft;
    return withNetns(nsPath, () => fn(kept));
  }

  ensureNetwork(nsPath: string): void {
    this.with(nsPath, (nft) => nft.run(renderNetworkPorts(this.o.checked)));
  }

  openGuarded(nsPath: string, port: GuardedPort): void {
    const text = renderGuardedPort(port, this.o.checked); // validates before anything is opened
    this.with(nsPath, (nft) => {
      try {
        nft.run(text);
      } catch (err) {
        if (!isNftFailure(err)) throw err;
        // The table was deleted from outside: make it again (reload restores the others).
        nft.run(renderNetworkPorts(this.o.checked) + text);
      }
    });
  }

  closeGuarded(nsPath: string, port: GuardedPort): void {
    const text = renderGuardedPortDelete(port, this.o.checked);
    this.with(nsPath, (nft) => {
      try {
        nft.run(text);
      } catch (err) {
        if (!isNftFailure(err)) throw err;
      }
    });
  }

  networkPresent(nsPath: string): boolean {
    let probe = this.probes.get(nsPath);
    if (!probe) {
      probe = this.o.openElements(nsPath);
      this.probes.set(nsPath, probe);
    }
    return probe.hasTable(NETDEV_FAMILY, TABLE);
  }

  reloadNetwork(nsPath: string, ports: readonly GuardedPort[]): void {
    const flush = this.o.checked ? [ANTISPOOF.ports, ANTISPOOF.mac, ANTISPOOF.ip4, ANTISPOOF.ip6, ANTISPOOF.nd6].map((s) => `flush set ${N} ${s}`) : [];
    this.with(nsPath, (nft) => nft.run(renderNetworkPorts(this.o.checked) + lines(...flush) + ports.map((p) => renderGuardedPort(p, this.o.checked)).join('')));
  }

  /**
   * Sandbox namespace pin → a socket kept there while it has direct ports (a join or leave on
   * a kept socket costs ~0.4 ms against ~1 ms with a fresh one, and a leave's close would
   * wait ~14 ms for what it deleted). It keeps the namespace alive: it is closed when the
   * namespace's last direct port leaves, or by release() when the namespace goes.
   */
  private readonly sandboxes = new Map<string, { sock: PortChainSocket; ports: Set<string> }>();

  private sandbox(sbNsPath: string): { sock: PortChainSocket; ports: Set<string> } {
    let entry = this.sandboxes.get(sbNsPath);
    if (!entry) {
      entry = { sock: this.o.openElements(sbNsPath), ports: new Set() };
      this.sandboxes.set(sbNsPath, entry);
    }
    return entry;
  }

  /** The sandbox's base table through libnftables (once per sandbox, or when it went). */
  private sandboxBase(sbNsPath: string): void {
    const nft = this.o.openNft(sbNsPath);
    try {
      nft.run(renderPortGuardBase());
    } finally {
      nft.close();
    }
  }

  private closeSandbox(sbNsPath: string): void {
    const entry = this.sandboxes.get(sbNsPath);
    if (!entry) return;
    this.sandboxes.delete(sbNsPath);
    // The kernel's close() waits for what the last leave deleted: not on the event loop.
    if (entry.sock.closeAsync) entry.sock.closeAsync().catch(() => {});
    else entry.sock.close();
  }

  openDirect(sbNsPath: string, spec: AntiSpoofEndpoint): void {
    if (!this.o.checked) return;
    const chain = portGuardChainSpec(spec.port);
    const ops = portGuardOps(spec);
    const entry = this.sandbox(sbNsPath);
    try {
      // No look-up of the table first: the batch fails as a whole without it (the sandbox's
      // first direct port, or the table deleted from outside), and then the base is made and
      // the batch sent again (a reload restores the other ports).
      try {
        entry.sock.joinPortChain(chain, ops);
      } catch (err) {
        if (!isNftFailure(err)) throw err;
        this.sandboxBase(sbNsPath);
        entry.sock.joinPortChain(chain, ops);
      }
      entry.ports.add(spec.port);
    } finally {
      if (entry.ports.size === 0) this.closeSandbox(sbNsPath);
    }
  }

  closeDirect(sbNsPath: string, spec: AntiSpoofEndpoint): void {
    if (!this.o.checked) return;
    const entry = this.sandbox(sbNsPath);
    try {
      entry.sock.leavePortChain(portGuardChainSpec(spec.port), deletePortGuardOps(spec));
    } finally {
      entry.ports.delete(spec.port);
      if (entry.ports.size === 0) this.closeSandbox(sbNsPath);
    }
  }

  revokeDirect(sbNsPath: string, spec: AntiSpoofEndpoint): void {
    if (!this.o.checked) return;
    const entry = this.sandboxes.get(sbNsPath);
    if (!entry) return; // nothing kept: the port's check was never written here, or has gone
    try {
      entry.sock.apply(deletePortGuardOps(spec));
    } catch (err) {
      // No table any more: nothing of the port is left to revoke.
      if (!isNftFailure(err) || entry.sock.hasTable(NETDEV_FAMILY, TABLE)) throw err;
    }
  }

  directPresent(sbNsPath: string): boolean {
    if (!this.o.checked) return true;
    const kept = this.sandboxes.get(sbNsPath);
    try {
      if (kept) return kept.sock.hasTable(NETDEV_FAMILY, TABLE);
      const s = this.o.openElements(sbNsPath);
      try {
        return s.hasTable(NETDEV_FAMILY, TABLE);
      } finally {
        s.close();
      }
    } catch {
      return false;
    }
  }

  reloadSandbox(sbNsPath: string, specs: readonly AntiSpoofEndpoint[]): void {
    if (!this.o.checked) return;
    this.sandboxBase(sbNsPath);
    const entry = this.sandbox(sbNsPath);
    try {
      for (const spec of specs) {
        entry.sock.joinPortChain(portGuardChainSpec(spec.port), portGuardOps(spec));
        entry.ports.add(spec.port);
      }
    } finally {
      if (entry.ports.size === 0) this.closeSandbox(sbNsPath);
    }
  }

  release(nsPath: string): void {
    this.closeSandbox(nsPath);
    this.probes.get(nsPath)?.close();
    this.probes.delete(nsPath);
    const nft = this.handles.get(nsPath);
    if (!nft) return;
    this.handles.delete(nsPath);
    if (nft.closeAsync) nft.closeAsync().catch(() => {});
    else nft.close();
  }
}

function isNftFailure(err: unknown): boolean {
  return err instanceof SwitchyardError && err.code === 'NFT_FAILED';
}
