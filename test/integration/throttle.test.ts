import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { createKey, startTestServer, type GqlResult, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId rateLimit { limit remaining resetAt } } }';
const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

async function events(server: TestServer, where: Record<string, unknown>) {
  await server.app.services.ledger.flush();
  return server.app.services.db.fork().find(AuditEventEntity, where, { orderBy: { id: 'asc' } });
}

/** Refusals the rows stand for: a folded refusal's summary (contract §9.5) counts metadata.count. */
async function refusalsRecorded(server: TestServer, where: Record<string, unknown>): Promise<{ rows: AuditEventEntity[]; refusals: number }> {
  server.app.services.ledger.closeRefusalWindows();
  const rows = await events(server, where);
  const refusals = rows.reduce((sum, row) => sum + (row.metadata?.summary === true ? (row.metadata.count as number) : 1), 0);
  return { rows, refusals };
}

function expectRefused(result: GqlResult<unknown>) {
  expect(result.status).toBe(429);
  const retryAfter = Number(result.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  const error = result.body.errors?.[0];
  expect(error?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter });
  expect(error?.message).toMatch(/retry/i);
  return retryAfter;
}

describe('throttling per key', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '1000', IP_RATE_WINDOW_SECONDS: '60' } });
  });
  afterAll(() => server?.stop());

  it('serves 30 requests in a window, refuses the 31st with 429, Retry-After and an event, serves the first after', async () => {
    const key = await createKey(server, { merchantId: 'm_t', rateLimit: { limit: 30, windowSeconds: 2 } });
    const served: GqlResult<any>[] = [];
    for (let i = 0; i < 30; i++) served.push(await server.gql(VIEWER, {}, key.secret));
    expect(served.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(served.map((r) => Number(r.headers.get('ratelimit-remaining')))).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i));

    const refused = await server.gql(VIEWER, {}, key.secret);
    const retryAfter = expectRefused(refused);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    const recorded = await events(server, { type: 'RATE_LIMITED', keyId: key.id });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ merchantId: 'm_t', reason: 'key rate limit', ip: '127.0.0.1' });
    expect(recorded[0]!.requestId).toBe(refused.headers.get('x-request-id'));

    // Neither more nor less than the window: still refused just before its end, served just after.
    const end = new Date(served[0]!.body.data.viewer.rateLimit.resetAt).getTime();
    await sleepUntil(end - 200);
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(429);
    await sleepUntil(end + 20);
    const next = await server.gql(VIEWER, {}, key.secret);
    expect(next.status).toBe(200);
    expect(next.body.data.viewer.rateLimit.remaining).toBe(29);
  });

  it('keeps keys independent, and holds a per-key custom limit', async () => {
    const five = await createKey(server, { merchantId: 'm_t', rateLimit: { limit: 5, windowSeconds: 60 } });
    const other = await createKey(server, { merchantId: 'm_t', rateLimit: { limit: 5, windowSeconds: 60 } });
    for (let i = 0; i < 5; i++) expect((await server.gql(VIEWER, {}, five.secret)).status).toBe(200);
    expectRefused(await server.gql(VIEWER, {}, five.secret));
    const served = await server.gql(VIEWER, {}, other.secret);
    expect(served.status).toBe(200);
    expect(served.headers.get('ratelimit-limit')).toBe('5');
    expect(served.headers.get('ratelimit-remaining')).toBe('4');
  });

  it('sends RateLimit headers that agree with viewer.rateLimit', async () => {
    const key = await createKey(server, { merchantId: 'm_t', rateLimit: { limit: 10, windowSeconds: 30 } });
    await server.gql(VIEWER, {}, key.secret);
    const result = await server.gql(VIEWER, {}, key.secret);
    const figures = result.body.data.viewer.rateLimit;
    expect(figures.limit).toBe(10);
    expect(figures.remaining).toBe(8);
    expect(result.headers.get('ratelimit-limit')).toBe(String(figures.limit));
    expect(result.headers.get('ratelimit-remaining')).toBe(String(figures.remaining));
    const reset = Number(result.headers.get('ratelimit-reset'));
    expect(Math.abs(reset - (new Date(figures.resetAt).getTime() - Date.now()) / 1000)).toBeLessThanOrEqual(1);
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(30);
    expect(result.headers.get('retry-after')).toBeNull();
  });

  it('gives exactly the limit to 50 concurrent clients on one key', async () => {
    const key = await createKey(server, { merchantId: 'm_t', rateLimit: { limit: 30, windowSeconds: 60 } });
    const results = await Promise.all(Array.from({ length: 50 }, () => server.gql('{ viewer { keyId } }', {}, key.secret)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(30);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
    // Every refusal is accounted for, in one row and one summary (one address, one reason, one key).
    const { rows, refusals } = await refusalsRecorded(server, { type: 'RATE_LIMITED', keyId: key.id });
    expect(refusals).toBe(20);
    expect(rows).toHaveLength(2);
  });

  it('uses the default limit for a key created without one', async () => {
    const limited = await startTestServer({ env: { RATE_LIMIT: '3', RATE_WINDOW_SECONDS: '60' } });
    try {
      const key = await createKey(limited, { merchantId: 'm_d' }, limited.adminKey);
      for (let i = 0; i < 3; i++) expect((await limited.gql(VIEWER, {}, key.secret)).status).toBe(200);
      expectRefused(await limited.gql(VIEWER, {}, key.secret));
    } finally {
      await limited.stop();
    }
  });
});

describe('throttling without a valid key, per client address', () => {
  let server: TestServer;
  let known: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '5', IP_RATE_WINDOW_SECONDS: '60' } });
    known = (await createKey(server, { merchantId: 'm_ip', scopes: ['keys:read'] })).secret;
    expect((await server.gql(VIEWER, {}, known)).status).toBe(200); // now cached
  });
  afterAll(() => server?.stop());

  it('answers guesses 401 until the address is over its limit, then 429 without looking keys up', async () => {
    const check = vi.spyOn(server.app.services.authenticator, 'check');
    const guesses: GqlResult<unknown>[] = [];
    for (let i = 0; i < 5; i++) guesses.push(await server.gql(VIEWER, {}, generateKey('SECRET', 'LIVE')));
    expect(guesses.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    expect(guesses.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0']);
    expect(check).toHaveBeenCalledTimes(5);

    expectRefused(await server.gql(VIEWER, {}, generateKey('SECRET', 'LIVE')));
    expectRefused(await server.gql(VIEWER, {}, 'sk_live_garbage'));
    expectRefused(await server.gql('{ __typename }', {}, null));
    expect(check).toHaveBeenCalledTimes(5);
    const { rows: recorded, refusals } = await refusalsRecorded(server, { type: 'RATE_LIMITED', keyId: null });
    expect(refusals).toBeGreaterThanOrEqual(3);
    expect(recorded[0]).toMatchObject({ reason: 'address rate limit', ip: '127.0.0.1' });
    check.mockRestore();
  });

  it('still serves a known key from that address, on its own limit', async () => {
    const result = await server.gql(VIEWER, {}, known);
    expect(result.status).toBe(200);
    expect(result.body.data.viewer.rateLimit.limit).toBe(100000);
  });
});

describe('throttling counts requests without a key', () => {
  it('counts introspection and missing keys against the address', async () => {
    const server = await startTestServer({ env: { IP_RATE_LIMIT: '2', IP_RATE_WINDOW_SECONDS: '60' } });
    try {
      const first = await server.gql('{ __typename }', {}, null);
      expect(first.status).toBe(200);
      expect(first.headers.get('ratelimit-limit')).toBe('2');
      expect((await server.gql(VIEWER, {}, null)).status).toBe(401);
      expectRefused(await server.gql('{ __typename }', {}, null));
    } finally {
      await server.stop();
    }
  });
});
