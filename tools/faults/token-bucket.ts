/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up. Emulates an AWS
 * request-rate quota for one operation in one process (a fleet of workers shares the real quota;
 * give each process its share when benchmarking several).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = this.now();
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
