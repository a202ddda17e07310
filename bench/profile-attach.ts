/**
 * CPU profile of the daemon while it attaches/detaches one sandbox (1 published port) with
 * N endpoints on the host: N sandboxes are created through a normal daemon, which is then
 * restarted under `node --cpu-prof` for the attach cycles only (NODE_OPTIONS=--cpu-prof does
 * not reach the daemon). Open the .cpuprofile in Chrome DevTools, or read the printed top list.
 *
 *   node dist/bench/profile-attach.js [--sandboxes 1000] [--cycles 300] [--dir /tmp/swy-prof] [--plain] [--gap-ms 0]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CLI, startDaemon } from '../test/helpers/daemon.js';
import { waitFor } from '../test/helpers/netns.js';
import { SwitchyardClient } from '../src/api/client.js';
import { retryOnStaleSocket } from './client-retry.js';
import { summarize } from './stats.js';

const { values } = parseArgs({ options: { sandboxes: { type: 'string', default: '1000' }, cycles: { type: 'string', default: '300' }, dir: { type: 'string', default: '/tmp/swy-prof' }, plain: { type: 'boolean', default: false }, 'gap-ms': { type: 'string', default: '0' } } });
const N = Number(values.sandboxes);
const CYCLES = Number(values.cycles);
/** Untimed pause after each detach (the bench's --settle-ms). */
const GAP_MS = Number(values['gap-ms']);

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[]; hitCount?: number }

/** Self time per function (top 25), from a .cpuprofile. */
function topSelf(file: string): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/dist\//, '')}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, ms]) => `${ms.toFixed(0).padStart(7)} ms ${((ms / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
}

async function main(): Promise<void> {
  const d = await startDaemon({ tag: 'prof' });
  d.client = retryOnStaleSocket(d.client);
  try {
    await d.client.createNetwork({ Name: 'att', IPAM: { Config: [{ Subnet: '10.160.0.0/16' }] } });
    const nets = Array.from({ length: Math.ceil(N / 250) }, (_, i) => `home${i}`);
    for (const n of nets) await d.client.createNetwork({ Name: n });
    for (let i = 0; i < N; i++) {
      const { Id } = await d.client.createSandbox({ Name: `s${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: nets[i % nets.length] });
      await d.client.startSandbox(Id);
    }
    const { Id: probe } = await d.client.createSandbox({ Name: 'probe', Cmd: ['sleep', 'infinity'], NetworkMode: 'att', PortSpecs: ['29000:80'] });
    await d.client.startSandbox(probe);
    await d.client.disconnectNetwork('att', probe);

    // Swap in a profiled daemon on the same state and socket.
    const exited = new Promise((r) => d.proc.once('exit', r));
    d.proc.kill('SIGTERM');
    await exited;
    if (!values.plain) fs.mkdirSync(values.dir!, { recursive: true });
    const prof = spawn('nsenter', [`--net=${d.host.path}`, '--', process.execPath, ...(values.plain ? [] : ['--cpu-prof', `--cpu-prof-dir=${values.dir}`]), CLI, 'daemon', '--data-root', d.dataRoot, '--exec-root', d.execRoot, '-H', `unix://${d.socket}`, '--log-level', 'warn'], { stdio: 'ignore' });
    const c = retryOnStaleSocket(new SwitchyardClient({ host: `unix://${d.socket}` }));
    await waitFor(() => c.ping().then(() => true, () => false), 'profiled daemon', 60_000, 50);
    const att: number[] = [];
    const det: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      let t = performance.now();
      await c.connectNetwork('att', probe);
      att.push(performance.now() - t);
      t = performance.now();
      await c.disconnectNetwork('att', probe);
      det.push(performance.now() - t);
      if (GAP_MS) await new Promise((r) => setTimeout(r, GAP_MS));
    }
    c.close();
    console.log(`attach ${JSON.stringify(summarize(att))}\ndetach ${JSON.stringify(summarize(det))}`);
    const done = new Promise((r) => prof.once('exit', r));
    const before = new Set(values.plain ? [] : fs.readdirSync(values.dir!));
    prof.kill('SIGTERM');
    await done;
    // --plain: no profile asked for, and no directory made for one.
    if (!values.plain) {
      const file = fs.readdirSync(values.dir!).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
      if (file) console.log(`profile: ${values.dir}/${file}\n${topSelf(`${values.dir}/${file}`).join('\n')}`);
      else console.log('no profile written (the daemon did not exit normally)');
    }
    await d.restart();
  } finally {
    await d.stop();
  }
}

await main();
