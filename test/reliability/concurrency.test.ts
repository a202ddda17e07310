/**
 * Concurrency: a burst of ≥ 200 API requests of mixed kinds, sent at once from several
 * clients and aimed at the same few networks and sandboxes so they contend for the same
 * locks. Each request either succeeds or fails cleanly (a 4xx with a message; a 5xx is a
 * defect and is shown), none hangs, and the final state passes the invariant checker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardClient } from '../../src/api/client.js';
import { SwitchyardError } from '../../src/errors.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { settledProblems, nameOf } from './invariants.js';
import { SERVER_CMD } from './chaos.js';
import { SeededRandom, chaosSeed } from './seeded-random.js';

let d: TestDaemon;
before(async () => {
  d = await startDaemon({ tag: 'conc' });
});
after(async () => {
  await d?.stop();
});

interface Outcome {
  what: string;
  ok: boolean;
  kind?: string;
  code?: string;
  message?: string;
}

test('≥ 200 concurrent mixed requests succeed or fail cleanly and leave a consistent state', { timeout: 300_000 }, async () => {
  const seed = chaosSeed();
  const rnd = new SeededRandom(seed);
  const admin = d.client;
  await admin.createNetwork({ Name: 'hot', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.98.0.0/24' }] } });
  await admin.createNetwork({ Name: 'hot2', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.97.0.0/24' }] } });
  const base = ['b0', 'b1', 'b2', 'b3', 'b4'];
  for (const [i, name] of base.entries()) {
    await admin.createSandbox({ Name: name, Cmd: SERVER_CMD, NetworkMode: 'hot', PortSpecs: i % 2 ? ['0:80'] : [] });
    await admin.startSandbox(name);
  }

  const clients = Array.from({ length: 8 }, () => new SwitchyardClient({ host: `unix://${d.socket}` }));
  const ops: { what: string; run: (c: SwitchyardClient) => Promise<unknown> }[] = [];
  const add = (what: string, run: (c: SwitchyardClient) => Promise<unknown>) => ops.push({ what, run });
  for (let i = 0; i < 40; i++) {
    const sb = rnd.pick(base);
    add(`connect hot2 ${sb}`, (c) => c.connectNetwork('hot2', sb));
    add(`disconnect hot2 ${sb}`, (c) => c.disconnectNetwork('hot2', sb));
  }
  for (let i = 0; i < 30; i++) {
    const name = `r${i % 20}`; // names 0-9 twice: NAME_IN_USE for the loser
    const ports = i % 3 === 0 ? [`${21000 + (i % 4)}:80`] : i % 3 === 1 ? ['0:80'] : [];
    add(`run ${name} ${ports.join(',')}`, async (c) => {
      await c.createSandbox({ Name: name, Cmd: SERVER_CMD, NetworkMode: rnd.pick(['hot', 'hot2']), PortSpecs: ports });
      await c.startSandbox(name);
    });
  }
  for (let i = 0; i < 20; i++) {
    const sb = rnd.pick(base.slice(0, 3));
    add(`stop ${sb}`, (c) => c.stopSandbox(sb, 1));
    add(`start ${sb}`, (c) => c.startSandbox(sb));
  }
  for (let i = 0; i < 15; i++) add(`rm -f r${i}`, (c) => c.removeSandbox(`r${i}`, true));
  for (let i = 0; i < 10; i++) add(`connect hot r${i}`, (c) => c.connectNetwork('hot', `r${i}`));
  for (let i = 0; i < 12; i++) {
    const name = `x${i % 4}`;
    add(`network create ${name}`, (c) => c.createNetwork({ Name: name, Driver: 'bridge', IPAM: { Config: [{ Subnet: `10.96.${i % 6}.0/24` }] } }));
    add(`network rm ${name}`, (c) => c.removeNetwork(name));
  }
  add('network rm hot2', (c) => c.removeNetwork('hot2'));
  add('network prune', (c) => c.pruneNetworks());
  for (let i = 0; i < 20; i++) {
    add('inspect', (c) => c.inspectSandbox(rnd.pick(base)));
    add('network inspect', (c) => c.inspectNetwork('hot'));
    add('list', (c) => c.listSandboxes(true));
  }
  // Shuffle, then fire everything at once.
  for (let i = ops.length - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    [ops[i], ops[j]] = [ops[j]!, ops[i]!];
  }
  assert.ok(ops.length >= 200, `${ops.length} requests`);

  const started = Date.now();
  const outcomes: Outcome[] = await Promise.all(
    ops.map(async (op, i) => {
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${op.what} hung for 60 s`)), 60_000).unref());
      try {
        await Promise.race([op.run(clients[i % clients.length]!), deadline]);
        return { what: op.what, ok: true };
      } catch (err) {
        const e = err instanceof SwitchyardError ? err : undefined;
        return { what: op.what, ok: false, kind: e?.kind ?? 'not-an-api-error', code: e?.code ?? '', message: e?.message ?? String(err) };
      }
    }),
  );
  const elapsed = Date.now() - started;
  for (const c of clients) c.close();

  const failures = outcomes.filter((o) => !o.ok);
  const byCode = new Map<string, number>();
  for (const f of failures) byCode.set(`${f.kind}/${f.code}`, (byCode.get(`${f.kind}/${f.code}`) ?? 0) + 1);
  console.log(`# seed ${seed}: ${outcomes.length} concurrent requests in ${elapsed} ms: ${outcomes.length - failures.length} succeeded, ${failures.length} failed cleanly or not: ${JSON.stringify(Object.fromEntries(byCode))}`);
  const unclean = failures.filter((f) => f.kind === 'internal' || f.kind === 'not-an-api-error' || !f.message);
  assert.deepEqual(unclean.map((f) => `${f.what}: ${f.kind} ${f.code}: ${f.message}`), [], `seed ${seed}: 5xx or unclean failures`);
  assert.ok(outcomes.length - failures.length > 100, 'most requests succeed');

  const { problems, observed } = await settledProblems(d, admin, 10_000);
  assert.deepEqual(problems, [], `seed ${seed}: state after the burst`);
  // Every sandbox listed is one of ours, once.
  const names = observed.sandboxes.map(nameOf);
  assert.equal(new Set(names).size, names.length);
});
