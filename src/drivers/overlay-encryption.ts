/**
 * The overlay driver's encryption (`-o encrypted`, docs/drivers/overlay-encryption.md): the
 * glue between the driver and the ESP module. It holds, per encrypted network, the key ring
 * the cluster layer hands over (from the shared store) and the data-path addresses of the
 * other hosts of the network (from the driver's peers), and after every change makes this
 * host's xfrm states, policies and nftables table match `planHost()` of all the encrypted
 * networks this host takes part in (OverlayCrypto.apply: ordered so nothing is sent in clear
 * or lost). A host whose kernel cannot encrypt refuses to take part (probe, at every
 * ensureNetwork) rather than send in clear.
 */
import { conflict, invalid } from '../errors.js';
import { OverlayCrypto, assertOverlayCryptoSupported } from './overlay-crypto.js';
import {
  DEFAULT_PRUNE_GRACE_MS, advanceRotation, beginRotation, decodeKeyRing, encodeKeyRing, encryptedInnerMtu, newKeyRing, planHost, reportFor, rotationDue,
  type HostKeyReport, type NetworkKeyRing, type Random,
} from './overlay-crypto-plan.js';
import type { SecretRotationInput } from './contract.js';
import { VXLAN_OVERHEAD } from './overlay-plan.js';

export interface RotationInput {
  ring: NetworkKeyRing;
  /** Node ids of the hosts taking part in the network. */
  hosts: readonly string[];
  reports: readonly HostKeyReport[];
  now: Date;
  intervalMs: number;
  graceMs?: number;
  random?: Random;
}

/** The ring's next version (a rotation begins, or moves on), or undefined: nothing to do now. Pure. */
export function nextRing(i: RotationInput): NetworkKeyRing | undefined {
  if (rotationDue(i.ring, i.now, i.intervalMs)) return beginRotation(i.ring, i.now, i.random);
  const step = advanceRotation(i.ring, i.hosts, i.reports, i.now, i.graceMs ?? DEFAULT_PRUNE_GRACE_MS);
  return step.changed ? step.ring : undefined;
}

function parseReport(text: string): HostKeyReport | undefined {
  try {
    const r = JSON.parse(text) as HostKeyReport;
    if (typeof r.host === 'string' && typeof r.networkId === 'string' && Array.isArray(r.rx) && typeof r.tx === 'number') return r;
  } catch {
    // a bad report counts as none: the rotation waits for that host
  }
  return undefined;
}

/** NetworkDriver.rotateSecret for key rings: the encoded next ring, or undefined. */
export function rotateKeyRing(secret: string, i: SecretRotationInput): string | undefined {
  const next = nextRing({
    ring: decodeKeyRing(secret), hosts: i.hosts, reports: i.reports.map(parseReport).filter((r): r is HostKeyReport => !!r),
    now: i.now, intervalMs: i.intervalMs, ...(i.graceMs !== undefined ? { graceMs: i.graceMs } : {}),
  });
  return next && encodeKeyRing(next);
}

/** NetworkDriver.secretReport for key rings: this host's HostKeyReport, as JSON. */
export function keyRingReport(secret: string, nodeId: string): string {
  return JSON.stringify(reportFor(nodeId, decodeKeyRing(secret)));
}

/** What the overlay driver asks of its encryption (OverlayDriverOptions.encryption). */
export interface OverlayEncryption {
  /** Throws OVERLAY_ENCRYPTION_UNSUPPORTED (nothing made) when this host's kernel cannot encrypt. */
  probe(): void;
  /** A new network's key ring, encoded for the shared store. */
  newRing(net: { id: string; vni: number }, now: Date): string;
  /** The bytes encryption takes from the overlay MTU on this underlay. */
  overhead(underlayMtu: number, family: 4 | 6): number;
  /** The network's ring now (from the store); true when this host applied it (it takes part). */
  setRing(netId: string, ring: string): boolean;
  /** This host takes part in the network: install its SAs (probe first; the ring must be known). */
  ensureNetwork(netId: string, dataPath: { dataPathAddress: string; dataPathPort: number }): void;
  /** The data-path addresses of the other hosts of the network. */
  syncPeers(netId: string, hosts: readonly string[]): void;
  /** This host no longer takes part: its SAs, policies and marks for the network go. */
  deleteNetwork(netId: string): void;
}

export interface OverlayEncryptionOptions {
  /** The namespace whose xfrm and nftables carry the overlay (the daemon's own when omitted). */
  nsPath?: string;
  open?: (nsPath?: string) => Pick<OverlayCrypto, 'apply' | 'remove' | 'close'>;
  probe?: (nsPath?: string) => void;
  log?: (msg: string) => void;
}

export class OverlayEncryptionHost implements OverlayEncryption {
  private readonly rings = new Map<string, NetworkKeyRing>();
  private readonly peers = new Map<string, string[]>();
  /** Networks this host takes part in (their SAs are installed). */
  private readonly active = new Set<string>();
  private dp: { dataPathAddress: string; dataPathPort: number } | undefined;
  private crypto: Pick<OverlayCrypto, 'apply' | 'remove' | 'close'> | undefined;

  constructor(private readonly o: OverlayEncryptionOptions = {}) {}

  probe(): void {
    (this.o.probe ?? assertOverlayCryptoSupported)(this.o.nsPath);
  }

  newRing(net: { id: string; vni: number }, now: Date): string {
    return encodeKeyRing(newKeyRing(net.id, net.vni, now));
  }

  overhead(underlayMtu: number, family: 4 | 6): number {
    return underlayMtu - VXLAN_OVERHEAD[family] - encryptedInnerMtu(underlayMtu, family);
  }

  setRing(netId: string, ring: string): boolean {
    const r = decodeKeyRing(ring);
    if (r.networkId !== netId) throw invalid('INVALID_KEY_RING', `the key ring of network ${netId.slice(0, 12)} names network ${r.networkId.slice(0, 12)}`, 'networkId');
    this.rings.set(netId, r);
    if (!this.active.has(netId)) return false;
    this.applyAll();
    return true;
  }

  /** The ring this host holds for the network (tests, reports). */
  ring(netId: string): NetworkKeyRing | undefined {
    return this.rings.get(netId);
  }

  ensureNetwork(netId: string, dataPath: { dataPathAddress: string; dataPathPort: number }): void {
    if (!this.crypto) {
      this.probe();
      this.crypto = (this.o.open ?? ((ns) => OverlayCrypto.open(ns)))(this.o.nsPath);
    }
    if (!this.rings.has(netId)) {
      throw conflict('OVERLAY_KEY_RING_MISSING', `network ${netId.slice(0, 12)} is encrypted and this host has no key ring for it yet (the cluster store has not delivered it): not taking part rather than sending in clear`);
    }
    this.dp = dataPath;
    const was = this.active.has(netId);
    this.active.add(netId);
    try {
      this.applyAll();
    } catch (err) {
      if (!was) this.active.delete(netId);
      throw err;
    }
  }

  syncPeers(netId: string, hosts: readonly string[]): void {
    const want = [...new Set(hosts.filter((h) => h && h !== this.dp?.dataPathAddress))].sort();
    const have = this.peers.get(netId);
    if (have && have.length === want.length && have.every((h, i) => h === want[i])) return;
    this.peers.set(netId, want);
    if (this.active.has(netId)) this.applyAll();
  }

  deleteNetwork(netId: string): void {
    this.peers.delete(netId);
    if (!this.active.delete(netId)) return;
    if (!this.crypto) return;
    if (this.active.size) {
      this.applyAll();
      return;
    }
    this.crypto.remove();
    this.crypto.close();
    this.crypto = undefined;
  }

  private applyAll(): void {
    if (!this.crypto || !this.dp) return;
    const networks = [...this.active].map((id) => ({ ring: this.rings.get(id)!, peers: this.peers.get(id) ?? [] }));
    this.crypto.apply(planHost({ local: this.dp.dataPathAddress, port: this.dp.dataPathPort, networks }));
  }
}
