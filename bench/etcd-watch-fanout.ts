/**
 * What a write's watch fan-out costs the writer (docs/CLUSTER.md "Where an attach's time
 * goes"): a txn of an attach's shape (bench/etcd-txn-probe.ts's: two keys created, one
 * updated) timed through the daemon's own client (src/store/etcd-store.ts) against a private
 * etcd on 127.0.0.1 (test/helpers/etcd.ts), while W other processes watch the whole prefix
 * (each one store, one watch, doing nothing with the events: a daemon's watch without its
 * work), with and without `prev_kv`, and with the writer watching too (its own event on the
 * connection its txn's reply comes on, as in a daemon). No engine, no kernel, no lab.
 *
 *   npm run build && node dist/bench/etcd-watch-fanout.js [--watchers 3,10] [--count 60] [--rounds 3] [--pause-ms 15]
 *
 * Each case runs `rounds` times, the cases interleaved (every other round in reverse order); prints per case the p50 of each round
 * and their median (ms). `--pause-ms`: idle time after each txn's clean-up, so that the
 * fan-out of the clean-up (two deletes) is over before the next timed txn.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openEtcdStore } from '../src/store/etcd-store.js';
import type { Store } from '../src/store/contract.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { attachShapedTxn, undoAttachShapedTxn } from './attach-txn.js';

const PREFIX = '/swy-fanout';
const self = fileURLToPath(import.meta.url);
const median = (a: number[]): number => {
  const b = [...a].sort((x, y) => x - y);
  return b[Math.floor(b.length / 2)]!;
};

/** Child mode: one store, one watch on the whole prefix, "ready" on stdout, until SIGTERM. */
async function watcher(endpoint: string, prevKv: boolean): Promise<void> {
  const store = await openEtcdStore({ endpoints: [endpoint], prefix: PREFIX });
  let seen = 0;
  await store.watch('/', { prevKv }, (events) => void (seen += events.length));
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => void store.close().then(() => process.exit(0)));
}

async function startWatchers(endpoint: string, n: number, prevKv: boolean): Promise<ChildProcess[]> {
  const out: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const p = spawn(process.execPath, [self, '--watcher', endpoint, '--prev-kv', String(prevKv)], { stdio: ['ignore', 'pipe', 'inherit'] });
    out.push(p);
    await new Promise((resolve) => p.stdout!.once('data', resolve));
  }
  return out;
}

async function stopWatchers(ps: ChildProcess[]): Promise<void> {
  await Promise.all(ps.map((p) => new Promise((resolve) => (p.once('exit', resolve), p.kill('SIGTERM')))));
}

/** p50 of `count` attach-shaped txns (after 10 untimed ones). */
async function timeTxns(store: Store, count: number, pauseMs: number): Promise<number> {
  const net = `/networks/${randomBytes(8).toString('hex')}`;
  await store.put(net, '{}');
  const times: number[] = [];
  for (let i = 0; i < count + 10; i++) {
    const { txn, keys } = attachShapedTxn(net, i, 300);
    const t0 = performance.now();
    const res = await store.txn(txn);
    if (i >= 10) times.push(performance.now() - t0);
    if (!res.succeeded) throw new Error('txn failed its compare');
    await undoAttachShapedTxn(store, keys);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return median(times);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      watchers: { type: 'string', default: '3,10' },
      count: { type: 'string', default: '60' },
      rounds: { type: 'string', default: '3' },
      'pause-ms': { type: 'string', default: '15' },
      watcher: { type: 'string' },
      'prev-kv': { type: 'string' },
    },
  });
  if (values.watcher) return watcher(values.watcher, values['prev-kv'] === 'true');
  const count = Number(values.count);
  const pauseMs = Number(values['pause-ms']);
  const cases: { name: string; n: number; prevKv: boolean; own: boolean }[] = [{ name: 'no watcher', n: 0, prevKv: false, own: false }];
  for (const n of values.watchers!.split(',').map(Number)) {
    cases.push({ name: `${n} watchers, prev_kv`, n, prevKv: true, own: false });
    cases.push({ name: `${n} watchers, no prev_kv`, n, prevKv: false, own: false });
    cases.push({ name: `${n} watchers, prev_kv, + the writer's own`, n, prevKv: true, own: true });
    cases.push({ name: `${n} watchers, no prev_kv, + the writer's own`, n, prevKv: false, own: true });
  }
  const etcd = await startEtcd();
  const results = new Map<string, number[]>();
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      // Every other round in reverse order: a drift over the run (etcd's history growing, the
      // machine's load) does not favour the cases listed first.
      for (const c of round % 2 ? [...cases].reverse() : cases) {
        const ps = await startWatchers(etcd.endpoints[0]!, c.n, c.prevKv);
        const store = await openEtcdStore({ endpoints: etcd.endpoints, prefix: PREFIX });
        try {
          const own = c.own ? await store.watch('/', { prevKv: c.prevKv }, () => undefined) : undefined;
          const p50 = await timeTxns(store, count, pauseMs);
          await own?.close();
          results.set(c.name, [...(results.get(c.name) ?? []), p50]);
        } finally {
          await store.deletePrefix('/').catch(() => undefined);
          await store.close();
          await stopWatchers(ps);
        }
      }
    }
  } finally {
    await etcd.stop();
  }
  console.log('| case | p50 of each round (ms) | median |');
  console.log('|---|---|---|');
  for (const [name, v] of results) console.log(`| ${name} | ${v.map((x) => x.toFixed(2)).join(', ')} | ${median(v).toFixed(2)} |`);
}

await main();
