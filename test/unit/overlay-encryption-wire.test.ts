/**
 * `-o encrypted` wired into the overlay driver and the cluster (drivers/overlay-encryption.ts,
 * engine/cluster-keys.ts), the pure and in-memory parts: planNetwork probes (refused when the
 * kernel cannot, accepted when it can); the key ring the driver makes for the create txn
 * and that it never lands in the network record; OverlayEncryptionHost's plans as the ring
 * and the peer hosts change (a fake OverlayCrypto records each apply: the kernel side is the
 * VM lane's); the MTU with encryption; the leader's rotation decisions (nextRing) step by step
 * through a whole rotation; the --overlay-key-rotation flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rtnl } from '../../src/kernel/netlink/index.js';
import { OverlayDriver } from '../../src/drivers/overlay.js';
import { OverlayEncryptionHost } from '../../src/drivers/overlay-encryption.js';
import { decodeKeyRing, encodeKeyRing, newKeyRing, reportFor, rotationPhase, type HostCryptoPlan } from '../../src/drivers/overlay-crypto-plan.js';
import { overlayMtu } from '../../src/drivers/overlay-plan.js';
import { parseOverlayOptions } from '../../src/model/driver-options.js';
import type { NetworkRecord } from '../../src/model/records.js';
import { encodeNetworkRecord } from '../../src/model/record-codec.js';
import { SwitchyardError, unavailable } from '../../src/errors.js';
import { rotationLeader } from '../../src/engine/cluster-keys.js';
import { nextRing } from '../../src/drivers/overlay-encryption.js';
import { DEFAULT_KEY_ROTATION_MS, parseKeyRotation, parseClusterFlags } from '../../src/daemon/cluster-flags.js';
import type { OverlayPorts } from '../../src/drivers/overlay-ports.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SwitchyardError, String(err));
    return `${err.kind}:${err.code}`;
  }
  return 'accepted';
};

const DP = { dataPathAddress: '10.99.0.1', dataPathPort: 4789 };

function fakeHost(probeOk = true) {
  const applied: HostCryptoPlan[] = [];
  let removed = 0;
  let closed = 0;
  const host = new OverlayEncryptionHost({
    probe: () => {
      if (!probeOk) throw unavailable('OVERLAY_ENCRYPTION_UNSUPPORTED', '-o encrypted needs kernel support this host lacks: ESP');
    },
    open: () => ({
      apply: (plan: HostCryptoPlan) => {
        applied.push(plan);
        return { added: 0, removed: 0, policiesChanged: 0 };
      },
      remove: () => void removed++,
      close: () => void closed++,
    }),
  });
  return { host, applied, removed: () => removed, closed: () => closed };
}

function record(driver: OverlayDriver, id: string, options: Record<string, string>): NetworkRecord {
  return {
    v: 1, id, name: 'enc', driver: 'overlay', created: '2026-12-02T00:00:00.000000000Z', scope: 'global', enableIPv4: true, enableIPv6: false,
    ipamDriver: 'default', ipamOptions: {}, pools: [{ subnet: '10.10.0.0/24', gateway: '10.10.0.1', userSubnet: true }],
    internal: false, attachable: true, ingress: false, options, labels: {}, predefined: false,
    state: driver.planNetwork({ id, name: 'enc', options: parseOverlayOptions(options), predefined: false, others: [] }),
  };
}

const driverWith = (encryption?: OverlayEncryptionHost) =>
  new OverlayDriver({ rtnl: null as unknown as Rtnl, openRtnl: () => null as unknown as Rtnl, ports: null as unknown as OverlayPorts, cluster: DP, ...(encryption ? { encryption } : {}), log: () => {} });

test('planNetwork probes -o encrypted: refused (503, nothing planned) when the kernel cannot, accepted when it can', () => {
  const plan = (d: OverlayDriver) => () => d.planNetwork({ id: 'a'.repeat(64), name: 'enc', options: parseOverlayOptions({ encrypted: '' }), predefined: false, others: [] });
  assert.equal(code(plan(driverWith(fakeHost(false).host))), 'unavailable:OVERLAY_ENCRYPTION_UNSUPPORTED');
  assert.equal(code(plan(driverWith())), 'unavailable:OVERLAY_ENCRYPTION_UNSUPPORTED', 'no encryption configured');
  assert.equal(code(plan(driverWith(fakeHost(true).host))), 'accepted');
  // ensureNetwork probes again on every host: a host that cannot encrypt does not take part.
  const refusing = driverWith(fakeHost(false).host);
  const net = record(driverWith(fakeHost(true).host), 'b'.repeat(64), { encrypted: '' });
  assert.equal(code(() => refusing.ensureNetwork(net)), 'unavailable:OVERLAY_ENCRYPTION_UNSUPPORTED');
});

test('newSecret: a key ring for the create txn (only for encrypted networks); the network record carries no secret', () => {
  const d = driverWith(fakeHost().host);
  const net = record(d, 'c'.repeat(64), { encrypted: '' });
  const secret = d.newSecret(net)!;
  const ring = decodeKeyRing(secret);
  assert.equal(ring.networkId, net.id);
  assert.equal(ring.vni, 4096);
  assert.equal(ring.keys.length, 1);
  const stored = encodeNetworkRecord(net);
  assert.ok(!stored.includes(ring.keys[0]!.secret), 'the secret is not in the network record');
  assert.deepEqual(net.options, { encrypted: '' }, 'Options shows only `encrypted`');
  assert.equal(d.newSecret(record(d, 'd'.repeat(64), {})), undefined);
});

test('OverlayEncryptionHost: no ring → refuses to take part; then SAs follow the peer hosts and the ring; last network gone → everything removed', () => {
  const f = fakeHost();
  const id = 'e'.repeat(64);
  assert.equal(code(() => f.host.ensureNetwork(id, DP)), 'conflict:OVERLAY_KEY_RING_MISSING');
  assert.equal(f.applied.length, 0, 'nothing applied without a ring');
  const ring = newKeyRing(id, 4096, new Date('2026-01-01T00:00:00Z'));
  assert.equal(f.host.setRing(id, encodeKeyRing(ring)), false, 'not taking part yet: nothing applied');
  f.host.ensureNetwork(id, DP);
  let plan = f.applied.at(-1)!;
  assert.deepEqual(plan.vnis, [4096], 'marks, drops and the block policy before any peer');
  assert.equal(plan.sas.length, 0);
  f.host.syncPeers(id, ['10.99.0.2', '10.99.0.3', '10.99.0.1', '']);
  plan = f.applied.at(-1)!;
  assert.deepEqual(plan.policies.map((p) => p.dst), ['10.99.0.2', '10.99.0.3'], 'one out policy per peer host (self and unknown left out)');
  assert.equal(plan.sas.length, 4, 'one SA each way per peer');
  const n = f.applied.length;
  f.host.syncPeers(id, ['10.99.0.3', '10.99.0.2']);
  assert.equal(f.applied.length, n, 'the same peer set: no apply');
  // A rotation's first step: the new epoch is installed for receiving, the policies stay.
  const begun = { ...ring, keys: [...ring.keys, { epoch: 2, secret: Buffer.alloc(32, 7).toString('base64'), createdAt: ring.txSince }] };
  assert.equal(f.host.setRing(id, encodeKeyRing(begun)), true);
  plan = f.applied.at(-1)!;
  assert.equal(plan.sas.length, 8);
  assert.deepEqual(new Set(plan.sas.map((s) => s.epoch)), new Set([1, 2]));
  assert.equal(code(() => f.host.setRing(id, encodeKeyRing({ ...ring, networkId: 'f'.repeat(64) }))), 'invalid:INVALID_KEY_RING');
  f.host.syncPeers(id, ['10.99.0.3']);
  assert.deepEqual(f.applied.at(-1)!.policies.map((p) => p.dst), ['10.99.0.3'], 'a host that left: its SAs and policy go');
  f.host.deleteNetwork(id);
  assert.equal(f.removed(), 1);
  assert.equal(f.closed(), 1);
});

test('MTU with encryption: the overlay MTU is encryptedInnerMtu of the underlay (1416 on 1500 over IPv4)', () => {
  const h = new OverlayEncryptionHost();
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 4, asked: 0, encryptionOverhead: h.overhead(1500, 4) }), 1416);
  assert.equal(overlayMtu({ underlayMtu: 1500, underlayFamily: 6, asked: 0, encryptionOverhead: h.overhead(1500, 6) }), 1396);
  assert.equal(overlayMtu({ underlayMtu: 9000, underlayFamily: 4, asked: 0, encryptionOverhead: h.overhead(9000, 4) }), 8916);
});

test('rotation, as the leader decides it tick by tick: due → receive; all rx → send; all tx and the grace → prune; nothing early', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const hosts = ['n1', 'n2', 'n3'];
  const interval = 10_000;
  let ring = newKeyRing('net', 4096, t0);
  const step = (ms: number, reports: ReturnType<typeof reportFor>[]) => nextRing({ ring, hosts, reports, now: at(ms), intervalMs: interval, graceMs: 2000 });
  const all = (r = ring, except?: string) => hosts.filter((h) => h !== except).map((h) => reportFor(h, r));
  assert.equal(step(9_999, all()), undefined, 'not due yet');
  ring = step(10_000, all())!;
  assert.equal(rotationPhase(ring), 'receive');
  assert.deepEqual(ring.keys.map((k) => k.epoch), [1, 2]);
  assert.equal(ring.txEpoch, 1);
  const old = newKeyRing('net', 4096, t0);
  assert.equal(step(10_100, [...all(ring, 'n3'), reportFor('n3', old)]), undefined, 'n3 has not installed epoch 2: wait');
  ring = step(10_200, all())!;
  assert.equal(ring.txEpoch, 2);
  assert.equal(rotationPhase(ring), 'prune');
  assert.equal(step(20_000, [...all(ring, 'n2'), reportFor('n2', { ...ring, txEpoch: 1 })]), undefined, 'n2 still sends with epoch 1: no prune');
  assert.equal(nextRing({ ring, hosts, reports: all(), now: at(11_000), intervalMs: interval, graceMs: 2000 }), undefined, 'within the grace');
  ring = nextRing({ ring, hosts, reports: all(), now: at(12_300), intervalMs: interval, graceMs: 2000 })!;
  assert.deepEqual(ring.keys.map((k) => k.epoch), [2]);
  assert.equal(rotationPhase(ring), 'steady');
  assert.equal(rotationLeader(['n3', 'n1', 'n2']), 'n1');
  assert.equal(rotationLeader([]), undefined);
});

test('--overlay-key-rotation: a duration of at least 1 s (default 12 h); needs --cluster-store', () => {
  assert.equal(parseKeyRotation('12h'), 12 * 3600_000);
  assert.equal(parseKeyRotation('90s'), 90_000);
  assert.equal(parseKeyRotation('1500ms'), 1500);
  for (const bad of ['0s', '500ms', '12', 'h', '-1s', '1d']) assert.equal(code(() => parseKeyRotation(bad)), 'invalid:INVALID_FLAG', bad);
  const base = { 'cluster-store': 'etcd://10.0.0.1:2379', 'cluster-advertise': '10.0.0.2' };
  assert.equal(parseClusterFlags(base, 'h')!.keyRotationMs, DEFAULT_KEY_ROTATION_MS);
  assert.equal(parseClusterFlags({ ...base, 'overlay-key-rotation': '5s' }, 'h')!.keyRotationMs, 5000);
  assert.equal(code(() => parseClusterFlags({ 'overlay-key-rotation': '5s' }, 'h')), 'invalid:INVALID_FLAG');
});
