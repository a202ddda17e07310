/**
 * A bare etcd txn of an attach's shape, timed through the daemon's own client
 * (src/store/etcd-store.ts): compare an address key create-only and the network key present,
 * read back the keys it writes, put an endpoint, its address claim and the usage key. No
 * engine, no kernel: what etcd's commit (round trip, raft, fsync) costs by itself. Each txn's
 * keys are deleted afterwards (untimed). Run inside a lab host's namespace by bench/cluster.ts:
 *
 *   node dist/bench/etcd-txn-probe.js --endpoint http://10.X.0.250:2379 [--count 40] [--watched]
 *
 * Prints a Summary (bench/stats.ts) as JSON on stdout. Keys live under /switchyard-probe/,
 * apart from the engine's prefix, so no daemon hears of them; with --watched they live under
 * /switchyard/v1/probe/, inside the prefix every daemon watches (which ignores keys it does
 * not know), so each txn also wakes every daemon as an attach does.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { openEtcdStore } from '../src/store/etcd-store.js';
import { summarize } from './stats.js';

const { values } = parseArgs({ options: { endpoint: { type: 'string' }, count: { type: 'string', default: '40' }, watched: { type: 'boolean', default: false } } });
if (!values.endpoint) throw new Error('--endpoint is required');
const store = await openEtcdStore({ endpoints: [values.endpoint], prefix: values.watched ? '/switchyard/v1/probe' : '/switchyard-probe' });
const net = `/networks/${randomBytes(8).toString('hex')}`;
await store.put(net, '{}');
const times: number[] = [];
try {
  for (let i = 0; i < Number(values.count); i++) {
    const ep = randomBytes(8).toString('hex');
    const keys = [`/endpoints/n/${ep}`, `/ipam/n/10.0.${i >> 8}.${i & 255}`, '/usage/n'];
    const t0 = performance.now();
    const res = await store.txn({
      compare: [
        { key: keys[1]!, target: 'createRevision', op: '=', value: 0 },
        { key: net, target: 'createRevision', op: '>', value: 0 },
      ],
      success: [
        ...keys.map((key) => ({ type: 'get' as const, key })),
        { type: 'put', key: keys[0]!, value: JSON.stringify({ id: ep, mac: '02:42:0a:00:00:01', ipv4: '10.0.0.1/24', node: 'probe', sandboxName: 'probe' }) },
        { type: 'put', key: keys[1]!, value: ep },
        { type: 'put', key: keys[2]!, value: String(Date.now()) },
      ],
    });
    times.push(performance.now() - t0);
    if (!res.succeeded) throw new Error('probe txn failed its compare');
    await store.txn({ compare: [], success: keys.slice(0, 2).map((key) => ({ type: 'delete' as const, key })) });
  }
} finally {
  await store.deletePrefix('/').catch(() => undefined);
  await store.close();
}
console.log(JSON.stringify(summarize(times)));
