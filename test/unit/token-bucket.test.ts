import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full, refills at its rate up to its capacity, and says how long until enough', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    expect([1, 2, 3, 4, 5, 6].map(() => bucket.take())).toEqual([true, true, true, true, true, false]);
    expect(bucket.msUntil(2)).toBe(200);
    now = 150;
    expect(bucket.take(2)).toBe(false);
    now = 200;
    expect(bucket.take(2)).toBe(true);
    now = 60_000;
    expect(bucket.take(6)).toBe(false);
    expect(bucket.take(5)).toBe(true);
  });
});
