/**
 * Crash safety (CI bound): clients run a random mixed workload while the daemon is
 * killed with SIGKILL at random moments, ≥ 20 times; after every restart nothing
 * acknowledged is lost, nothing in doubt is half there, no address is held twice and no
 * kernel object leaks (chaos.ts, invariants.ts). SWY_CHAOS_SEED=<seed> replays a run;
 * SWY_CHAOS_KILLS overrides the number of kills.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { runChaos } from './chaos.js';
import { chaosSeed } from './seeded-random.js';

let d: TestDaemon;
before(async () => {
  d = await startDaemon({ tag: 'chaos' });
});
after(async () => {
  await d?.stop();
});

test('kill -9 at random moments of a mixed workload loses, duplicates and leaks nothing', { timeout: 600_000 }, async () => {
  const seed = chaosSeed();
  const kills = Number(process.env.SWY_CHAOS_KILLS ?? 24);
  const result = await runChaos(d, { seed, kills, clients: 4, runMs: [300, 1500], log: (l) => console.log(`# ${l}`) });
  console.log(`# chaos seed ${seed}: ${JSON.stringify(result.counts)}`);
  assert.equal(result.counts.kills, kills);
  assert.ok(result.counts.acknowledged > kills * 3, `the workload did something: ${JSON.stringify(result.counts)}`);
  assert.deepEqual(result.defects, [], `seed ${seed} (replay with SWY_CHAOS_SEED=${seed}):\n${result.defects.join('\n')}\n${d.log().split('\n').filter((l) => / (error|warn) /.test(l)).slice(-30).join('\n')}`);
});
