/**
 * Evaluation of txn compares against a key's current state, as etcd's applyCompare does
 * (server/etcdserver/txn): a missing key reads as version 0, createRevision 0 and
 * modRevision 0, and any `value` compare on a missing key is false, since "no value"
 * cannot be told apart from "" otherwise.
 */
import type { Compare, KeyValue } from './contract.js';

export function compareHolds(kv: KeyValue | undefined, c: Compare): boolean {
  if (c.target === 'value') {
    if (!kv) return false;
    return holds(compareBytes(kv.value, c.value as string), c.op);
  }
  const actual = kv ? kv[c.target] : 0;
  const wanted = c.value as number;
  return holds(actual < wanted ? -1 : actual > wanted ? 1 : 0, c.op);
}

function holds(order: number, op: Compare['op']): boolean {
  switch (op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '>':
      return order > 0;
  }
}

/** etcd compares values as bytes: compare the UTF-8 encodings, not UTF-16 code units. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
