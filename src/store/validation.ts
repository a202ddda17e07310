/**
 * Input checks shared by every store backend, so that the LMDB and etcd backends reject
 * the same requests with the same codes (docs/STORE.md, "Errors").
 */
import { invalid } from '../errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, STORE_ERROR, type Compare, type Op, type Txn, type WatchOptions } from './contract.js';

const TARGETS = new Set(['version', 'createRevision', 'modRevision', 'value']);
const OPS = new Set(['=', '!=', '<', '>']);

export function validateKey(key: unknown, field = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw invalid(STORE_ERROR.keyInvalid, `${field} must be a non-empty string`, field);
  }
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw invalid(STORE_ERROR.keyInvalid, `${field} is longer than ${MAX_KEY_BYTES} bytes`, field);
  }
}

/** A prefix may be '' (everything) for reads and watches, never for deletePrefix. */
export function validatePrefix(prefix: unknown, opts: { allowEmpty: boolean }, field = 'prefix'): asserts prefix is string {
  if (typeof prefix !== 'string') throw invalid(STORE_ERROR.keyInvalid, `${field} must be a string`, field);
  if (prefix === '' && !opts.allowEmpty) {
    throw invalid(STORE_ERROR.prefixEmpty, `${field} must not be empty: that would delete every key`, field);
  }
  if (Buffer.byteLength(prefix) > MAX_KEY_BYTES) {
    throw invalid(STORE_ERROR.keyInvalid, `${field} is longer than ${MAX_KEY_BYTES} bytes`, field);
  }
}

export function validateValue(value: unknown, field = 'value'): asserts value is string {
  if (typeof value !== 'string') throw invalid(STORE_ERROR.valueInvalid, `${field} must be a string`, field);
  if (Buffer.byteLength(value) > MAX_VALUE_BYTES) {
    throw invalid(STORE_ERROR.valueInvalid, `${field} is larger than ${MAX_VALUE_BYTES} bytes`, field);
  }
}

export function validateTtl(ttlSeconds: unknown, field = 'ttlSeconds'): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw invalid(STORE_ERROR.leaseTtlInvalid, `${field} must be an integer number of seconds ≥ 1`, field);
  }
}

export function validateRevision(revision: unknown, field: string): asserts revision is number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw invalid(STORE_ERROR.revisionInvalid, `${field} must be an integer ≥ 0`, field);
  }
}

/** The arguments of `watch`, as every backend checks them; returns fromRevision (0: from now on). */
export function validateWatch(prefix: unknown, opts: WatchOptions | undefined, onEvents: unknown): number {
  validatePrefix(prefix, { allowEmpty: true });
  const from = opts?.fromRevision ?? 0;
  validateRevision(from, 'fromRevision');
  if (opts?.prevKv !== undefined && typeof opts.prevKv !== 'boolean') throw invalid(STORE_ERROR.optionInvalid, 'prevKv must be a boolean when given', 'prevKv');
  if (typeof onEvents !== 'function') throw invalid(STORE_ERROR.txnInvalid, 'onEvents must be a function', 'onEvents');
  return from;
}

export function validateLease(lease: unknown, field = 'lease'): asserts lease is string {
  if (typeof lease !== 'string' || lease.length === 0) {
    throw invalid(STORE_ERROR.leaseInvalid, `${field} must be a lease id returned by grantLease`, field);
  }
}

export function validateTxn(t: Txn): void {
  if (!t || !Array.isArray(t.compare) || !Array.isArray(t.success)) {
    throw invalid(STORE_ERROR.txnInvalid, 'txn needs compare[] and success[] arrays', 'txn');
  }
  if (t.failure !== undefined && !Array.isArray(t.failure)) {
    throw invalid(STORE_ERROR.txnInvalid, 'txn.failure must be an array when given', 'txn.failure');
  }
  t.compare.forEach((c, i) => validateCompare(c, `compare[${i}]`));
  validateBranch(t.success, 'success');
  validateBranch(t.failure ?? [], 'failure');
}

function validateCompare(c: Compare, field: string): void {
  validateKey(c?.key, `${field}.key`);
  if (!TARGETS.has(c.target)) {
    throw invalid(STORE_ERROR.txnInvalid, `${field}.target must be version, createRevision, modRevision or value`, `${field}.target`);
  }
  if (!OPS.has(c.op)) throw invalid(STORE_ERROR.txnInvalid, `${field}.op must be =, !=, < or >`, `${field}.op`);
  const wantString = c.target === 'value';
  if (wantString ? typeof c.value !== 'string' : typeof c.value !== 'number' || !Number.isSafeInteger(c.value)) {
    throw invalid(STORE_ERROR.txnInvalid, `${field}.value must be ${wantString ? 'a string' : 'an integer'} for target ${c.target}`, `${field}.value`);
  }
}

/**
 * etcd rejects a txn branch that puts one key twice, or puts a key that a delete in the
 * same branch also covers ("duplicate key given in txn request"): the outcome would hang
 * on op order. We reject the same requests so both backends agree.
 */
function validateBranch(ops: Op[], branch: string): void {
  const puts = new Set<string>();
  const deletes: { prefix: string; exact: boolean }[] = [];
  ops.forEach((op, i) => {
    const field = `${branch}[${i}]`;
    switch (op?.type) {
      case 'put':
        validateKey(op.key, `${field}.key`);
        validateValue(op.value, `${field}.value`);
        if (op.lease !== undefined) validateLease(op.lease, `${field}.lease`);
        if (puts.has(op.key)) throw duplicate(op.key, field);
        puts.add(op.key);
        break;
      case 'delete':
        validateKey(op.key, `${field}.key`);
        deletes.push({ prefix: op.key, exact: true });
        break;
      case 'deletePrefix':
        validatePrefix(op.prefix, { allowEmpty: false }, `${field}.prefix`);
        deletes.push({ prefix: op.prefix, exact: false });
        break;
      case 'get':
        validateKey(op.key, `${field}.key`);
        break;
      case 'range':
        validatePrefix(op.prefix, { allowEmpty: true }, `${field}.prefix`);
        break;
      default:
        throw invalid(STORE_ERROR.txnInvalid, `${field}.type must be put, delete, deletePrefix, get or range`, `${field}.type`);
    }
  });
  for (const key of puts) {
    for (const d of deletes) {
      if (d.exact ? key === d.prefix : key.startsWith(d.prefix)) throw duplicate(key, branch);
    }
  }
}

const duplicate = (key: string, field: string) =>
  invalid(STORE_ERROR.txnDuplicateKey, `key ${JSON.stringify(key)} is written twice in one txn branch`, field);
