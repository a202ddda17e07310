#!/usr/bin/env node
// Soak mode of the crash-safety suite: the chaos runner of test/reliability/chaos.ts with
// many kills (default 200). `npm run soak -- --kills 200 [--clients 4] [--seed N]`.
// Prints progress, the counts, and every defect; exits 1 when any was found. Needs root.
import { startDaemon } from '../dist/test/helpers/daemon.js';
import { runChaos } from '../dist/test/reliability/chaos.js';
import { chaosSeed } from '../dist/test/reliability/seeded-random.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : dflt;
};
if (process.getuid?.() !== 0) {
  console.error('the soak runs a real daemon: run it as root');
  process.exit(2);
}
const kills = opt('kills', 200);
const clients = opt('clients', 4);
const seed = opt('seed', chaosSeed()) >>> 0;
console.log(`soak: ${kills} kills, ${clients} clients, seed ${seed} (replay with --seed ${seed})`);
const started = Date.now();
const d = await startDaemon({ tag: 'soak' });
let result;
try {
  result = await runChaos(d, { seed, kills, clients, runMs: [300, 1500], log: (l) => console.log(`  ${l}`) });
} finally {
  await d.stop(); // removes what is left, then checks for leaked mounts, links and namespaces
}
const minutes = ((Date.now() - started) / 60000).toFixed(1);
const c = result.counts;
console.log(`\nsoak done in ${minutes} min, seed ${seed}`);
console.log(`  kills survived:           ${c.kills}`);
console.log(`  requests acknowledged:    ${c.acknowledged}`);
console.log(`  requests cut by a kill:   ${c.inDoubt} (each found wholly done or wholly undone)`);
console.log(`  requests rejected (4xx):  ${c.rejected}`);
console.log(`  server errors (5xx):      ${c.serverErrors}`);
console.log(`  invariant checks:         ${c.checks}`);
console.log(`  traffic probes passed:    ${c.probes}`);
console.log(`  lost / duplicated / leaked: ${c.lost} / ${c.duplicated} / ${c.leaked}`);
console.log(JSON.stringify({ seed, minutes: Number(minutes), ...c }));
if (result.defects.length) {
  console.log(`\n${result.defects.length} defects:`);
  for (const line of result.defects) console.log(`  ${line}`);
  process.exit(1);
}
