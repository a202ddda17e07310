/**
 * An etcd txn of an attach's shape, for the etcd probes (etcd-txn-probe.ts,
 * etcd-watch-fanout.ts): compare an address key create-only and the network key present,
 * read back the keys it writes, put an endpoint record, its address claim and the usage key.
 */
import { randomBytes } from 'node:crypto';
import type { Store, Txn } from '../src/store/contract.js';

/** The i-th txn against network key `net`; `keys` are what it writes (delete the first two to undo it). */
export function attachShapedTxn(net: string, i: number, pad = 0): { txn: Txn; keys: string[] } {
  const ep = randomBytes(8).toString('hex');
  const keys = [`/endpoints/n/${ep}`, `/ipam/n/10.0.${i >> 8}.${i & 255}`, '/usage/n'];
  const record = { id: ep, mac: '02:42:0a:00:00:01', ipv4: '10.0.0.1/24', node: 'probe', sandboxName: 'probe', ...(pad > 0 ? { pad: 'x'.repeat(pad) } : {}) };
  return {
    keys,
    txn: {
      compare: [
        { key: keys[1]!, target: 'createRevision', op: '=', value: 0 },
        { key: net, target: 'createRevision', op: '>', value: 0 },
      ],
      success: [
        ...keys.map((key) => ({ type: 'get' as const, key })),
        { type: 'put', key: keys[0]!, value: JSON.stringify(record) },
        { type: 'put', key: keys[1]!, value: ep },
        { type: 'put', key: keys[2]!, value: String(Date.now()) },
      ],
    },
  };
}

/** Deletes what attachShapedTxn wrote (the endpoint and its claim). */
export async function undoAttachShapedTxn(store: Store, keys: string[]): Promise<void> {
  await store.txn({ compare: [], success: keys.slice(0, 2).map((key) => ({ type: 'delete' as const, key })) });
}
