/**
 * Encrypted overlay traffic (`-o encrypted`), the pure part: key material, the SPIs and
 * per-SA keys both ends of a host pair derive alike, the key-rotation state machine, the
 * record that goes to the cluster store, and the kernel objects (xfrm states and policies,
 * nftables rules) one host needs. No I/O here; drivers/overlay-crypto.ts applies a plan.
 *
 * The scheme (docs/drivers/overlay-encryption.md): IPsec ESP in transport mode with AEAD
 * `rfc4106(gcm(aes))`, between the hosts' data-path (underlay) addresses, applied only to
 * the VXLAN UDP packets of encrypted VNIs: an nftables rule on egress gives those packets
 * the network's mark, and the xfrm policies match that mark. Each network has its own key
 * ring (1 to 3 epochs of a 256-bit secret); every (network, epoch, source, destination)
 * gets its own SPI and its own AES-GCM key, derived with HKDF-SHA256 from the epoch's
 * secret, so no two SAs ever share a key (no GCM nonce reuse across directions or pairs).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { SwitchyardError, conflict, invalid } from '../errors.js';
import { canonicalIp, tryParseIp } from '../model/ip.js';

/** The AEAD xfrm states use (RFC 4106 AES-GCM for ESP). */
export const ESP_AEAD = 'rfc4106(gcm(aes))';
/** AES-128 key + the 4-byte RFC 4106 salt, as the kernel takes them (alg_key). */
export const ESP_KEY_BYTES = 16 + 4;
/** Full 16-byte GCM tag (Docker uses 8 bytes; RFC 4106 allows 8, 12 or 16). */
export const ESP_ICV_BITS = 128;
/** Anti-replay window of each inbound SA (extended sequence numbers, RFC 4304). */
export const ESP_REPLAY_WINDOW = 128;
/** Size of an epoch's secret. */
export const SECRET_BYTES = 32;
/** Top byte of every mark and reqid Switchyard gives to overlay encryption ("ours"). */
export const OWN_TAG = 0xe3;
export const DEFAULT_VXLAN_PORT = 4789;
/** Docker's key rotation period (swarmkit keymanager DefaultKeyRotationInterval). */
export const DEFAULT_ROTATION_INTERVAL_MS = 12 * 3600_000;
/** After every host sends with the new key, how long the old one still decrypts late packets. */
export const DEFAULT_PRUNE_GRACE_MS = 2_000;
/** At most this many epochs in a ring (the current one, the next one, and one spare). */
export const MAX_KEYS = 3;
/** xfrm policy priorities: the per-peer ESP policies win over the per-network catch-all block. */
export const POLICY_PRIORITY_PEER = 0x100;
export const POLICY_PRIORITY_BLOCK = 0x200;
/** The nftables table holding the egress marks and the ingress cleartext drops. */
export const NFT_TABLE = 'switchyard_esp';

/** Bytes ESP transport with rfc4106 adds: header (SPI, seq) 8 + IV 8 + pad length and next header 2 + ICV 16, before padding. */
export const ESP_FIXED_OVERHEAD = 8 + 8 + 2 + ESP_ICV_BITS / 8;

/**
 * The largest inner (sandbox) MTU whose VXLAN packet, ESP-encrypted, still fits the underlay
 * MTU: outer IP header + ESP overhead + the ESP payload (UDP 8 + VXLAN 8 + Ethernet 14 +
 * inner packet) padded to 4 bytes together with the 2-byte trailer.
 */
export function encryptedInnerMtu(underlayMtu: number, family: 4 | 6 = 4): number {
  const ipHeader = family === 4 ? 20 : 40;
  const room = underlayMtu - ipHeader - 8 - 8 - ESP_ICV_BITS / 8; // what the padded payload + trailer may use
  const payloadPlusTrailer = room - (room % 4);
  return payloadPlusTrailer - 2 - 8 - 8 - 14;
}

/** The mark egress VXLAN packets of this VNI get, and the reqid of its SAs: OWN_TAG in the top byte. */
export function networkMark(vni: number): number {
  checkVni(vni);
  return ((OWN_TAG << 24) | vni) >>> 0;
}

/** True for marks and reqids Switchyard's overlay encryption made (whatever the VNI). */
export function isOwnTag(value: number): boolean {
  return value >>> 24 === OWN_TAG;
}

function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw invalid('INVALID_VNI', `VNI ${vni} must be 1-16777215`, 'vni');
}

// ---- the key ring: what goes to the cluster store ----

export interface KeyEpoch {
  /** 1, 2, 3…: never reused within a network. */
  epoch: number;
  /** SECRET_BYTES random bytes, base64. A secret: never shown by inspect or logged. */
  secret: string;
  createdAt: string;
}

/**
 * One encrypted network's keys, stored in the cluster store under its own key
 * (`overlay-keys/<network id>`), apart from the network record so that reading or
 * inspecting a network never reads a secret.
 */
export interface NetworkKeyRing {
  version: 1;
  networkId: string;
  vni: number;
  /** Ascending epochs; the newest is the one a rotation installs, txEpoch the one used to send. */
  keys: KeyEpoch[];
  txEpoch: number;
  /** When txEpoch became the sending key (start of the prune grace). */
  txSince: string;
}

/** What one host reports (in the store, under its own key) after applying a ring. */
export interface HostKeyReport {
  host: string;
  networkId: string;
  /** Epochs whose SAs (both directions, to every peer) the host has installed. */
  rx: number[];
  /** The epoch its out policies point at. */
  tx: number;
}

export type RotationPhase = 'steady' | 'receive' | 'prune';

export type Random = (n: number) => Buffer;

function newSecret(random: Random): string {
  const b = random(SECRET_BYTES);
  if (b.length !== SECRET_BYTES) throw new SwitchyardError('internal', 'OVERLAY_KEY_RANDOM', `random source gave ${b.length} bytes, not ${SECRET_BYTES}`);
  return b.toString('base64');
}

/** A fresh ring for a new encrypted network: one epoch, used at once. */
export function newKeyRing(networkId: string, vni: number, now: Date, random: Random = randomBytes): NetworkKeyRing {
  checkVni(vni);
  if (!networkId) throw invalid('INVALID_NETWORK_ID', 'an encrypted network needs an id', 'networkId');
  const at = now.toISOString();
  return { version: 1, networkId, vni, keys: [{ epoch: 1, secret: newSecret(random), createdAt: at }], txEpoch: 1, txSince: at };
}

export function rotationPhase(ring: NetworkKeyRing): RotationPhase {
  const newest = ring.keys[ring.keys.length - 1]!.epoch;
  if (ring.txEpoch < newest) return 'receive';
  return ring.keys.length > 1 ? 'prune' : 'steady';
}

/** A steady ring whose key is older than the interval. */
export function rotationDue(ring: NetworkKeyRing, now: Date, intervalMs = DEFAULT_ROTATION_INTERVAL_MS): boolean {
  return rotationPhase(ring) === 'steady' && now.getTime() - Date.parse(ring.keys[0]!.createdAt) >= intervalMs;
}

/**
 * Step 1 of a rotation: a new epoch joins the ring for receiving only (every host installs
 * its SAs; nobody sends with it yet). Only from a steady ring: one rotation at a time.
 */
export function beginRotation(ring: NetworkKeyRing, now: Date, random: Random = randomBytes): NetworkKeyRing {
  const phase = rotationPhase(ring);
  if (phase !== 'steady') throw conflict('OVERLAY_ROTATION_BUSY', `network ${ring.networkId}: a key rotation is already in its ${phase} phase`);
  const epoch = ring.keys[ring.keys.length - 1]!.epoch + 1;
  return { ...ring, keys: [...ring.keys, { epoch, secret: newSecret(random), createdAt: now.toISOString() }] };
}

export interface RotationStep {
  ring: NetworkKeyRing;
  changed: boolean;
  /** The hosts whose report the next step waits for (empty when steady or just advanced). */
  waitingFor: string[];
}

/**
 * Moves a rotation on when every host of the network has caught up:
 * - receive → every host has the new epoch installed for receiving: it becomes txEpoch
 *   (each host then points its out policies at it, one atomic policy update per peer);
 * - prune → every host sends with txEpoch and the grace for packets in flight is over: the
 *   older epochs leave the ring (each host then removes their SAs).
 * `hosts` are the hosts that hold the network now (a host that left for good must not be
 * listed, or the rotation waits for it).
 */
export function advanceRotation(ring: NetworkKeyRing, hosts: readonly string[], reports: readonly HostKeyReport[], now: Date,
  graceMs = DEFAULT_PRUNE_GRACE_MS): RotationStep {
  const phase = rotationPhase(ring);
  const byHost = new Map(reports.filter((r) => r.networkId === ring.networkId).map((r) => [r.host, r]));
  const newest = ring.keys[ring.keys.length - 1]!.epoch;
  if (phase === 'receive') {
    const waitingFor = hosts.filter((h) => !byHost.get(h)?.rx.includes(newest));
    if (waitingFor.length) return { ring, changed: false, waitingFor };
    return { ring: { ...ring, txEpoch: newest, txSince: now.toISOString() }, changed: true, waitingFor: [] };
  }
  if (phase === 'prune') {
    const waitingFor = hosts.filter((h) => byHost.get(h)?.tx !== newest);
    if (waitingFor.length) return { ring, changed: false, waitingFor };
    if (now.getTime() - Date.parse(ring.txSince) < graceMs) return { ring, changed: false, waitingFor: [] };
    return { ring: { ...ring, keys: ring.keys.filter((k) => k.epoch === newest) }, changed: true, waitingFor: [] };
  }
  return { ring, changed: false, waitingFor: [] };
}

/** The ring without its secrets: what logs, `inspect` and status views may show. */
export function redactKeyRing(ring: NetworkKeyRing): { networkId: string; vni: number; epochs: Array<{ epoch: number; createdAt: string }>; txEpoch: number; phase: RotationPhase } {
  return { networkId: ring.networkId, vni: ring.vni, epochs: ring.keys.map(({ epoch, createdAt }) => ({ epoch, createdAt })), txEpoch: ring.txEpoch, phase: rotationPhase(ring) };
}

/** Serialised form for the store (JSON, secrets included: the store key must be protected). */
export function encodeKeyRing(ring: NetworkKeyRing): string {
  return JSON.stringify(decodeKeyRing(ring));
}

/** Parses and validates a stored ring (or re-validates an object): a bad record is a clear error. */
export function decodeKeyRing(input: unknown): NetworkKeyRing {
  const v = typeof input === 'string' ? parseJson(input) : input;
  const bad = (field: string, why: string): SwitchyardError => invalid('INVALID_KEY_RING', `overlay key ring: ${field} ${why}`, field);
  if (!v || typeof v !== 'object') throw bad('record', 'is not an object');
  const r = v as Record<string, unknown>;
  if (r.version !== 1) throw bad('version', `is ${JSON.stringify(r.version)}, expected 1`);
  if (typeof r.networkId !== 'string' || !r.networkId) throw bad('networkId', 'must be a non-empty string');
  if (typeof r.vni !== 'number' || !Number.isInteger(r.vni) || r.vni < 1 || r.vni > 0xffffff) throw bad('vni', 'must be 1-16777215');
  if (!Array.isArray(r.keys) || r.keys.length < 1 || r.keys.length > MAX_KEYS) throw bad('keys', `must hold 1-${MAX_KEYS} epochs`);
  const keys = r.keys.map((k: unknown, i: number): KeyEpoch => {
    const e = (k ?? {}) as Record<string, unknown>;
    if (typeof e.epoch !== 'number' || !Number.isInteger(e.epoch) || e.epoch < 1) throw bad(`keys[${i}].epoch`, 'must be a whole number ≥ 1');
    if (typeof e.secret !== 'string' || Buffer.from(e.secret, 'base64').length !== SECRET_BYTES) throw bad(`keys[${i}].secret`, `must be ${SECRET_BYTES} bytes in base64`);
    if (typeof e.createdAt !== 'string' || Number.isNaN(Date.parse(e.createdAt))) throw bad(`keys[${i}].createdAt`, 'must be a timestamp');
    return { epoch: e.epoch, secret: e.secret, createdAt: e.createdAt };
  });
  keys.forEach((k, i) => {
    if (i && k.epoch <= keys[i - 1]!.epoch) throw bad('keys', 'must be in ascending epoch order');
  });
  if (typeof r.txEpoch !== 'number' || !keys.some((k) => k.epoch === r.txEpoch)) throw bad('txEpoch', 'must be one of the ring\'s epochs');
  if (keys.some((k) => k.epoch < (r.txEpoch as number)) && keys[keys.length - 1]!.epoch !== r.txEpoch) throw bad('txEpoch', 'leaves keys both older and newer than it');
  if (typeof r.txSince !== 'string' || Number.isNaN(Date.parse(r.txSince))) throw bad('txSince', 'must be a timestamp');
  return { version: 1, networkId: r.networkId, vni: r.vni, keys, txEpoch: r.txEpoch as number, txSince: r.txSince };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid('INVALID_KEY_RING', 'overlay key ring: not valid JSON', 'record');
  }
}

// ---- derivation: identical on both ends of a host pair ----

const HKDF_SALT = Buffer.from('switchyard/overlay-esp/v1');

function deriveBytes(ring: NetworkKeyRing, epoch: number, src: string, dst: string, what: 'key' | 'spi', n: number): Buffer {
  const k = ring.keys.find((e) => e.epoch === epoch);
  if (!k) throw invalid('INVALID_KEY_EPOCH', `network ${ring.networkId} has no key epoch ${epoch}`, 'epoch');
  const info = Buffer.from([what, ring.networkId, String(epoch), src, dst].join('\0'));
  return Buffer.from(hkdfSync('sha256', Buffer.from(k.secret, 'base64'), HKDF_SALT, info, n));
}

/** One direction of one host pair for one network and epoch. */
export interface SaSpec {
  vni: number;
  epoch: number;
  /** Canonical data-path addresses. */
  src: string;
  dst: string;
  /** 256…2^32-1 (0-255 are reserved by RFC 4303). */
  spi: number;
  /** ESP_KEY_BYTES: AES key then RFC 4106 salt. A secret. */
  key: Buffer;
  reqid: number;
}

/**
 * The SA carrying `src → dst` for this network and epoch. Both hosts compute the same SPI
 * and key from the shared epoch secret, the network id and the two addresses (in order:
 * the two directions differ).
 */
export function deriveSa(ring: NetworkKeyRing, epoch: number, src: string, dst: string): SaSpec {
  const [s, d] = [canonicalAddress(src, 'src'), canonicalAddress(dst, 'dst')];
  if (s === d) throw invalid('INVALID_PEER', `a host pair needs two addresses (both are ${s})`, 'dst');
  const raw = deriveBytes(ring, epoch, s, d, 'spi', 4).readUInt32BE(0);
  const spi = raw < 0x100 ? raw + 0x100 : raw;
  return { vni: ring.vni, epoch, src: s, dst: d, spi, key: deriveBytes(ring, epoch, s, d, 'key', ESP_KEY_BYTES), reqid: networkMark(ring.vni) };
}

function canonicalAddress(text: string, field: string): string {
  const ip = tryParseIp(text);
  if (!ip) throw invalid('INVALID_PEER', `${field} "${text}" is not an IP address`, field);
  return canonicalIp(text, field);
}

// ---- what one host installs ----

export interface CryptoNetwork {
  ring: NetworkKeyRing;
  /** Data-path addresses of the other hosts holding this network. */
  peers: readonly string[];
}

/** An out policy: VXLAN UDP from local to peer with the network's mark goes through the SA with `spi`. */
export interface PeerPolicySpec {
  vni: number;
  mark: number;
  src: string;
  dst: string;
  port: number;
  spi: number;
  reqid: number;
}

export interface HostCryptoPlan {
  local: string;
  family: 4 | 6;
  port: number;
  sas: SaSpec[];
  policies: PeerPolicySpec[];
  /** Encrypted VNIs: marked on egress, their cleartext dropped on ingress, and a catch-all block policy each. */
  vnis: number[];
}

/**
 * Everything one host needs for all its encrypted networks: for each network, each epoch
 * in its ring and each peer, the SA out (local → peer) and in (peer → local); one out policy
 * per peer pointing at the txEpoch SA; the VNIs to mark and guard. Throws when two SAs of
 * this host would share (destination, SPI) (a 2^-32 event per pair: rotate that network's
 * key again to get new SPIs).
 */
export function planHost(o: { local: string; port?: number; networks: readonly CryptoNetwork[] }): HostCryptoPlan {
  const local = canonicalAddress(o.local, 'local');
  const family = tryParseIp(local)!.family;
  const port = o.port ?? DEFAULT_VXLAN_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('INVALID_VXLAN_PORT', `VXLAN port ${port} must be 1-65535`, 'port');
  const sas: SaSpec[] = [];
  const policies: PeerPolicySpec[] = [];
  const vnis = new Set<number>();
  for (const { ring, peers } of o.networks) {
    const r = decodeKeyRing(ring);
    if (vnis.has(r.vni)) throw invalid('INVALID_VNI', `two encrypted networks use VNI ${r.vni}`, 'vni');
    vnis.add(r.vni);
    const remote = [...new Set(peers.map((p) => canonicalAddress(p, 'peers')))].filter((p) => p !== local);
    for (const peer of remote) {
      if (tryParseIp(peer)!.family !== family) throw invalid('INVALID_PEER', `peer ${peer} is not of the local address's family (IPv${family})`, 'peers');
      for (const k of r.keys) sas.push(deriveSa(r, k.epoch, local, peer), deriveSa(r, k.epoch, peer, local));
      const tx = deriveSa(r, r.txEpoch, local, peer);
      policies.push({ vni: r.vni, mark: networkMark(r.vni), src: local, dst: peer, port, spi: tx.spi, reqid: tx.reqid });
    }
  }
  const seen = new Map<string, SaSpec>();
  for (const sa of sas) {
    const id = `${sa.dst}/${sa.spi}`;
    const other = seen.get(id);
    if (other) {
      throw conflict('OVERLAY_SPI_COLLISION', `ESP SPI 0x${sa.spi.toString(16)} toward ${sa.dst} is derived twice (VNI ${other.vni} epoch ${other.epoch} and VNI ${sa.vni} epoch ${sa.epoch}): rotate the key of one of these networks`);
    }
    seen.set(id, sa);
  }
  return { local, family, port, sas, policies, vnis: [...vnis].sort((a, b) => a - b) };
}

/** The report a host publishes once it applied `plan` for this ring. */
export function reportFor(host: string, ring: NetworkKeyRing): HostKeyReport {
  return { host, networkId: ring.networkId, rx: ring.keys.map((k) => k.epoch), tx: ring.txEpoch };
}

// ---- nftables ----

export const nftCounterName = (vni: number): string => `cleartext_${vni}`;

/**
 * The nftables commands (one transaction) that make the table match `plan`: on egress (a
 * `route` chain, so the kernel routes again, xfrm lookup included, once the mark is set)
 * every VXLAN packet of an encrypted VNI gets the network's mark; on ingress a VXLAN packet
 * of an encrypted VNI that did not come out of an ESP SA (`meta secpath missing`) is
 * counted and dropped. `existingCounters` are the counters the table holds now: the stale
 * ones are deleted, the kept ones keep their values. An empty plan deletes the table.
 */
export function nftCommands(vnis: readonly number[], port: number, existingCounters: readonly string[] | null): string {
  const t = `inet ${NFT_TABLE}`;
  if (!vnis.length) return existingCounters === null ? '' : `delete table ${t}\n`;
  const lines = [
    `add table ${t} { comment "switchyard: overlay encryption (ESP) marks and cleartext drops"; }`,
    `add chain ${t} egress { type route hook output priority mangle; policy accept; }`,
    `add chain ${t} ingress { type filter hook input priority -160; policy accept; }`,
    `flush chain ${t} egress`,
    `flush chain ${t} ingress`,
  ];
  const wanted = new Set(vnis.map(nftCounterName));
  for (const c of existingCounters ?? []) if (!wanted.has(c)) lines.push(`delete counter ${t} ${c}`);
  for (const vni of vnis) {
    const mark = `0x${networkMark(vni).toString(16)}`;
    lines.push(`add counter ${t} ${nftCounterName(vni)}`);
    lines.push(`add rule ${t} egress udp dport ${port} @th,96,24 ${vni} meta mark set ${mark} comment "switchyard: encrypt VNI ${vni}"`);
    lines.push(`add rule ${t} ingress udp dport ${port} @th,96,24 ${vni} meta secpath missing counter name ${nftCounterName(vni)} drop comment "switchyard: cleartext VXLAN of encrypted VNI ${vni}"`);
  }
  return `${lines.join('\n')}\n`;
}
