/**
 * Where an operation's time goes, phase by phase (docs/CLUSTER.md "Where an attach's time
 * goes"): with SWY_TRACE_PHASES=1 in the daemon's environment, a connect logs one line
 *
 *   phases connect <network> total=6.12 plan=0.05 txn=3.40 join=2.10 naming=0.57
 *
 * (ms; each phase from the previous mark). Off (the default) a trace costs one branch per
 * mark. bench/cluster.ts reads these lines from the lab's daemon logs.
 */

const enabled = (): boolean => process.env.SWY_TRACE_PHASES === '1';

export class PhaseTrace {
  private readonly t0: number;
  private last: number;
  private readonly phases: [string, number][] = [];

  private constructor(readonly what: string) {
    this.t0 = performance.now();
    this.last = this.t0;
  }

  /** A trace when tracing is on, undefined otherwise (callers use `trace?.mark(…)`). */
  static start(what: string): PhaseTrace | undefined {
    return enabled() ? new PhaseTrace(what) : undefined;
  }

  /** Ends the phase `name` now. */
  mark(name: string): void {
    const now = performance.now();
    this.phases.push([name, now - this.last]);
    this.last = now;
  }

  /** The log line (see the header); `name=ms` pairs in the order marked. */
  line(): string {
    const f = (ms: number) => ms.toFixed(2);
    return `phases ${this.what} total=${f(this.last - this.t0)} ${this.phases.map(([k, ms]) => `${k}=${f(ms)}`).join(' ')}`;
  }
}

/** Parses the lines of `line()` back into `{ total, <phase>… }` (ms); other lines are skipped. */
export function parsePhaseLines(text: string, what: string): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  const prefix = `phases ${what} `;
  for (const raw of text.split('\n')) {
    const at = raw.indexOf(prefix);
    if (at < 0) continue;
    const rec: Record<string, number> = {};
    for (const pair of raw.slice(at + prefix.length).split(/\s+/)) {
      const m = /^([a-z][a-z0-9-]*)=(-?\d+(?:\.\d+)?)$/.exec(pair);
      if (m) rec[m[1]!] = Number(m[2]);
    }
    if ('total' in rec) out.push(rec);
  }
  return out;
}
