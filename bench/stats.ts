/** Percentiles over latency samples (ms). */
export function percentile(samples: number[], p: number): number {
  if (!samples.length) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** Linear-interpolated quantile (q in [0, 1]). */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
}

/** The median; of an even count, the mean of the two middle values. */
export const medianOf = (values: number[]): number => quantile(values, 0.5);

export function summarize(samples: number[]): Summary {
  return {
    n: samples.length,
    p50: round(percentile(samples, 50)),
    p99: round(percentile(samples, 99)),
    min: round(Math.min(...samples)),
    max: round(Math.max(...samples)),
  };
}

export const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** Latency samples per label, filled round by round (A/B interleaved) and summarized at the end. */
export class Rounds {
  readonly samples: Record<string, number[]> = {};

  add(label: string, ms: number): void {
    (this.samples[label] ??= []).push(ms);
  }

  async timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    const v = await fn();
    this.add(label, performance.now() - t0);
    return v;
  }

  summaries(): Record<string, Summary> {
    return Object.fromEntries(Object.entries(this.samples).map(([k, v]) => [k, summarize(v)]));
  }
}
