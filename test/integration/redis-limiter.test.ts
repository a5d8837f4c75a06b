import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLimiter } from '../../src/throttle/redis-limiter.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when something answers PING at the test Redis. */
async function redisAnswers(): Promise<boolean> {
  const { hostname, port } = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname, () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

const available = await redisAnswers();
if (!available) {
  if (process.env.CI) throw new Error(`Redis does not answer at ${REDIS_URL}, and CI is set: the shared limiter must be tested there.`);
  console.warn(`[redis-limiter.test] SKIPPED: no Redis answers at ${REDIS_URL}; the shared limiter was not tested.`);
}

const waitReady = async (limiter: RedisLimiter) => {
  for (let i = 0; i < 100 && !limiter.healthy(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(limiter.healthy()).toBe(true);
};

describe.skipIf(!available)('RedisLimiter (Bottleneck ioredis datastore)', () => {
  // A fresh prefix per run: two instances of one deployment, sharing nothing with other runs.
  const prefix = `keyring-test-${randomUUID()}:`;
  let a: RedisLimiter;
  let b: RedisLimiter;

  beforeAll(async () => {
    a = new RedisLimiter({ url: REDIS_URL, prefix });
    b = new RedisLimiter({ url: REDIS_URL, prefix });
    await Promise.all([waitReady(a), waitReady(b)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('shares one count between two instances: 20 + 10 = 30 allowed, then refused on both', async () => {
    const onA = await Promise.all(Array.from({ length: 20 }, () => a.take('key:shared', 30, 60)));
    const onB = await Promise.all(Array.from({ length: 10 }, () => b.take('key:shared', 30, 60)));
    expect([...onA, ...onB].every((r) => r.allowed && !r.degraded)).toBe(true);
    expect(Math.min(...[...onA, ...onB].map((r) => r.remaining))).toBe(0);
    const refusedA = await a.take('key:shared', 30, 60);
    const refusedB = await b.take('key:shared', 30, 60);
    expect(refusedA).toMatchObject({ allowed: false, remaining: 0 });
    expect(refusedB).toMatchObject({ allowed: false, remaining: 0 });
    expect(refusedA.retryAfterMs).toBeGreaterThan(55_000);
    // Both instances see the same window.
    expect(Math.abs(refusedA.resetAt.getTime() - refusedB.resetAt.getTime())).toBeLessThan(5);
    expect(await b.peek('key:shared', 30, 60)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('gives exactly the limit to 50 concurrent takers spread over two instances', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).take('key:hot', 30, 60)));
    expect(results.filter((r) => r.allowed)).toHaveLength(30);
  });

  it('ends a window exactly: refused just before, served right after, and the new window counts fully', async () => {
    const first = await a.take('key:window', 3, 1);
    await b.take('key:window', 3, 1);
    await a.take('key:window', 3, 1);
    const end = first.resetAt.getTime();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, end - 150 - Date.now())));
    expect((await b.take('key:window', 3, 1)).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, end + 10 - Date.now())));
    const next = await Promise.all(Array.from({ length: 4 }, (_, i) => (i % 2 ? a : b).take('key:window', 3, 1)));
    expect(next.filter((r) => r.allowed)).toHaveLength(3);
  });

  it('keeps a separate count per limit, so a changed limit starts fresh', async () => {
    for (let i = 0; i < 2; i++) await a.take('key:changed', 2, 60);
    expect((await a.take('key:changed', 2, 60)).allowed).toBe(false);
    expect(await b.take('key:changed', 5, 60)).toMatchObject({ allowed: true, remaining: 4 });
  });
});

describe('RedisLimiter without a reachable Redis', () => {
  it('answers by the fail-open policy and reports itself unhealthy', async () => {
    const limiter = new RedisLimiter({ url: 'redis://127.0.0.1:1', prefix: 'unreachable:', timeoutMs: 200 });
    try {
      expect(limiter.healthy()).toBe(false);
      expect(await limiter.take('key:x', 5, 60, { failOpen: true })).toMatchObject({ allowed: true, degraded: true });
      const closed = await limiter.take('ip:x', 5, 60, { failOpen: false });
      expect(closed).toMatchObject({ allowed: false, degraded: true });
      expect(closed.retryAfterMs).toBeGreaterThan(0);
    } finally {
      await limiter.close();
    }
  });
});
