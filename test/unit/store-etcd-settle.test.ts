/**
 * The decisions behind settling an etcd write whose outcome is unknown
 * (src/store/etcd-settle.ts); the store running them against a real cluster with a member
 * killed is test/integration/store-etcd-cluster.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isReadOnly, outcomeOf, readRevisions, witnessesOf, witnessVerdict, writesOf, writtenAt } from '../../src/store/etcd-settle.js';
import type { KeyValue, Txn } from '../../src/store/contract.js';

const kv = (key: string, value: string, createRevision: number, modRevision = createRevision): KeyValue => ({ key, value, createRevision, modRevision, version: 1 });

const attach: Txn = {
  compare: [
    { key: '/ipam/n/10.0.0.2', target: 'createRevision', op: '=', value: 0 },
    { key: '/networks/n', target: 'createRevision', op: '>', value: 0 },
  ],
  success: [
    { type: 'get', key: '/ipam/n/10.0.0.2' },
    { type: 'put', key: '/ipam/n/10.0.0.2', value: 'ep1' },
    { type: 'put', key: '/endpoints/n/ep1', value: '{}' },
    { type: 'put', key: '/usage/n', value: '1' },
  ],
  failure: [{ type: 'get', key: '/ipam/n/10.0.0.2' }],
};
const detach: Txn = {
  compare: [
    { key: '/networks/n', target: 'createRevision', op: '>', value: 0 },
    { key: '/endpoints/n/ep1', target: 'createRevision', op: '>', value: 0 },
  ],
  success: [{ type: 'delete', key: '/endpoints/n/ep1' }, { type: 'delete', key: '/ipam/n/10.0.0.2' }, { type: 'put', key: '/usage/n', value: '2' }],
};

test('outcomes: never sent, refused before applying, unknown, a real answer', () => {
  assert.equal(outcomeOf(new Error('14 UNAVAILABLE: No connection established')), 'not-sent');
  assert.equal(outcomeOf(new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:2379')), 'not-sent');
  assert.equal(outcomeOf(new Error('etcdserver: no leader')), 'not-applied');
  assert.equal(outcomeOf(new Error('14 UNAVAILABLE: read ECONNRESET')), 'unknown');
  assert.equal(outcomeOf(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 1.000s')), 'unknown');
  assert.equal(outcomeOf(new Error('14 UNAVAILABLE: etcdserver: request timed out, possibly due to connection lost')), 'unknown');
  assert.equal(outcomeOf(new Error('etcdserver: leader changed')), 'unknown');
  assert.equal(outcomeOf(new Error('etcdserver: mvcc: required revision has been compacted')), 'final');
  assert.equal(outcomeOf(new Error('etcdserver: requested lease not found')), 'final');
});

test('witnesses: a create-only put, a delete compared present; none with a writing failure branch', () => {
  assert.deepEqual(witnessesOf(attach), [{ kind: 'created', key: '/ipam/n/10.0.0.2', value: 'ep1' }]);
  assert.deepEqual(witnessesOf(detach), [{ kind: 'deleted', key: '/endpoints/n/ep1' }]);
  // A delete whose compare holds on a missing key (createRevision = 0, version < 5) is no witness.
  assert.deepEqual(witnessesOf({ compare: [{ key: '/a', target: 'version', op: '<', value: 5 }], success: [{ type: 'delete', key: '/a' }] }), []);
  assert.deepEqual(witnessesOf({ compare: [{ key: '/a', target: 'value', op: '=', value: 'x' }], success: [{ type: 'delete', key: '/a' }] }), [{ kind: 'deleted', key: '/a' }]);
  assert.deepEqual(witnessesOf({ compare: [{ key: '/a', target: 'modRevision', op: '=', value: 7 }], success: [{ type: 'delete', key: '/a' }] }), [{ kind: 'deleted', key: '/a' }]);
  assert.deepEqual(witnessesOf({ ...attach, failure: [{ type: 'put', key: '/x', value: 'y' }] }), []);
  assert.deepEqual(witnessesOf({ compare: [], success: [{ type: 'put', key: '/a', value: 'b' }] }), []);
  assert.equal(isReadOnly({ compare: [], success: [{ type: 'get', key: '/a' }], failure: [{ type: 'range', prefix: '/' }] }), true);
  assert.equal(isReadOnly(detach), false);
});

test('witness verdict: applied, not applied, or undecided', () => {
  const [claim] = witnessesOf(attach);
  assert.deepEqual(witnessVerdict([claim!], [kv('/ipam/n/10.0.0.2', 'ep1', 42)]), { applied: true, revision: 42 });
  assert.deepEqual(witnessVerdict([claim!], [kv('/ipam/n/10.0.0.2', 'ep9', 43)]), { applied: false }, 'held by another call: the resend failed for real');
  assert.deepEqual(witnessVerdict([claim!], [undefined]), { applied: false });
  const [gone] = witnessesOf(detach);
  assert.deepEqual(witnessVerdict([gone!], [undefined]), { applied: true });
  assert.deepEqual(witnessVerdict([gone!], [kv('/endpoints/n/ep1', '{}', 5)]), { applied: false });
  assert.deepEqual(witnessVerdict([claim!, gone!], [kv('/ipam/n/10.0.0.2', 'ep1', 42), kv('/endpoints/n/ep1', '{}', 5)]), { mixed: true });
  const two = [claim!, { kind: 'created' as const, key: '/b', value: 'ep1' }];
  assert.deepEqual(witnessVerdict(two, [kv('/ipam/n/10.0.0.2', 'ep1', 42), kv('/b', 'ep1', 44)]), { mixed: true }, 'two revisions: not one txn');
});

test('reads of an applied txn are rebuilt from the revision before it, or after it', () => {
  assert.deepEqual(readRevisions(attach.success, 42), [41, undefined, undefined, undefined]);
  assert.deepEqual(readRevisions([{ type: 'put', key: '/a', value: '1' }, { type: 'range', prefix: '/' }], 42), [undefined, 42]);
  assert.equal(readRevisions([{ type: 'put', key: '/a', value: '1' }, { type: 'get', key: '/a' }, { type: 'delete', key: '/a' }], 42), null);
});

test('a write without witness is found at a revision that holds exactly its puts and deletes', () => {
  const w = writesOf({ compare: [], success: [{ type: 'put', key: '/u', value: 'v1' }, { type: 'delete', key: '/e' }] })!;
  assert.equal(writtenAt(w, 9, { putsAt: [kv('/u', 'v1', 3, 9)], deletesAt: [undefined], deletesBefore: [kv('/e', '', 2)] }), true);
  assert.equal(writtenAt(w, 9, { putsAt: [kv('/u', 'v1', 3, 8)], deletesAt: [undefined], deletesBefore: [kv('/e', '', 2)] }), false, 'put at another revision');
  assert.equal(writtenAt(w, 9, { putsAt: [kv('/u', 'v0', 3, 9)], deletesAt: [undefined], deletesBefore: [kv('/e', '', 2)] }), false, 'another value');
  assert.equal(writtenAt(w, 9, { putsAt: [kv('/u', 'v1', 3, 9)], deletesAt: [undefined], deletesBefore: [undefined] }), false, 'nothing deleted at 9');
  assert.equal(writesOf({ compare: [], success: [{ type: 'delete', key: '/e' }] }), undefined, 'deletes only: undecidable');
});
