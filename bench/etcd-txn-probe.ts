/**
 * A bare etcd txn of an attach's shape, timed through the daemon's own client
 * (src/store/etcd-store.ts): compare an address key create-only and the network key present,
 * read back the keys it writes, put an endpoint, its address claim and the usage key. No
 * engine, no kernel: what etcd's commit (round trip, raft, fsync) costs by itself. Each txn's
 * keys are deleted afterwards (untimed). Run inside a lab host's namespace by bench/cluster.ts:
 *
 *   node dist/bench/etcd-txn-probe.js --endpoint http://10.X.0.250:2379 [--count 40] [--watched] [--idle-ms 250]
 *
 * Prints a Summary (bench/stats.ts) as JSON on stdout. Keys live under /switchyard-probe/,
 * apart from the engine's prefix, so no daemon hears of them; with --watched they live under
 * /switchyard/v1/probe/, inside the prefix every daemon watches (which ignores keys it does
 * not know), so each txn also wakes every daemon as an attach does. With --idle-ms, each txn
 * comes after that long idle (untimed), as an attach is timed by bench/cluster.ts: on a VM
 * whose vCPUs halt when idle, the first round trip after a pause costs more.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { openEtcdStore } from '../src/store/etcd-store.js';
import { summarize } from './stats.js';
import { attachShapedTxn, undoAttachShapedTxn } from './attach-txn.js';

const { values } = parseArgs({ options: { endpoint: { type: 'string' }, count: { type: 'string', default: '40' }, watched: { type: 'boolean', default: false }, 'idle-ms': { type: 'string', default: '0' } } });
const idleMs = Number(values['idle-ms']);
if (!values.endpoint) throw new Error('--endpoint is required');
const store = await openEtcdStore({ endpoints: [values.endpoint], prefix: values.watched ? '/switchyard/v1/probe' : '/switchyard-probe' });
const net = `/networks/${randomBytes(8).toString('hex')}`;
await store.put(net, '{}');
const times: number[] = [];
try {
  for (let i = 0; i < Number(values.count); i++) {
    const { txn, keys } = attachShapedTxn(net, i);
    if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    const t0 = performance.now();
    const res = await store.txn(txn);
    times.push(performance.now() - t0);
    if (!res.succeeded) throw new Error('probe txn failed its compare');
    await undoAttachShapedTxn(store, keys);
  }
} finally {
  await store.deletePrefix('/').catch(() => undefined);
  await store.close();
}
console.log(JSON.stringify(summarize(times)));
