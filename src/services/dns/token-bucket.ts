/**
 * A token bucket: `rate` tokens a second, at most `burst` held. Pure apart from the clock,
 * which the caller passes in (milliseconds, monotonic).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token: 0 when there was one, else the milliseconds until there will be. */
  take(now: number): number {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
  }
}
