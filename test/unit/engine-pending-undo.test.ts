/**
 * The decisions behind undoing a failed call's shared write (src/engine/pending-undo.ts):
 * which keys an intent names, and what to delete given what is read back. The settler
 * running them against a real three-member etcd is test/integration/cluster-undo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePendingUndo, pendingRestoreOf, pendingUndoOf, planRestore, planUndo, restoredEndpointId, touches, undoReads, type PendingUndo } from '../../src/engine/pending-undo.js';
import type { KeyValue, Op } from '../../src/store/contract.js';

const kv = (key: string, value: string, rev = 7): KeyValue => ({ key, value, createRevision: rev, modRevision: rev, version: 1 });

// What state.ts commitShared writes for an attach (dual-stack, on a routed network: a block claim too).
const attachWrites: Op[] = [
  { type: 'put', key: '/endpoints/n1/ep1', value: '{"id":"ep1","node":"A"}' },
  { type: 'put', key: '/ipam/n1/10.0.0.2', value: 'ep1' },
  { type: 'put', key: '/blocks/n1/10.0.0.0/26', value: 'A' },
  { type: 'put', key: '/ipam/n1/fd00::2', value: 'ep1' },
  { type: 'put', key: '/usage/n1', value: '1700000000000' },
];
// ... and for a global network create.
const createWrites: Op[] = [
  { type: 'put', key: '/networks/n2', value: '{"id":"n2"}' },
  { type: 'put', key: '/names/g2', value: 'n2' },
  { type: 'put', key: '/usage/n2', value: '' },
  { type: 'put', key: '/claims/overlay/vni/4097', value: 'n2' },
  { type: 'put', key: '/overlay-keys/n2', value: '{"keys":[]}' },
];

test('an attach names its endpoint key and its address claims, not the block claim nor the usage key', () => {
  const [p] = pendingUndoOf(attachWrites, 5, () => true) as [PendingUndo];
  assert.deepEqual(p, {
    v: 1, id: 'ep1', kind: 'endpoint', networkId: 'n1', at: 5,
    keys: [
      { key: '/endpoints/n1/ep1', value: '{"id":"ep1","node":"A"}' },
      { key: '/ipam/n1/10.0.0.2', value: 'ep1' },
      { key: '/ipam/n1/fd00::2', value: 'ep1' },
    ],
  });
  assert.deepEqual(decodePendingUndo(JSON.stringify(p)), p);
  assert.equal(decodePendingUndo('{"v":2}'), undefined);
  assert.equal(decodePendingUndo('not json'), undefined);
  // A detach writes only deletes (and the usage key): nothing to undo.
  assert.deepEqual(pendingUndoOf([{ type: 'delete', key: '/endpoints/n1/ep1' }, { type: 'put', key: '/usage/n1', value: '2' }], 5, () => true), []);
  // A rename rewrites endpoints this host has: never undone.
  assert.deepEqual(pendingUndoOf(attachWrites.slice(0, 1), 5, (id) => id !== 'ep1'), []);
});

test('a fenced txn: its intents carry the fence it compared (0: no fence key yet), and decode with it; a bad fence is refused', () => {
  const [p] = pendingUndoOf(attachWrites, 5, () => true, 41) as [PendingUndo];
  assert.equal(p.fence, 41);
  assert.deepEqual(decodePendingUndo(JSON.stringify(p)), p);
  const [n] = pendingUndoOf(createWrites, 5, () => true, 0) as [PendingUndo];
  assert.equal(n.fence, 0, 'a node whose fence key does not exist yet compares 0');
  assert.equal('fence' in (pendingUndoOf(attachWrites, 5, () => true)[0] as PendingUndo), false, 'unfenced: no field');
  for (const bad of [-1, 1.5, '7', null]) assert.equal(decodePendingUndo(JSON.stringify({ ...p, fence: bad })), undefined, `fence ${String(bad)}`);
});

test('a sandbox created on two global networks: one intent per endpoint, each with its own claims', () => {
  const writes: Op[] = [
    { type: 'put', key: '/endpoints/n1/ep1', value: '{}' },
    { type: 'put', key: '/endpoints/n2/ep2', value: '{}' },
    { type: 'put', key: '/ipam/n1/10.0.0.2', value: 'ep1' },
    { type: 'put', key: '/ipam/n2/10.1.0.2', value: 'ep2' },
  ];
  assert.deepEqual(pendingUndoOf(writes, 5, () => true).map((p) => [p.id, p.networkId, p.keys.map((k) => k.key)]), [
    ['ep1', 'n1', ['/endpoints/n1/ep1', '/ipam/n1/10.0.0.2']],
    ['ep2', 'n2', ['/endpoints/n2/ep2', '/ipam/n2/10.1.0.2']],
  ]);
});

test('a network create names every key it wrote', () => {
  const [p] = pendingUndoOf(createWrites, 5, () => true) as [PendingUndo];
  assert.equal(p.kind, 'network');
  assert.equal(p.id, 'n2');
  assert.deepEqual(p.keys.map((k) => k.key), ['/networks/n2', '/names/g2', '/usage/n2', '/claims/overlay/vni/4097', '/overlay-keys/n2']);
  assert.deepEqual(undoReads(p).success.at(-1), { type: 'range', prefix: '/endpoints/n2/' });
});

test('attach: absent, applied, and partly taken over by others', () => {
  const [p] = pendingUndoOf(attachWrites, 5, () => true) as [PendingUndo];
  assert.deepEqual(planUndo(p, [undefined, undefined, undefined]), { kind: 'absent' });
  // Another call's claim of the same address (a retry got it after ours was never applied): not ours.
  assert.deepEqual(planUndo(p, [undefined, kv('/ipam/n1/10.0.0.2', 'ep9'), undefined]), { kind: 'absent' });
  const all = planUndo(p, p.keys.map((k) => kv(k.key, k.value)));
  assert.equal(all.kind, 'undo');
  assert.deepEqual((all as { txn: unknown }).txn, {
    compare: p.keys.map((k) => ({ key: k.key, target: 'value', op: '=', value: k.value })),
    success: p.keys.map((k) => ({ type: 'delete', key: k.key })),
  });
  // Only what still holds this call's values is deleted (the v6 claim is someone else's now).
  const some = planUndo(p, [kv(p.keys[0]!.key, p.keys[0]!.value), kv('/ipam/n1/10.0.0.2', 'ep1'), kv('/ipam/n1/fd00::2', 'ep7')]);
  assert.deepEqual((some as { txn: { success: Op[] } }).txn.success, [{ type: 'delete', key: '/endpoints/n1/ep1' }, { type: 'delete', key: '/ipam/n1/10.0.0.2' }]);
  // The endpoint record rewritten since (not by this call): it and its claims stay.
  assert.equal(planUndo(p, [kv(p.keys[0]!.key, '{"id":"ep1","node":"A","aliases":["x"]}'), kv('/ipam/n1/10.0.0.2', 'ep1'), undefined]).kind, 'adopted');
});

test('network create: removed whole only while nobody used it', () => {
  const [p] = pendingUndoOf(createWrites, 5, () => true) as [PendingUndo];
  const held = p.keys.map((k) => kv(k.key, k.value));
  const plan = planUndo(p, held, []);
  assert.equal(plan.kind, 'undo');
  const txn = (plan as { txn: { compare: unknown[]; success: Op[] } }).txn;
  assert.equal(txn.compare.length, 5);
  assert.deepEqual(txn.success.at(-1), { type: 'deletePrefix', prefix: '/overlay-key-reports/n2/' });
  assert.ok(!txn.success.some((op) => op.type === 'deletePrefix' && op.prefix.startsWith('/endpoints/')), 'never deletes endpoints');
  // Another host attached (an endpoint, the usage key moved): kept.
  assert.equal(planUndo(p, held, [kv('/endpoints/n2/ep5', '{}')]).kind, 'adopted');
  assert.equal(planUndo(p, held.map((x, i) => (i === 2 ? kv(x.key, '1700000000001') : x)), []).kind, 'adopted');
  // Not applied (its name may be another network's now): absent.
  assert.deepEqual(planUndo(p, [undefined, kv('/names/g2', 'n3'), undefined, undefined, undefined]), { kind: 'absent' });
});

test('a watched put of an intent key wakes the settler', () => {
  const [p] = pendingUndoOf(attachWrites, 5, () => true) as [PendingUndo];
  assert.ok(touches(p, new Set(['/ipam/n1/10.0.0.2'])));
  assert.ok(!touches(p, new Set(['/usage/n1', '/ipam/n1/10.0.0.3'])));
});

test('detach (restore): one intent per endpoint it deleted, fenced, decoded back; put back only when the delete applied and the endpoint is still here', () => {
  const keys = [
    { key: '/endpoints/n1/ep1', value: '{"id":"ep1","node":"A"}' },
    { key: '/ipam/n1/10.0.0.2', value: 'ep1' },
  ];
  const [p, ...rest] = pendingRestoreOf([{ endpointId: 'ep1', networkId: 'n1', keys }], 1000, 42);
  assert.equal(rest.length, 0);
  assert.deepEqual(p, { v: 1, id: 'restore-ep1', kind: 'restore', networkId: 'n1', at: 1000, keys, fence: 42 });
  assert.equal(restoredEndpointId(p!), 'ep1');
  assert.deepEqual(decodePendingUndo(JSON.stringify(p)), p);
  assert.equal(decodePendingUndo(JSON.stringify({ ...p, id: 'ep1' })), undefined, 'a restore id names what it restores');
  assert.equal(decodePendingUndo(JSON.stringify({ ...p, keys: [] })), undefined, 'a restore has keys');
  // The delete did not apply (the endpoint key is there): nothing to do.
  assert.deepEqual(planRestore(p!, [kv(keys[0]!.key, keys[0]!.value), kv(keys[1]!.key, 'ep1')], true, 5), { kind: 'absent' });
  // Applied, but the endpoint left this host since (disconnected again): nothing to do.
  assert.deepEqual(planRestore(p!, [undefined, undefined], false, 5), { kind: 'absent' });
  // Applied, still here: every key put back, each compared absent, the network compared present, its usage moved.
  const plan = planRestore(p!, [undefined, undefined], true, 5);
  assert.equal(plan.kind, 'undo');
  const txn = (plan as { txn: { compare: unknown[]; success: Op[] } }).txn;
  assert.deepEqual(txn.compare, [
    { key: '/endpoints/n1/ep1', target: 'createRevision', op: '=', value: 0 },
    { key: '/ipam/n1/10.0.0.2', target: 'createRevision', op: '=', value: 0 },
    { key: '/networks/n1', target: 'createRevision', op: '>', value: 0 },
  ]);
  assert.deepEqual(txn.success, [
    { type: 'put', key: '/endpoints/n1/ep1', value: keys[0]!.value },
    { type: 'put', key: '/ipam/n1/10.0.0.2', value: 'ep1' },
    { type: 'put', key: '/usage/n1', value: '5' },
  ]);
});
