/**
 * A small seeded generator (mulberry32) so a failing chaos run can be replayed: every
 * run prints its seed, and SWY_CHAOS_SEED=<seed> repeats the same choices (the kill
 * moments still depend on timing, the workload's choices do not).
 */
/** The seed CI uses for every seeded test (fuzzers and chaos). */
export const CI_SEED = 20261122;

export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (!items.length) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Picks a key by weight (weights ≤ 0 are never picked); undefined when all are 0. */
  weighted<K extends string>(weights: Record<K, number>): K | undefined {
    const entries = (Object.entries(weights) as [K, number][]).filter(([, w]) => w > 0);
    const total = entries.reduce((s, [, w]) => s + w, 0);
    if (!total) return undefined;
    let x = this.next() * total;
    for (const [k, w] of entries) {
      if ((x -= w) < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }
}

/**
 * The seed from SWY_CHAOS_SEED; under CI a fixed one (a landing must not depend on the draw:
 * exploring new seeds is what `npm run soak` and local runs are for); else a fresh one.
 */
export function chaosSeed(): number {
  const given = process.env.SWY_CHAOS_SEED;
  if (given && /^\d+$/.test(given)) return Number(given) >>> 0;
  if (process.env.CI) return CI_SEED;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
