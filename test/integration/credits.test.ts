import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concurrently, eventCount, GRANT, KEY_CREDITS, storedCredits, verifyCost } from '../helpers/credits.js';
import { openFeed } from '../helpers/feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId credits { remaining nextRefillAt } } }';
const UPDATE_CREDITS = 'mutation($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { id credits { remaining refill { amount interval anchorDay } nextRefillAt } } }';

/** Usage credits on one instance (SQLite), with a clock the test moves. */
describe('usage credits', () => {
  let server: TestServer;
  let clock = Date.UTC(2026, 11, 2, 12, 0, 0);

  beforeAll(async () => {
    server = await startTestServer({ now: () => clock });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves exactly 100 verifications of 100 credits to 50 concurrent clients, and records each refusal', async () => {
    const key = await createKey(server, { name: 'hundred', credits: { remaining: 100 } });
    const results = await concurrently(50, 160, () => verifyCost(server, key.secret));
    expect(results.filter((r) => r.code === 'VALID')).toHaveLength(100);
    expect(results.filter((r) => r.code === 'USAGE_EXCEEDED')).toHaveLength(60);
    expect(results.find((r) => r.code === 'USAGE_EXCEEDED')).toEqual({ valid: false, code: 'USAGE_EXCEEDED', credits: 0 });
    expect(await eventCount(server, key.id, 'USAGE_EXCEEDED')).toBe(60);
    expect(await eventCount(server, key.id, 'KEY_USED')).toBe(100);
    expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 0 });
    const read = await server.gql(KEY_CREDITS, { id: key.id });
    expect(read.body.data.apiKey.credits).toEqual({ remaining: 0, nextRefillAt: null, refill: null });
  });

  it('serves exactly 100 of the key’s own requests from 50 concurrent clients; the rest get 429 USAGE_EXCEEDED without Retry-After', async () => {
    const key = await createKey(server, { name: 'own', credits: { remaining: 100 } });
    const results = await concurrently(50, 130, () => server.gql(VIEWER, {}, key.secret));
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(served).toHaveLength(100);
    expect(refused).toHaveLength(30);
    expect(refused[0]!.body.errors![0]!.extensions.code).toBe('USAGE_EXCEEDED');
    expect(refused[0]!.headers.get('retry-after')).toBeNull();
    expect(Math.min(...served.map((r) => r.body.data.viewer.credits.remaining))).toBe(0);
    expect(await eventCount(server, key.id, 'USAGE_EXCEEDED')).toBe(30);
    expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 0 });
  });

  it('spends one credit per WebSocket subscribe and refuses the next one with USAGE_EXCEEDED, the socket staying open', async () => {
    const key = await createKey(server, { name: 'socket', scopes: ['audit:read'], credits: { remaining: 2 } });
    const first = openFeed(server, key.secret);
    await waitFor(() => server.app.services.feed.stats.opened > 0 && first.errors.length === 0);
    const second = openFeed(server, key.secret);
    const third = openFeed(server, key.secret);
    try {
      await waitFor(() => second.errors.length + third.errors.length > 0);
      const refused = [...second.errors, ...third.errors];
      expect(refused).toHaveLength(1);
      expect(refused[0]!.extensions).toMatchObject({ code: 'USAGE_EXCEEDED' });
      expect(refused[0]!.extensions!.retryAfter).toBeUndefined();
      expect(first.closeCode).toBeNull();
      expect(await eventCount(server, key.id, 'USAGE_EXCEEDED')).toBe(1);
      expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 0 });
    } finally {
      await Promise.all([first.dispose(), second.dispose(), third.dispose()]);
    }
  });

  it('spends the cost: 7 on 20 credits serves twice, then refuses and spends nothing; 0 only checks', async () => {
    const key = await createKey(server, { name: 'cost', credits: { remaining: 20 } });
    expect(await verifyCost(server, key.secret, 7)).toEqual({ valid: true, code: 'VALID', credits: 13 });
    expect(await verifyCost(server, key.secret, 7)).toEqual({ valid: true, code: 'VALID', credits: 6 });
    expect(await verifyCost(server, key.secret, 7)).toEqual({ valid: false, code: 'USAGE_EXCEEDED', credits: 6 });
    expect(await verifyCost(server, key.secret, 0)).toEqual({ valid: true, code: 'VALID', credits: 6 });
    expect(await verifyCost(server, key.secret, 6)).toEqual({ valid: true, code: 'VALID', credits: 0 });
    expect(await verifyCost(server, key.secret, 0)).toEqual({ valid: true, code: 'VALID', credits: 0 });
    expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 0 });
    // A key without credits is unlimited: credits null.
    const plain = await createKey(server, { name: 'plain' });
    expect(await verifyCost(server, plain.secret, 1000)).toEqual({ valid: true, code: 'VALID', credits: null });
  });

  it('spends nothing on a call refused earlier in the order (scopes, rate limit)', async () => {
    const key = await createKey(server, { name: 'order', credits: { remaining: 5 }, rateLimit: { limit: 2, windowSeconds: 3600 } });
    const scoped = await server.gql('query($key: String!) { verifyKey(key: $key, requiredScopes: ["keys:read"], cost: 3) { code credits rateLimit { remaining } } }', { key: key.secret });
    // Scopes come before the rate limit: nothing counted, nothing spent.
    expect(scoped.body.data.verifyKey).toEqual({ code: 'INSUFFICIENT_SCOPE', credits: null, rateLimit: null });
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'VALID', credits: 4 });
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'VALID', credits: 3 });
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'RATE_LIMITED', credits: null });
    const read = await server.gql(KEY_CREDITS, { id: key.id });
    expect(read.body.data.apiKey.credits.remaining).toBe(3);
    expect(await eventCount(server, key.id, 'USAGE_EXCEEDED')).toBe(0);
  });

  it('refills DAILY at 00:00 UTC by setting remaining to the amount (not adding), with Retry-After until then', async () => {
    clock = Date.UTC(2026, 11, 2, 23, 59, 0);
    const key = await createKey(server, { name: 'daily', credits: { remaining: 3, refill: { amount: 5, interval: 'DAILY' } } });
    const before = await server.gql(KEY_CREDITS, { id: key.id });
    expect(before.body.data.apiKey.credits).toEqual({ remaining: 3, nextRefillAt: '2026-12-03T00:00:00.000Z', refill: { amount: 5, interval: 'DAILY', anchorDay: null } });
    expect(await verifyCost(server, key.secret, 2)).toMatchObject({ code: 'VALID', credits: 1 });
    const own = await server.gql(VIEWER, {}, key.secret);
    expect(own.status).toBe(200);
    const refused = await server.gql(VIEWER, {}, key.secret);
    expect(refused.status).toBe(429);
    expect(refused.body.errors![0]!.extensions).toMatchObject({ code: 'USAGE_EXCEEDED', retryAfter: 60 });
    expect(refused.headers.get('retry-after')).toBe('60');

    clock = Date.UTC(2026, 11, 3, 0, 0, 0);
    const after = await server.gql(KEY_CREDITS, { id: key.id });
    expect(after.body.data.apiKey.credits).toMatchObject({ remaining: 5, nextRefillAt: '2026-12-04T00:00:00.000Z' });
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'VALID', credits: 4 });
    expect(await storedCredits(server, key.id)).toEqual({ remaining: 4, period: Math.floor(clock / 86_400_000) });
    // A day later with 4 left: the refill sets 5, it does not add to 9.
    clock = Date.UTC(2026, 11, 4, 0, 0, 1);
    expect(await verifyCost(server, key.secret, 0)).toMatchObject({ code: 'VALID', credits: 5 });
  });

  it('refills MONTHLY on anchorDay 31 on the last day of a 30-day month', async () => {
    clock = Date.UTC(2027, 3, 29, 12, 0, 0); // 29 April 2027; April has 30 days
    const key = await createKey(server, { name: 'monthly', credits: { remaining: 10, refill: { amount: 50, interval: 'MONTHLY', anchorDay: 31 } } });
    const read = await server.gql(KEY_CREDITS, { id: key.id });
    expect(read.body.data.apiKey.credits).toMatchObject({ remaining: 10, nextRefillAt: '2027-04-30T00:00:00.000Z', refill: { amount: 50, interval: 'MONTHLY', anchorDay: 31 } });
    expect(await verifyCost(server, key.secret, 10)).toMatchObject({ code: 'VALID', credits: 0 });
    clock = Date.UTC(2027, 3, 29, 23, 59, 59);
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'USAGE_EXCEEDED', credits: 0 });
    clock = Date.UTC(2027, 3, 30, 0, 0, 0);
    expect(await verifyCost(server, key.secret, 1)).toMatchObject({ code: 'VALID', credits: 49 });
    const next = await server.gql(KEY_CREDITS, { id: key.id });
    expect(next.body.data.apiKey.credits).toMatchObject({ remaining: 49, nextRefillAt: '2027-05-31T00:00:00.000Z' });
    clock = Date.UTC(2027, 4, 31, 0, 0, 0);
    expect(await verifyCost(server, key.secret, 0)).toMatchObject({ code: 'VALID', credits: 50 });
  });

  it('grantCredits under concurrent spending adds exactly, with a KEY_UPDATED event per grant', async () => {
    clock = Date.UTC(2026, 11, 2, 12, 0, 0);
    const key = await createKey(server, { name: 'grant', credits: { remaining: 1000 } });
    const [spends, grants] = await Promise.all([
      concurrently(50, 400, () => verifyCost(server, key.secret, 1)),
      concurrently(5, 10, () => server.gql(GRANT, { id: key.id, amount: 100, reason: 'top-up' })),
    ]);
    expect(spends.every((r) => r.code === 'VALID')).toBe(true);
    expect(grants.every((r) => r.body.data?.grantCredits)).toBe(true);
    const read = await server.gql(KEY_CREDITS, { id: key.id });
    expect(read.body.data.apiKey.credits.remaining).toBe(1000 - 400 + 1000);
    expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 1600 });
    expect(await eventCount(server, key.id, 'KEY_UPDATED')).toBe(10);
    const events = await server.gql('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 1) { edges { node { reason metadata } } } }', {
      f: { keyId: key.id, types: ['KEY_UPDATED'] },
    });
    expect(events.body.data.auditEvents.edges[0].node).toMatchObject({ reason: 'top-up', metadata: { changed: ['credits'], granted: 100 } });
  });

  it('rotating a key with credits carries its credits over: rotation is no way out of them', async () => {
    clock = Date.UTC(2026, 11, 2, 12, 0, 0);
    const key = await createKey(server, { name: 'rotated', credits: { remaining: 9, refill: { amount: 9, interval: 'MONTHLY', anchorDay: 15 } } });
    expect(await verifyCost(server, key.secret, 4)).toMatchObject({ code: 'VALID', credits: 5 });
    await server.app.services.ledger.flush();
    const rotated = await server.gql('mutation($id: ID!) { rotateKey(id: $id) { key { id credits { remaining refill { amount interval anchorDay } nextRefillAt } } } }', { id: key.id });
    expect(rotated.body.data.rotateKey.key.credits).toEqual({ remaining: 5, refill: { amount: 9, interval: 'MONTHLY', anchorDay: 15 }, nextRefillAt: '2026-12-15T00:00:00.000Z' });
  });

  it('updateKey sets credits anew (the live count too): then exactly that many are served; null makes the key unlimited', async () => {
    clock = Date.UTC(2026, 11, 2, 12, 0, 0);
    const key = await createKey(server, { name: 'updated credits', credits: { remaining: 3 } });
    expect(await verifyCost(server, key.secret, 2)).toMatchObject({ code: 'VALID', credits: 1 });
    await server.app.services.ledger.flush();
    const set = await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: { remaining: 40, refill: { amount: 50, interval: 'DAILY' } } } });
    expect(set.body.errors).toBeUndefined();
    expect(set.body.data.updateKey.credits).toEqual({ remaining: 40, refill: { amount: 50, interval: 'DAILY', anchorDay: null }, nextRefillAt: '2026-12-03T00:00:00.000Z' });
    const results = await concurrently(20, 60, () => verifyCost(server, key.secret));
    expect(results.filter((r) => r.code === 'VALID')).toHaveLength(40);
    expect(results.filter((r) => r.code === 'USAGE_EXCEEDED')).toHaveLength(20);
    expect(await storedCredits(server, key.id)).toMatchObject({ remaining: 0 });
    // Setting the same figures again is still a change: the live count is set back to them.
    expect((await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: { remaining: 40, refill: { amount: 50, interval: 'DAILY' } } } })).body.errors).toBeUndefined();
    expect(await verifyCost(server, key.secret, 40)).toMatchObject({ code: 'VALID', credits: 0 });
    const cleared = await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: null } });
    expect(cleared.body.data.updateKey.credits).toBeNull();
    expect(await verifyCost(server, key.secret, 1000)).toEqual({ valid: true, code: 'VALID', credits: null });
    expect(await storedCredits(server, key.id)).toEqual({ remaining: null, period: null });
    // Unlimited again: null changes nothing, and leaves no event.
    expect((await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: null } })).body.errors).toBeUndefined();
    await server.app.services.ledger.flush();
    const events = await server.gql('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 10) { edges { node { metadata } } } }', { f: { keyId: key.id, types: ['KEY_UPDATED'] } });
    expect(events.body.data.auditEvents.edges.map((edge: { node: { metadata: { changed: string[] } } }) => edge.node.metadata.changed).reverse()).toEqual([['credits'], ['credits'], ['credits']]);
    const bad = await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: { remaining: -1, refill: { amount: 0, interval: 'DAILY', anchorDay: 3 } } } });
    expect(bad.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['input.credits.remaining', 'input.credits.refill.amount', 'input.credits.refill.anchorDay'] });
    expect(await verifyCost(server, key.secret, 5)).toEqual({ valid: true, code: 'VALID', credits: null });
  });

  it('CREDITS_LOW once per refill period: 95 spends of 100 leave one, at the 90th; after a refill, one more', async () => {
    clock = Date.UTC(2026, 11, 5, 12, 0, 0);
    const key = await createKey(server, { merchantId: 'm_low', name: 'low', credits: { remaining: 100, refill: { amount: 100, interval: 'DAILY' } } });
    for (let i = 1; i <= 89; i++) await verifyCost(server, key.secret);
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(0);
    expect(await verifyCost(server, key.secret)).toMatchObject({ code: 'VALID', credits: 10 });
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 1);
    await concurrently(5, 5, () => verifyCost(server, key.secret));
    const low = await server.gql('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 10) { totalCount edges { node { type keyId merchantId metadata } } } }', {
      f: { keyId: key.id, types: ['CREDITS_LOW'] },
    });
    expect(low.body.data.auditEvents.totalCount).toBe(1);
    expect(low.body.data.auditEvents.edges[0].node).toEqual({ type: 'CREDITS_LOW', keyId: key.id, merchantId: 'm_low', metadata: { remaining: 10, granted: 100 } });
    // A grant takes the count back over the line: crossing it again in the same period sends nothing.
    expect((await server.gql(GRANT, { id: key.id, amount: 10 })).body.errors).toBeUndefined();
    expect(await verifyCost(server, key.secret, 6)).toMatchObject({ code: 'VALID', credits: 9 });
    await server.app.services.ledger.flush();
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(1);
    // A new period: refilled to 100, and low again at the 90th spend.
    clock = Date.UTC(2026, 11, 6, 0, 0, 1);
    for (let i = 1; i <= 90; i++) await verifyCost(server, key.secret);
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 2);
    await concurrently(3, 10, () => verifyCost(server, key.secret));
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(2);
  });

  it('CREDITS_LOW without a refill: once per grant, measured against what the key was given; grantCredits and updateKey each re-arm it', async () => {
    const key = await createKey(server, { merchantId: 'm_low', name: 'low once', credits: { remaining: 20 } });
    const lows = async () =>
      (
        await server.gql('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 10) { edges { node { type keyId merchantId metadata } } } }', {
          f: { keyId: key.id, types: ['CREDITS_LOW'] },
        })
      ).body.data.auditEvents.edges.map((edge: { node: { metadata: unknown } }) => edge.node.metadata).reverse();
    for (let i = 1; i <= 17; i++) await verifyCost(server, key.secret);
    expect(await verifyCost(server, key.secret, 0)).toMatchObject({ code: 'VALID', credits: 3 });
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(0);
    // 3 → 2 crosses 10 % of 20.
    expect(await verifyCost(server, key.secret)).toMatchObject({ code: 'VALID', credits: 2 });
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 1);
    await concurrently(3, 3, () => verifyCost(server, key.secret));
    await server.app.services.ledger.flush();
    expect(await lows()).toEqual([{ remaining: 2, granted: 20 }]);

    // A grant of 30 to a spent key: a new grant of 30, low again at 3.
    expect((await server.gql(GRANT, { id: key.id, amount: 30 })).body.data.grantCredits.credits.remaining).toBe(30);
    for (let i = 1; i <= 26; i++) await verifyCost(server, key.secret);
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(1);
    expect(await verifyCost(server, key.secret)).toMatchObject({ code: 'VALID', credits: 3 });
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 2);
    // A smaller grant that does not lift it over the line is still a new grant (of 4; the line 0.4): one more when it crosses that.
    expect((await server.gql(GRANT, { id: key.id, amount: 1 })).body.errors).toBeUndefined();
    for (let i = 1; i <= 3; i++) await verifyCost(server, key.secret);
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(2);
    expect(await verifyCost(server, key.secret)).toMatchObject({ code: 'VALID', credits: 0 });
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 3);

    // updateKey setting credits is a grant too.
    expect((await server.gql(UPDATE_CREDITS, { id: key.id, input: { credits: { remaining: 50 } } })).body.errors).toBeUndefined();
    expect(await verifyCost(server, key.secret, 44)).toMatchObject({ code: 'VALID', credits: 6 });
    expect(await eventCount(server, key.id, 'CREDITS_LOW')).toBe(3);
    expect(await verifyCost(server, key.secret, 2)).toMatchObject({ code: 'VALID', credits: 4 });
    await waitFor(async () => (await eventCount(server, key.id, 'CREDITS_LOW')) === 4);
    await concurrently(2, 4, () => verifyCost(server, key.secret));
    await server.app.services.ledger.flush();
    expect(await lows()).toEqual([
      { remaining: 2, granted: 20 },
      { remaining: 3, granted: 30 },
      { remaining: 0, granted: 4 },
      { remaining: 4, granted: 50 },
    ]);
  });

  it('refuses bad credits, costs and grants with BAD_USER_INPUT naming every field, and changes nothing', async () => {
    const bad = await server.gql('mutation($input: CreateKeyInput!) { createKey(input: $input) { key { id } } }', {
      input: { name: 'bad', type: 'SECRET', scopes: [], credits: { remaining: 1_000_000_001, refill: { amount: -1, interval: 'MONTHLY', anchorDay: 32 } } },
    });
    expect(bad.body.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: ['input.credits.remaining', 'input.credits.refill.amount', 'input.credits.refill.anchorDay'],
    });
    const key = await createKey(server, { name: 'inputs', credits: { remaining: 5 } });
    for (const cost of [-1, 1001]) {
      const result = await server.gql('query($key: String!, $cost: Int) { verifyKey(key: $key, cost: $cost) { code } }', { key: key.secret, cost });
      expect(result.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['cost'] });
    }
    for (const amount of [0, -5, 1_000_000_001]) {
      const result = await server.gql(GRANT, { id: key.id, amount });
      expect(result.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['amount'] });
    }
    const over = await server.gql(GRANT, { id: key.id, amount: 1_000_000_000 });
    expect(over.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['amount'] });
    const unlimited = await createKey(server, { name: 'unlimited' });
    expect((await server.gql(GRANT, { id: unlimited.id, amount: 1 })).body.errors![0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect((await server.gql(GRANT, { id: 'key_nope', amount: 1 })).body.errors![0]!.extensions.code).toBe('NOT_FOUND');
    expect((await server.gql(KEY_CREDITS, { id: key.id })).body.data.apiKey.credits.remaining).toBe(5);
    expect(await eventCount(server, key.id, 'KEY_UPDATED')).toBe(0);
  });

  it('keeps grantCredits within tenancy: another merchant’s key is FORBIDDEN, and keys:write is required', async () => {
    const target = await createKey(server, { merchantId: 'm_other', name: 'theirs', credits: { remaining: 1 } });
    const writer = await createKey(server, { merchantId: 'm_mine', name: 'writer', scopes: ['keys:write', 'keys:read'] });
    const reader = await createKey(server, { merchantId: 'm_other', name: 'reader', scopes: ['keys:read'] });
    expect((await server.gql(GRANT, { id: target.id, amount: 5 }, writer.secret)).body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    expect((await server.gql(GRANT, { id: target.id, amount: 5 }, reader.secret)).body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    expect((await server.gql(KEY_CREDITS, { id: target.id })).body.data.apiKey.credits.remaining).toBe(1);
  });
});
