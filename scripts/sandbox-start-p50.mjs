// node scripts/sandbox-start-p50.mjs [REPO] [N] (as root, after npm run build): p50/p90 of `switchyard run -d` (CLI), of create+start (API),
// and of create+start until the command's first output is in its log.
// A private daemon in a throwaway namespace (test/helpers/daemon.ts); REPO lets the same loop
// run against another checkout (e.g. `git worktree add /tmp/base <commit>` then build there).
import * as fs from 'node:fs';
import * as path from 'node:path';
const repo = path.resolve(process.argv[2] ?? '.');
const nArg = process.argv[3];
const n = Number(nArg ?? 30);
const { startDaemon } = await import(`${repo}/dist/test/helpers/daemon.js`);
const d = await startDaemon({ tag: 'meas' });
const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1); };
try {
  const api = [], cli = [], first = [];
  for (let i = 0; i < 3; i++) d.cli(['run', '-d', 'sleep', '1000']); // warm-up
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    const c = await d.client.createSandbox({ Cmd: ['sleep', '1000'] });
    await d.client.startSandbox(c.Id);
    api.push(performance.now() - t);
    t = performance.now();
    d.cli(['run', '-d', 'sleep', '1000']);
    cli.push(performance.now() - t);
    t = performance.now();
    const e = await d.client.createSandbox({ Cmd: ['/bin/sh', '-c', 'echo hi; sleep 1000'] });
    await d.client.startSandbox(e.Id);
    const log = path.join(d.dataRoot, 'sandboxes', e.Id, 'output.log');
    while (!(fs.existsSync(log) && fs.statSync(log).size > 0)) await new Promise((r) => setTimeout(r, 1));
    first.push(performance.now() - t);
  }
  console.log(`${repo}: API create+start p50 ${q(api, 0.5)} ms p90 ${q(api, 0.9)}; CLI run -d p50 ${q(cli, 0.5)} ms p90 ${q(cli, 0.9)}; create+start until first output p50 ${q(first, 0.5)} ms p90 ${q(first, 0.9)} (n=${n}, ${3 + 3 * n} sandboxes)`);
} finally {
  await d.stop();
}
