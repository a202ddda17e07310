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
 *   joinPortChain). Nothing is kept open there: a socket left in a sandbox's namespace would
 *   keep that namespace, and the sandbox's devices, alive.
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

  /** Runs `fn` on a socket in the sandbox's namespace, closed at once (nothing kept there). */
  private inSandbox<T>(sbNsPath: string, fn: (s: PortChainSocket) => T): T {
    const s = this.o.openElements(sbNsPath);
    try {
      return fn(s);
    } finally {
      s.close();
    }
  }

  /** The sandbox's base table through libnftables when it has none (once per sandbox). */
  private ensureSandboxBase(s: PortChainSocket, sbNsPath: string): void {
    if (s.hasTable(NETDEV_FAMILY, TABLE)) return;
    const nft = this.o.openNft(sbNsPath);
    try {
      nft.run(renderPortGuardBase());
    } finally {
      nft.close();
    }
  }

  openDirect(sbNsPath: string, spec: AntiSpoofEndpoint): void {
    if (!this.o.checked) return;
    const chain = portGuardChainSpec(spec.port);
    const ops = portGuardOps(spec);
    this.inSandbox(sbNsPath, (s) => {
      this.ensureSandboxBase(s, sbNsPath);
      s.joinPortChain(chain, ops);
    });
  }

  closeDirect(sbNsPath: string, spec: AntiSpoofEndpoint): void {
    if (!this.o.checked) return;
    const chain = portGuardChainSpec(spec.port);
    const ops = deletePortGuardOps(spec);
    const s = this.o.openElements(sbNsPath);
    try {
      s.leavePortChain(chain, ops);
    } finally {
      // The kernel's close() waits for what the leave deleted (~14 ms): not on the event loop.
      if (s.closeAsync) s.closeAsync().catch(() => {});
      else s.close();
    }
  }

  directPresent(sbNsPath: string, _port: string): boolean {
    if (!this.o.checked) return true;
    try {
      return this.inSandbox(sbNsPath, (s) => s.hasTable(NETDEV_FAMILY, TABLE));
    } catch {
      return false;
    }
  }

  reloadSandbox(sbNsPath: string, specs: readonly AntiSpoofEndpoint[]): void {
    if (!this.o.checked) return;
    const nft = this.o.openNft(sbNsPath);
    try {
      nft.run(renderPortGuardBase());
    } finally {
      nft.close();
    }
    this.inSandbox(sbNsPath, (s) => {
      for (const spec of specs) s.joinPortChain(portGuardChainSpec(spec.port), portGuardOps(spec));
    });
  }

  release(nsPath: string): void {
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
