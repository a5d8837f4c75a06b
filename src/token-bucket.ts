/**
 * A token bucket: `ratePerSecond` tokens a second, holding at most `capacity`, full at first.
 * For the few budgets kept in memory only (the known-key map's reads of unknown digests, the
 * feed's replay rate); request limits go through the limiter (Bottleneck), shared across instances.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly ratePerSecond: number,
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.refilledAt = now();
  }

  /** Takes `count` tokens if there are that many; says whether it did. */
  take(count = 1): boolean {
    this.refill();
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }

  /** Milliseconds until `count` tokens are there (0 when they are now). */
  msUntil(count: number): number {
    this.refill();
    return Math.max(0, ((count - this.tokens) / this.ratePerSecond) * 1000);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
  }
}
