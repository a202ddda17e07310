/**
 * Encrypted overlay traffic, the effects: makes one host namespace's xfrm states and
 * policies and its nftables table (`inet switchyard_esp`) match a HostCryptoPlan
 * (drivers/overlay-crypto-plan.ts), removes them all, and probes whether the kernel can do
 * it at all. The namespace is the one whose VXLAN UDP sockets carry the overlay (the
 * host's, where the vxlan devices were created).
 *
 * Everything made here is marked as ours: xfrm states by their reqid and policies by their
 * mark (OWN_TAG in the top byte, the VNI below), the nftables table by its name. Nothing
 * else in the namespace is read or touched.
 *
 * apply() is idempotent and ordered so that no packet is lost or leaves in clear while it
 * changes things: new SAs first, then the policies (an updated out policy switches to the
 * new SPI atomically, XFRM_MSG_UPDPOLICY), then the nftables marks and drops, and only then
 * the policies and SAs that are no longer wanted.
 */
import { SwitchyardError, unavailable } from '../errors.js';
import { Nft } from '../kernel/nftables.js';
import { Xfrm, type XfrmPolicy, type XfrmSa, type XfrmSelector } from '../kernel/xfrm.js';
import {
  ESP_AEAD, ESP_ICV_BITS, ESP_KEY_BYTES, ESP_REPLAY_WINDOW, NFT_TABLE, POLICY_PRIORITY_BLOCK, POLICY_PRIORITY_PEER,
  isOwnTag, networkMark, nftCommands, type HostCryptoPlan, type SaSpec,
} from './overlay-crypto-plan.js';

const UDP = 17;

export interface ProbeResult {
  ok: boolean;
  /** The kernel support that is missing, in words a user can act on (empty when ok). */
  missing: string[];
}

/** A throwaway SA the probe adds and deletes at once: documentation addresses, our reqid tag. */
const PROBE_SA: XfrmSa = {
  src: '192.0.2.1', dst: '192.0.2.2', spi: 0xe3e3e3e3, reqid: networkMark(0xffffff),
  aead: { name: ESP_AEAD, key: Buffer.alloc(ESP_KEY_BYTES, 0x5a), icvBits: ESP_ICV_BITS }, replayWindow: ESP_REPLAY_WINDOW,
};

/**
 * Whether the running kernel can encrypt overlays here: an xfrm netlink socket opens
 * (CONFIG_XFRM_USER) and accepts an ESP SA with rfc4106(gcm(aes)) and extended sequence
 * numbers (esp4/esp6, the AEAD; deleted at once); and nftables accepts the rules
 * (`meta secpath`, needs CONFIG_XFRM). Makes nothing that outlives the call.
 */
export function probeOverlayCrypto(nsPath?: string): ProbeResult {
  let x: Xfrm;
  try {
    x = Xfrm.open(nsPath);
  } catch {
    return { ok: false, missing: ['IPsec xfrm netlink (CONFIG_XFRM_USER, module xfrm_user)', 'ESP (CONFIG_INET_ESP, module esp4)'] };
  }
  const missing: string[] = [];
  try {
    x.addSa(PROBE_SA);
  } catch (err) {
    missing.push(`ESP (CONFIG_INET_ESP/CONFIG_INET6_ESP, modules esp4/esp6) with the AEAD ${ESP_AEAD} (CONFIG_CRYPTO_GCM): the kernel refused a test SA: ${(err as Error).message}`);
  } finally {
    try {
      x.deleteSa(PROBE_SA);
    } finally {
      x.close();
    }
  }
  return { ok: !missing.length, missing };
}

/** Throws OVERLAY_ENCRYPTION_UNSUPPORTED, naming what the kernel lacks, when probe says no. */
export function assertOverlayCryptoSupported(nsPath?: string): void {
  const p = probeOverlayCrypto(nsPath);
  if (!p.ok) {
    throw unavailable('OVERLAY_ENCRYPTION_UNSUPPORTED',
      `-o encrypted needs kernel support this host lacks: ${p.missing.join('; ')} (load the modules or use a kernel built with them)`);
  }
}

function saOf(s: SaSpec): XfrmSa {
  return { src: s.src, dst: s.dst, spi: s.spi, reqid: s.reqid, aead: { name: ESP_AEAD, key: s.key, icvBits: ESP_ICV_BITS }, replayWindow: ESP_REPLAY_WINDOW };
}

const saId = (s: { dst: string; spi: number }): string => `${s.dst}/${s.spi}`;

function host(addr: string): { addr: string; prefix: number } {
  return { addr, prefix: addr.includes(':') ? 128 : 32 };
}

function desiredPolicies(plan: HostCryptoPlan): XfrmPolicy[] {
  const any = plan.family === 4 ? '0.0.0.0' : '::';
  const out: XfrmPolicy[] = plan.policies.map((p) => {
    const [s, d] = [host(p.src), host(p.dst)];
    return {
      dir: 'out', priority: POLICY_PRIORITY_PEER, action: 'allow', mark: { value: p.mark, mask: 0xffffffff },
      selector: { src: s.addr, srcPrefix: s.prefix, dst: d.addr, dstPrefix: d.prefix, proto: UDP, dport: p.port },
      templates: [{ src: p.src, dst: p.dst, spi: p.spi, reqid: p.reqid }],
    };
  });
  // Per VNI, a catch-all: a marked VXLAN packet toward a host with no peer policy (yet) is
  // dropped, never sent in clear.
  for (const vni of plan.vnis) {
    out.push({
      dir: 'out', priority: POLICY_PRIORITY_BLOCK, action: 'block', mark: { value: networkMark(vni), mask: 0xffffffff },
      selector: { src: any, srcPrefix: 0, dst: any, dstPrefix: 0, proto: UDP, dport: plan.port }, templates: [],
    });
  }
  return out;
}

const selectorId = (s: XfrmSelector): string => `${s.src}/${s.srcPrefix}>${s.dst}/${s.dstPrefix}:${s.proto}:${s.dport}`;
const policyId = (p: Pick<XfrmPolicy, 'dir' | 'selector' | 'mark'>): string => `${p.dir} ${selectorId(p.selector)} mark ${p.mark?.value ?? 0}/${p.mark?.mask ?? 0}`;

function samePolicy(a: XfrmPolicy, b: XfrmPolicy): boolean {
  return a.priority === b.priority && a.action === b.action && a.templates.length === b.templates.length
    && a.templates.every((t, i) => {
      const u = b.templates[i]!;
      return t.spi === u.spi && t.reqid === u.reqid && t.src === u.src && t.dst === u.dst;
    });
}

const ownPolicy = (p: XfrmPolicy): boolean => !!p.mark && isOwnTag(p.mark.value) && p.mark.mask === 0xffffffff;

/**
 * Deletes every xfrm policy and state of ours in the namespace (no probe, no nftables:
 * `system reset` deletes the table itself). A kernel without xfrm netlink holds none.
 */
export function removeOwnXfrm(nsPath?: string): { policies: number; sas: number } {
  let x: Xfrm;
  try {
    x = Xfrm.open(nsPath);
  } catch {
    return { policies: 0, sas: 0 };
  }
  try {
    const policies = x.listPolicies().filter(ownPolicy);
    for (const p of policies) x.deletePolicy(p);
    const sas = x.listSas().filter((s) => isOwnTag(s.reqid));
    for (const s of sas) x.deleteSa(s);
    return { policies: policies.length, sas: sas.length };
  } finally {
    x.close();
  }
}

export class OverlayCrypto {
  private constructor(private readonly xfrm: Xfrm, private readonly nft: Nft, readonly nsPath: string | undefined) {}

  /**
   * For the namespace pinned at nsPath (the caller's own when omitted). Probes first: on a
   * kernel that cannot do it, throws OVERLAY_ENCRYPTION_UNSUPPORTED naming what is missing,
   * having made nothing.
   */
  static open(nsPath?: string): OverlayCrypto {
    assertOverlayCryptoSupported(nsPath);
    const x = Xfrm.open(nsPath);
    try {
      return new OverlayCrypto(x, Nft.open(nsPath), nsPath);
    } catch (err) {
      x.close();
      throw err;
    }
  }

  close(): void {
    this.xfrm.close();
    this.nft.close();
  }

  /** Makes the namespace match plan (see the file comment for the order). Idempotent. */
  apply(plan: HostCryptoPlan): { added: number; removed: number; policiesChanged: number } {
    const wantSas = new Map(plan.sas.map((s) => [saId(s), saOf(s)]));
    const haveSas = new Map(this.xfrm.listSas().filter((s) => isOwnTag(s.reqid)).map((s) => [saId(s), s]));
    const stale: XfrmSa[] = [];
    let added = 0;
    for (const [id, want] of wantSas) {
      const have = haveSas.get(id);
      if (have && have.src === want.src && have.reqid === want.reqid && have.aead?.key.equals(want.aead!.key)) continue;
      if (have) this.xfrm.deleteSa(have); // same (dst, SPI), other key: a replaced ring
      this.xfrm.addSa(want);
      added++;
    }
    for (const [id, have] of haveSas) if (!wantSas.has(id)) stale.push(have);

    const wantPolicies = new Map(desiredPolicies(plan).map((p) => [policyId(p), p]));
    const havePolicies = new Map(this.xfrm.listPolicies().filter(ownPolicy).map((p) => [policyId(p), p]));
    let policiesChanged = 0;
    // Block policies before peer policies before the marks: a marked packet always meets a policy.
    for (const [id, want] of [...wantPolicies].sort(([, a], [, b]) => b.priority - a.priority)) {
      const have = havePolicies.get(id);
      if (have && samePolicy(have, want)) continue;
      this.xfrm.putPolicy(want);
      policiesChanged++;
    }

    this.applyNft(plan.vnis, plan.port);

    for (const [id, have] of havePolicies) {
      if (wantPolicies.has(id)) continue;
      this.xfrm.deletePolicy(have);
      policiesChanged++;
    }
    for (const s of stale) this.xfrm.deleteSa(s);
    return { added, removed: stale.length, policiesChanged };
  }

  /** Removes every state, policy and nftables object of ours in the namespace. Idempotent. */
  remove(): void {
    this.applyNft([], 0);
    for (const p of this.xfrm.listPolicies().filter(ownPolicy)) this.xfrm.deletePolicy(p);
    for (const s of this.xfrm.listSas().filter((s) => isOwnTag(s.reqid))) this.xfrm.deleteSa(s);
  }

  /** Our xfrm states and policies and whether our table exists (for leak checks and status). */
  inventory(): { sas: XfrmSa[]; policies: XfrmPolicy[]; table: boolean } {
    return {
      sas: this.xfrm.listSas().filter((s) => isOwnTag(s.reqid)),
      policies: this.xfrm.listPolicies().filter(ownPolicy),
      table: this.counters() !== null,
    };
  }

  /** Cleartext VXLAN packets of each encrypted VNI dropped on ingress since its counter was made. */
  cleartextDrops(): Map<number, number> {
    const out = new Map<number, number>();
    const json = this.tableJson();
    for (const o of json ?? []) {
      const c = o.counter as { name?: string; packets?: number } | undefined;
      const m = c?.name?.match(/^cleartext_(\d+)$/);
      if (m) out.set(Number(m[1]), c!.packets ?? 0);
    }
    return out;
  }

  private tableJson(): Array<Record<string, unknown>> | null {
    try {
      return this.nft.listJson(`table inet ${NFT_TABLE}`).nftables;
    } catch (err) {
      if (err instanceof SwitchyardError && /No such file or directory/.test(err.message)) return null;
      throw err;
    }
  }

  /** Names of our table's counters, or null when the table does not exist. */
  private counters(): string[] | null {
    const json = this.tableJson();
    if (!json) return null;
    return json.map((o) => (o.counter as { name?: string } | undefined)?.name).filter((n): n is string => !!n);
  }

  private applyNft(vnis: readonly number[], port: number): void {
    const cmds = nftCommands(vnis, port, this.counters());
    if (cmds) this.nft.run(cmds);
  }
}

