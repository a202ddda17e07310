/**
 * Splitting one large store change into txns that each stay within etcd's limit on the
 * operations of a txn (`--max-txn-ops`, default 128: the compares, the success ops and the
 * failure ops are each counted against it). Pure: the caller runs the batches in order.
 */
import type { Compare, Op } from '../store/contract.js';

/** etcd's default --max-txn-ops. */
export const ETCD_MAX_TXN_OPS = 128;

/** A part of the change that must stay in one txn (an endpoint with its address claims). */
export interface TxnItem {
  compare: Compare[];
  ops: Op[];
}

export interface TxnBatch {
  compare: Compare[];
  success: Op[];
}

/**
 * Packs `items` in order into batches; every batch also carries `common` (compares that each
 * must hold, e.g. "the node did not come back"), and the last one `last` (what goes only once
 * everything else is done, e.g. the node's own record). Each list of a batch stays ≤ `limit`.
 */
export function packTxnBatches(items: TxnItem[], common: Compare[], last: TxnItem, limit = ETCD_MAX_TXN_OPS): TxnBatch[] {
  const batches: TxnBatch[] = [];
  let cur: TxnBatch = { compare: [...common], success: [] };
  const fits = (b: TxnBatch, it: TxnItem) => b.compare.length + it.compare.length <= limit && b.success.length + it.ops.length <= limit;
  const add = (it: TxnItem) => {
    if (!fits(cur, it)) {
      if (cur.success.length) batches.push(cur);
      cur = { compare: [...common], success: [] };
      if (!fits(cur, it)) throw new RangeError(`one item needs ${it.compare.length + common.length} compares and ${it.ops.length} ops: more than ${limit}`);
    }
    cur.compare.push(...it.compare);
    cur.success.push(...it.ops);
  };
  for (const it of items) add(it);
  add(last);
  batches.push(cur);
  return batches;
}
