/** Packing a large change into txns within etcd's --max-txn-ops (src/engine/txn-batches.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packTxnBatches, type TxnItem } from '../../src/engine/txn-batches.js';
import type { Compare } from '../../src/store/contract.js';

const cmp = (key: string): Compare => ({ key, target: 'modRevision', op: '=', value: 1 });
const endpoint = (i: number): TxnItem => ({ compare: [cmp(`/e/${i}`)], ops: [{ type: 'delete', key: `/e/${i}` }, { type: 'delete', key: `/ipam/a${i}` }, { type: 'delete', key: `/ipam/b${i}` }] });

test('150 endpoints of three deletes each: batches of at most 128 ops, every item whole, the last item last', () => {
  const items = Array.from({ length: 150 }, (_, i) => endpoint(i));
  const last: TxnItem = { compare: [cmp('/name')], ops: [{ type: 'delete', key: '/node' }] };
  const batches = packTxnBatches(items, [cmp('/alive')], last);
  assert.ok(batches.length >= 4);
  for (const b of batches) {
    assert.ok(b.success.length <= 128 && b.compare.length <= 128);
    assert.deepEqual(b.compare[0], cmp('/alive'), 'every batch carries the common compare');
    assert.equal(b.success.length % 3 === 0 || b === batches.at(-1), true, 'an endpoint never split');
  }
  assert.deepEqual(batches.at(-1)!.success.at(-1), { type: 'delete', key: '/node' });
  assert.equal(batches.flatMap((b) => b.success).length, 451);
  assert.deepEqual(packTxnBatches([], [], last), [{ compare: [cmp('/name')], success: [{ type: 'delete', key: '/node' }] }]);
  assert.throws(() => packTxnBatches([{ compare: [], ops: Array.from({ length: 200 }, () => ({ type: 'delete' as const, key: '/x' })) }], [], last), RangeError);
});
