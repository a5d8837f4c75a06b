import { afterEach, describe, expect, it } from 'vitest';
import Bottleneck from 'bottleneck';
import { stopGroupTimer, takeFrom } from '../../src/throttle/bottleneck-adapter.js';
import { LocalLimiter } from '../../src/throttle/local-limiter.js';

const limiters: LocalLimiter[] = [];
function limiter(): LocalLimiter {
  const created = new LocalLimiter(50);
  limiters.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()));
});

const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe('LocalLimiter', () => {
  it('allows the limit, refuses the next with retryAfterMs, and counts down remaining', async () => {
    const l = limiter();
    const results = [];
    for (let i = 0; i < 31; i++) results.push(await l.take('k', 30, 60));
    expect(results.slice(0, 30).every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.remaining).slice(0, 3)).toEqual([29, 28, 27]);
    expect(results[29]!.remaining).toBe(0);
    const refused = results[30]!;
    expect(refused).toMatchObject({ allowed: false, limit: 30, remaining: 0 });
    expect(refused.retryAfterMs).toBeGreaterThan(59_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(refused.resetAt.getTime()).toBe(results[0]!.resetAt.getTime());
  });

  it('keeps a window exactly as long as it is: refused just before its end, served right after', async () => {
    const l = limiter();
    const first = await l.take('k', 2, 1);
    await l.take('k', 2, 1);
    const end = first.resetAt.getTime();
    await sleepUntil(end - 150);
    expect((await l.take('k', 2, 1)).allowed).toBe(false);
    await sleepUntil(end + 5);
    const next = await l.take('k', 2, 1);
    expect(next).toMatchObject({ allowed: true, remaining: 1 });
    expect(next.resetAt.getTime()).toBeGreaterThanOrEqual(end + 1_000);
  });

  it('counts keys independently, and a changed limit starts a fresh count', async () => {
    const l = limiter();
    for (let i = 0; i < 3; i++) await l.take('a', 3, 60);
    expect((await l.take('a', 3, 60)).allowed).toBe(false);
    expect((await l.take('b', 3, 60)).allowed).toBe(true);
    expect(await l.take('a', 5, 60)).toMatchObject({ allowed: true, remaining: 4 });
  });

  it('gives exactly the limit to 50 concurrent takers', async () => {
    const l = limiter();
    const results = await Promise.all(Array.from({ length: 50 }, () => l.take('hot', 30, 60)));
    expect(results.filter((r) => r.allowed)).toHaveLength(30);
  });

  it('peeks without counting', async () => {
    const l = limiter();
    expect(await l.peek('p', 2, 60)).toMatchObject({ allowed: true, remaining: 2 });
    await l.take('p', 2, 60);
    await l.take('p', 2, 60);
    expect(await l.peek('p', 2, 60)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await l.peek('p', 2, 60)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('takes from the Bottleneck reservoir itself, at once, as incrementReservoir(-1) would', async () => {
    const group = new Bottleneck.Group({ reservoir: 3, timeout: 60_000 });
    const bottleneck = group.key('k');
    const taken = [takeFrom(bottleneck), takeFrom(bottleneck)];
    // Answered synchronously: no promise, no timer tick.
    expect(taken).toEqual([2, 1]);
    expect(await bottleneck.currentReservoir()).toBe(1);
    expect(await bottleneck.incrementReservoir(-1)).toBe(0);
    expect(takeFrom(bottleneck)).toBe(-1);
    expect(await bottleneck.currentReservoir()).toBe(-1);
    // A limiter on another datastore goes through the public call.
    const redisShaped = Object.assign(Object.create(bottleneck) as Bottleneck, { datastore: 'ioredis' });
    const viaPublic = takeFrom(redisShaped);
    expect(viaPublic).toBeInstanceOf(Promise);
    expect(await viaPublic).toBe(-2);
    await group.deleteKey('k');
    stopGroupTimer(group);
  });

  it('drops limiters whose window ended, and no others', async () => {
    const l = limiter();
    await l.take('short', 5, 1);
    await l.take('long', 5, 60);
    expect(l.size).toBe(2);
    l.sweep(Date.now() + 1_001);
    expect(l.size).toBe(1);
    expect((await l.peek('long', 5, 60)).remaining).toBe(4);
  });
});
