/**
 * The join intent (src/engine/join-intent.ts): an attach's port made, held, while its txn is
 * in flight. Its record round-trips, a damaged one is refused, and what one found at start
 * means. Reconcile running the verdicts is test/integration/cluster-engine.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJoinIntent, encodeJoinIntent, joinIntentKey, judgeJoinIntent } from '../../src/engine/join-intent.js';
import { RECORD_VERSION, type EndpointRecord } from '../../src/model/records.js';

const ep: EndpointRecord = {
  v: RECORD_VERSION,
  id: 'a'.repeat(64),
  networkId: 'b'.repeat(64),
  sandboxId: 'c'.repeat(64),
  ifname: 'eth1',
  mac: '02:42:0a:00:00:02',
  ipv4: '10.0.0.2/24',
  aliases: [],
  links: [],
  dnsNames: [],
  order: 1,
};

test('a join intent round-trips under its key; one under another key, of another version or not JSON is refused', () => {
  const key = joinIntentKey(ep.id);
  assert.equal(key, `/joining/${ep.id}`);
  const text = encodeJoinIntent(ep);
  assert.deepEqual(decodeJoinIntent(key, text), { v: 1, endpoint: ep });
  assert.equal(decodeJoinIntent(joinIntentKey('d'.repeat(64)), text), undefined, 'key and endpoint disagree');
  assert.equal(decodeJoinIntent(key, text.replace('"v":1', '"v":2')), undefined, 'a newer version');
  assert.equal(decodeJoinIntent(key, JSON.stringify({ v: 1, endpoint: { ...ep, ifname: 'bad name!' } })), undefined, 'an endpoint that does not decode');
  assert.equal(decodeJoinIntent(key, '{'), undefined);
});

test('a join intent at start: committed keeps the port, unknown waits, otherwise the port goes or there is nothing left to remove', () => {
  const all = { sharedLoaded: true, endpointLoaded: false, sandboxRunning: true, networkKnown: true };
  assert.deepEqual(judgeJoinIntent({ ...all, endpointLoaded: true }), { kind: 'committed' });
  assert.deepEqual(judgeJoinIntent({ ...all, endpointLoaded: true, sharedLoaded: false }), { kind: 'committed' });
  assert.deepEqual(judgeJoinIntent({ ...all, sharedLoaded: false }), { kind: 'unknown' });
  assert.deepEqual(judgeJoinIntent(all), { kind: 'remove-port' });
  assert.deepEqual(judgeJoinIntent({ ...all, sandboxRunning: false }), { kind: 'drop' });
  assert.deepEqual(judgeJoinIntent({ ...all, networkKnown: false }), { kind: 'drop' });
});
