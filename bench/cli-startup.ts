/**
 * The CLI's own start-up: `./bin/switchyard version` against a running daemon (one API round
 * trip), against `node -e 0` (Node's floor on this machine), runs alternating, each a fresh process.
 */
import { spawnSync } from 'node:child_process';
import { CLI, type TestDaemon } from '../test/helpers/daemon.js';
import { Rounds } from './stats.js';

export function cliStartup(d: TestDaemon, runs: number): Rounds {
  const r = new Rounds();
  const once = (label: string, args: string[]) => {
    const t0 = performance.now();
    const p = spawnSync(process.execPath, args, { encoding: 'utf8' });
    r.add(label, performance.now() - t0);
    if (p.status !== 0) throw new Error(`${args.join(' ')} → ${p.status}: ${p.stderr}`);
  };
  // A unix socket is reached through the file system, so no nsenter is needed (nor timed).
  for (let i = 0; i < runs; i++) {
    once('node -e 0', ['-e', '0']);
    once('switchyard version', [CLI, '-H', `unix://${d.socket}`, 'version']);
    once('switchyard --help', [CLI, '--help']);
  }
  return r;
}
