import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKey } from '../../src/keys/key-material.js';
import { RedisLimiter } from '../../src/throttle/redis-limiter.js';
import { redisAnswers, TEST_REDIS_URL } from '../helpers/scale.js';
import { createKey, startTestServer } from '../helpers/server.js';

const REDIS_URL = TEST_REDIS_URL;

const available = await redisAnswers(REDIS_URL);
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
  it('counts on this instance when failing open, refuses when failing closed, and reports itself unhealthy', async () => {
    const limiter = new RedisLimiter({ url: 'redis://127.0.0.1:1', prefix: 'unreachable:', timeoutMs: 200 });
    try {
      expect(limiter.healthy()).toBe(false);
      expect(await limiter.ready(100)).toBe(false);
      const open = [];
      for (let i = 0; i < 6; i++) open.push(await limiter.take('key:x', 5, 60, { failOpen: true }));
      expect(open.map((r) => r.allowed)).toEqual([true, true, true, true, true, false]);
      expect(open.every((r) => r.degraded)).toBe(true);

      const closed = await limiter.take('ip:y', 2, 60, { failOpen: false });
      expect(closed).toMatchObject({ allowed: false, degraded: true });
      expect(closed.retryAfterMs).toBeGreaterThan(0);
      // Refused takes still count here, so the check before a key lookup can close the door.
      expect(await limiter.peek('ip:y', 2, 60)).toMatchObject({ allowed: true, remaining: 1, degraded: true });
      await limiter.take('ip:y', 2, 60, { failOpen: false });
      expect(await limiter.peek('ip:y', 2, 60)).toMatchObject({ allowed: false, degraded: true });
    } finally {
      await limiter.close();
    }
  });
});

describe.skipIf(!available)('keyring with REDIS_URL', () => {
  it('shares the per-address count between two instances with the same prefix', async () => {
    const env = { REDIS_URL, REDIS_PREFIX: `keyring-test-${randomUUID()}:`, IP_RATE_LIMIT: '3', IP_RATE_WINDOW_SECONDS: '60' };
    const a = await startTestServer({ env });
    const b = await startTestServer({ env });
    try {
      expect(((await (await fetch(`${a.url}/readyz`)).json()) as { limiter: boolean }).limiter).toBe(true);
      // Before the address runs out: an address out of failures has its unknown keys refused unread.
      const key = await createKey(a, { merchantId: 'm_r', rateLimit: { limit: 2, windowSeconds: 60 } });
      expect((await a.gql('{ viewer { keyId } }', {}, key.secret)).headers.get('ratelimit-remaining')).toBe('1');
      expect((await a.gql('{ __typename }', {}, null)).status).toBe(200);
      expect((await a.gql('{ __typename }', {}, null)).status).toBe(200);
      const third = await b.gql('{ __typename }', {}, null);
      expect(third.status).toBe(200);
      expect(third.headers.get('ratelimit-remaining')).toBe('0');
      const refused = await b.gql('{ __typename }', {}, null);
      expect(refused.status).toBe(429);
      expect(refused.body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
      expect((await a.gql('{ __typename }', {}, null)).status).toBe(429);
      // A key has its own count, in the same shared store, whatever its address did.
      const own = await a.gql('{ viewer { keyId } }', {}, key.secret);
      expect(own.status).toBe(200);
      expect(own.headers.get('ratelimit-remaining')).toBe('0');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('keyring with an unreachable REDIS_URL', () => {
  it('serves valid keys (fail open), refuses callers without one (fail closed), still slows guessing, and says so in /readyz', async () => {
    const server = await startTestServer({ env: { REDIS_URL: 'redis://127.0.0.1:1', IP_RATE_LIMIT: '3' } });
    try {
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Record<string, unknown>;
      expect(ready).toMatchObject({ status: 'ready', database: true, limiter: false });
      const served = await server.gql('{ viewer { keyId } }');
      expect(served.status).toBe(200);
      const key = await createKey(server, { merchantId: 'm_out' });
      expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);

      const anonymous = await server.gql('{ __typename }', {}, null);
      expect(anonymous.status).toBe(429);
      expect(Number(anonymous.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const check = vi.spyOn(server.app.services.authenticator, 'check');
      for (let i = 0; i < 3; i++) expect((await server.gql('{ viewer { keyId } }', {}, generateKey('SECRET', 'LIVE'))).status).toBe(429);
      expect(check.mock.calls.length).toBeLessThanOrEqual(2);
      check.mockRestore();
      // Keys this instance knows are still served.
      expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
