/**
 * The pure part of overlay encryption (drivers/overlay-crypto-plan.ts) and the xfrm message
 * codec (kernel/xfrm.ts): key rings, derivation both ends agree on, the rotation state
 * machine, the store record, the host plan, the nftables text. The kernel side runs in the
 * VM lane (test/vm/overlay-encryption.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SwitchyardError } from '../../src/errors.js';
import {
  ESP_KEY_BYTES, OWN_TAG, SECRET_BYTES, advanceRotation, beginRotation, decodeKeyRing, deriveSa, encodeKeyRing,
  encryptedInnerMtu, isOwnTag, networkMark, newKeyRing, nftCommands, planHost, redactKeyRing, reportFor, rotationDue,
  rotationPhase, type NetworkKeyRing,
} from '../../src/drivers/overlay-crypto-plan.js';
import { decodePolicy, decodeSa, newSaMessage, putPolicyMessage } from '../../src/kernel/xfrm.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const A = '192.0.2.1';
const B = '192.0.2.2';
const C = '192.0.2.3';

const code = (c: string) => (err: unknown) => err instanceof SwitchyardError && err.code === c;

test('a new ring: one epoch of 32 random bytes, used at once; two rings never share a secret', () => {
  const r = newKeyRing('n1', 4096, T0);
  assert.equal(r.keys.length, 1);
  assert.equal(Buffer.from(r.keys[0]!.secret, 'base64').length, SECRET_BYTES);
  assert.equal(r.txEpoch, 1);
  assert.equal(rotationPhase(r), 'steady');
  assert.notEqual(newKeyRing('n1', 4096, T0).keys[0]!.secret, r.keys[0]!.secret);
  assert.throws(() => newKeyRing('n1', 0, T0), code('INVALID_VNI'));
  assert.throws(() => newKeyRing('n1', 4096, T0, () => Buffer.alloc(3)), code('OVERLAY_KEY_RANDOM'));
});

test('derivation: both ends compute the same SPI and key for a direction; directions, epochs and networks differ', () => {
  const r = beginRotation(newKeyRing('n1', 4096, T0), T0);
  const ab = deriveSa(r, 1, A, B);
  assert.deepEqual(deriveSa(decodeKeyRing(JSON.parse(encodeKeyRing(r))), 1, A, B), ab, 'from the stored record, the same SA');
  assert.equal(ab.key.length, ESP_KEY_BYTES);
  assert.ok(ab.spi >= 0x100 && ab.spi <= 0xffffffff);
  assert.equal(ab.reqid, networkMark(4096));
  const others = [deriveSa(r, 1, B, A), deriveSa(r, 2, A, B), deriveSa(newKeyRing('n2', 4097, T0), 1, A, B)];
  for (const o of others) {
    assert.notEqual(o.spi, ab.spi);
    assert.ok(!o.key.equals(ab.key));
  }
  // Address spelling does not matter: canonical forms are hashed.
  const r6 = newKeyRing('n6', 4098, T0);
  assert.deepEqual(deriveSa(r6, 1, 'fd00:0::1', 'FD00::2'), deriveSa(r6, 1, 'fd00::1', 'fd00::2'));
  assert.throws(() => deriveSa(r, 3, A, B), code('INVALID_KEY_EPOCH'));
  assert.throws(() => deriveSa(r, 1, A, A), code('INVALID_PEER'));
  assert.throws(() => deriveSa(r, 1, A, 'host-b'), code('INVALID_PEER'));
});

test('host plans of two hosts mirror each other: A\'s out SA to B is B\'s in SA from A', () => {
  const r = newKeyRing('n1', 4096, T0);
  const peers = [A, B, C];
  const pa = planHost({ local: A, networks: [{ ring: r, peers }] });
  const pb = planHost({ local: B, networks: [{ ring: r, peers }] });
  assert.equal(pa.sas.length, 4, '2 peers × 2 directions × 1 epoch');
  assert.equal(pa.policies.length, 2);
  assert.deepEqual(pa.vnis, [4096]);
  const aToB = pa.sas.find((s) => s.src === A && s.dst === B)!;
  const inB = pb.sas.find((s) => s.src === A && s.dst === B)!;
  assert.equal(aToB.spi, inB.spi);
  assert.ok(aToB.key.equals(inB.key));
  assert.equal(pa.policies.find((p) => p.dst === B)!.spi, aToB.spi, 'the out policy pins the txEpoch SA');
  const rotating = beginRotation(r, T0);
  assert.equal(planHost({ local: A, networks: [{ ring: rotating, peers }] }).sas.length, 8, 'both epochs installed during a rotation');
  assert.throws(() => planHost({ local: A, networks: [{ ring: r, peers: ['fd00::2'] }] }), code('INVALID_PEER'));
  assert.throws(() => planHost({ local: A, networks: [{ ring: r, peers }, { ring: newKeyRing('n2', 4096, T0), peers }] }), code('INVALID_VNI'));
  assert.throws(() => planHost({ local: A, port: 0, networks: [] }), code('INVALID_VXLAN_PORT'));
});

test('an SPI derived twice toward one host is refused (OVERLAY_SPI_COLLISION), not installed half-way', () => {
  const r = newKeyRing('n1', 4096, T0);
  const twin: NetworkKeyRing = { ...r, vni: 4097 }; // same id and secret: the same SPIs
  assert.throws(() => planHost({ local: A, networks: [{ ring: r, peers: [B] }, { ring: twin, peers: [B] }] }), code('OVERLAY_SPI_COLLISION'));
});

test('rotation: receive on every host first, then send, then prune after the grace; one rotation at a time', () => {
  const hosts = ['h1', 'h2', 'h3'];
  let r = newKeyRing('n1', 4096, T0);
  assert.equal(rotationDue(r, new Date(T0.getTime() + 11 * 3600_000)), false);
  assert.equal(rotationDue(r, new Date(T0.getTime() + 12 * 3600_000)), true);
  r = beginRotation(r, T0);
  assert.equal(rotationPhase(r), 'receive');
  assert.equal(r.txEpoch, 1, 'nobody sends with the new key yet');
  assert.equal(rotationDue(r, new Date(T0.getTime() + 99 * 3600_000)), false);
  assert.throws(() => beginRotation(r, T0), code('OVERLAY_ROTATION_BUSY'));

  const old = newKeyRing('n1', 4096, T0);
  let step = advanceRotation(r, hosts, [reportFor('h1', r), reportFor('h2', r), reportFor('h3', old)], T0);
  assert.deepEqual([step.changed, step.waitingFor], [false, ['h3']], 'h3 has not installed epoch 2 for receiving');
  step = advanceRotation(r, hosts, hosts.map((h) => reportFor(h, r)), T0);
  assert.ok(step.changed);
  r = step.ring;
  assert.deepEqual([rotationPhase(r), r.txEpoch, r.keys.length], ['prune', 2, 2]);

  const stillOld = { ...reportFor('h2', r), tx: 1 };
  step = advanceRotation(r, hosts, [reportFor('h1', r), stillOld, reportFor('h3', r)], new Date(T0.getTime() + 60_000));
  assert.deepEqual([step.changed, step.waitingFor], [false, ['h2']], 'h2 still sends with epoch 1');
  step = advanceRotation(r, hosts, hosts.map((h) => reportFor(h, r)), new Date(T0.getTime() + 500));
  assert.deepEqual([step.changed, step.waitingFor], [false, []], 'grace for packets in flight');
  step = advanceRotation(r, hosts, hosts.map((h) => reportFor(h, r)), new Date(T0.getTime() + 60_000));
  assert.ok(step.changed);
  assert.deepEqual(step.ring.keys.map((k) => k.epoch), [2]);
  assert.equal(rotationPhase(step.ring), 'steady');
  assert.equal(advanceRotation(step.ring, hosts, [], T0).changed, false);
  assert.deepEqual(beginRotation(step.ring, T0).keys.map((k) => k.epoch), [2, 3], 'epochs are never reused');
});

test('the store record: round trip, every bad field named, and the redacted view holds no secret', () => {
  const r = beginRotation(newKeyRing('n1', 4096, T0), T0);
  assert.deepEqual(decodeKeyRing(encodeKeyRing(r)), r);
  const bad = (patch: Record<string, unknown>, field: string) =>
    assert.throws(() => decodeKeyRing({ ...r, ...patch }), (e: unknown) => e instanceof SwitchyardError && e.code === 'INVALID_KEY_RING' && e.field === field);
  bad({ version: 2 }, 'version');
  bad({ vni: 1 << 24 }, 'vni');
  bad({ keys: [] }, 'keys');
  bad({ keys: [{ ...r.keys[0]!, secret: randomBytes(16).toString('base64') }] }, 'keys[0].secret');
  bad({ keys: [r.keys[1], r.keys[0]] }, 'keys');
  bad({ txEpoch: 7 }, 'txEpoch');
  assert.throws(() => decodeKeyRing('{'), code('INVALID_KEY_RING'));
  const shown = JSON.stringify(redactKeyRing(r));
  for (const k of r.keys) assert.ok(!shown.includes(k.secret));
  assert.deepEqual(redactKeyRing(r).epochs.map((e) => e.epoch), [1, 2]);
});

test('marks and reqids carry OWN_TAG over the VNI', () => {
  assert.equal(networkMark(4096), ((OWN_TAG << 24) | 4096) >>> 0);
  assert.ok(isOwnTag(networkMark(0xffffff)));
  assert.equal(isOwnTag(0x00001000), false);
});

test('nftables: egress marks in a route chain, ingress drops cleartext without a secpath, stale counters deleted, empty = table gone', () => {
  const text = nftCommands([4096, 4100], 4789, ['cleartext_4096', 'cleartext_5000']);
  assert.match(text, /type route hook output priority mangle/);
  assert.match(text, /udp dport 4789 @th,96,24 4096 meta mark set 0xe3001000/);
  assert.match(text, /udp dport 4789 @th,96,24 4100 meta secpath missing counter name cleartext_4100 drop/);
  assert.match(text, /delete counter inet switchyard_esp cleartext_5000/);
  assert.doesNotMatch(text, /delete counter inet switchyard_esp cleartext_4096/);
  assert.equal(nftCommands([], 4789, ['cleartext_4096']), 'delete table inet switchyard_esp\n');
  assert.equal(nftCommands([], 4789, null), '');
});

test('inner MTU: 1500 underlay leaves 1416 for an encrypted IPv4 overlay (VXLAN 50 + ESP with a 16-byte ICV, padded)', () => {
  assert.equal(encryptedInnerMtu(1500), 1416);
  assert.equal(encryptedInnerMtu(1500, 6), 1396);
  assert.equal(encryptedInnerMtu(9000), 8916);
});

test('xfrm codec: a NEWSA and an UPDPOLICY decode back to what was encoded (the dump format is the request format)', () => {
  const key = randomBytes(ESP_KEY_BYTES);
  const sa = { src: A, dst: B, spi: 0x12345678, reqid: networkMark(4096), aead: { name: 'rfc4106(gcm(aes))', key, icvBits: 128 }, replayWindow: 128 };
  const m = newSaMessage(sa);
  assert.equal(m.readUInt32LE(0), m.length);
  assert.equal(m.length, 16 + 224 + 92 + 4 /* pad */ + 40 + 4);
  assert.deepEqual(decodeSa(m.subarray(16)), sa);
  const pol = {
    dir: 'out' as const, priority: 0x100, action: 'allow' as const, mark: { value: networkMark(4096), mask: 0xffffffff },
    selector: { src: A, srcPrefix: 32, dst: B, dstPrefix: 32, proto: 17, dport: 4789 },
    templates: [{ src: A, dst: B, spi: 0x12345678, reqid: networkMark(4096) }],
  };
  assert.deepEqual(decodePolicy(putPolicyMessage(pol).subarray(16)), pol);
  const v6 = { ...sa, src: 'fd00::1', dst: 'fd00::2' };
  assert.deepEqual(decodeSa(newSaMessage(v6).subarray(16)), v6);
  assert.throws(() => newSaMessage({ ...sa, dst: 'fd00::2' }), code('XFRM_FAMILY_MISMATCH'));
});
