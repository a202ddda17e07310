/**
 * The log size cap of running sandboxes (daemon flag `--log-opt max-size=SIZE`, docs/CLI.md):
 * every `everyMs`, each running sandbox's output.log over the cap is rotated to
 * output.log.1 through the sandbox processes port (ctx.processes.capLog; the daemon wires
 * kernel/sandbox-process.ts capLogFile). A sandbox therefore uses at most
 * about twice the cap, plus what it writes within one interval.
 */
import * as path from 'node:path';
import type { EngineContext } from './context.js';

export function startLogCap(ctx: EngineContext, maxBytes: number, everyMs = 1000): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    const running = [...ctx.state.sandboxes.values()].filter((sb) => sb.state.status === 'running');
    void Promise.all(
      running.map((sb) => ctx.processes.capLog(path.join(sb.dir, 'output.log'), maxBytes).catch((err) => {
        ctx.log(`log cap ${sb.name}: ${String(err)}`);
        return false;
      })),
    ).finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
