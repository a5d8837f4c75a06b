import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Forward authentication (contract §9.4): /authz judges the presented key by verifyKey's own
 * decision, the key being its own caller, and answers with a status and headers only.
 */
interface Call {
  key?: string | null;
  header?: 'authorization' | 'x-api-key';
  query?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

async function authz(server: TestServer, call: Call = {}) {
  const headers: Record<string, string> = { ...call.headers };
  if (call.key) headers[call.header ?? 'authorization'] = (call.header ?? 'authorization') === 'authorization' ? `Bearer ${call.key}` : call.key;
  const res = await fetch(`${server.url}/authz${call.query ?? ''}`, { method: call.method ?? 'GET', headers, body: call.body });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, requestId: res.headers.get('x-request-id')! };
}

async function eventsOf(server: TestServer, requestId: string) {
  await server.app.services.ledger.flush();
  return server.app.services.db.fork().find(AuditEventEntity, { requestId }, { orderBy: { id: 'asc' } });
}

async function mutate(server: TestServer, verb: 'disableKey' | 'revokeKey', id: string) {
  const result = await server.gql(`mutation($id: ID!) { ${verb}(id: $id) { id } }`, { id });
  if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
}

describe('/authz behind a trusted proxy (TRUST_PROXY=loopback)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { KEYRING_SCOPES: 'orders:read,orders:write', TRUST_PROXY: 'loopback', AUDIT_REFUSAL_WINDOW_SECONDS: '0' } });
  });
  afterAll(() => server?.stop());
  const make = (input: Record<string, unknown> = {}) => createKey(server, { merchantId: 'm_gate', scopes: ['orders:read'], ...input });

  it('200: a valid key, with its id, merchant, scopes and limit figures, no body; KEY_USED by the key itself, as authz', async () => {
    const key = await make({ rateLimit: { limit: 7, windowSeconds: 60 } });
    const res = await authz(server, { key: key.secret, query: '?scopes=orders:read', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    expect(res.headers.get('x-keyring-key-id')).toBe(key.id);
    expect(res.headers.get('x-keyring-merchant-id')).toBe('m_gate');
    expect(res.headers.get('x-keyring-scopes')).toBe('orders:read');
    expect(res.headers.get('ratelimit-limit')).toBe('7');
    expect(res.headers.get('ratelimit-remaining')).toBe('6');
    const events = await eventsOf(server, res.requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'KEY_USED', keyId: key.id, actorKeyId: key.id, merchantId: 'm_gate', operationName: 'authz', ip: '203.0.113.9' });
    expect(events[0]!.metadata).toEqual({ via: 'authz' });
  });

  it('takes the key from X-Api-Key, any method, and the end client from X-Real-IP', async () => {
    const key = await make();
    for (const method of ['POST', 'HEAD', 'DELETE']) {
      const res = await authz(server, { key: key.secret, header: 'x-api-key', method, headers: { 'x-real-ip': '198.51.100.4' } });
      expect(res.status, method).toBe(200);
      expect((await eventsOf(server, res.requestId))[0]).toMatchObject({ type: 'KEY_USED', ip: '198.51.100.4' });
    }
  });

  it('serves Envoy’s path_prefix form (/authz followed by the original path); other paths are not /authz', async () => {
    const key = await make();
    const envoy = await fetch(`${server.url}/authz/orders/42?page=2`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect(envoy.status).toBe(200);
    expect(envoy.headers.get('x-keyring-key-id')).toBe(key.id);
    const other = await fetch(`${server.url}/authzx`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect(other.status).toBe(404);
  });

  it('401 for no, unusable, malformed, unknown, disabled, revoked and expired keys, each with its AUTH_FAILED', async () => {
    const disabled = await make();
    await mutate(server, 'disableKey', disabled.id);
    const revoked = await make();
    await authz(server, { key: revoked.secret }); // cached as ACTIVE first
    await mutate(server, 'revokeKey', revoked.id);
    const expiring = await make({ expiresAt: new Date(Date.now() + 1_000).toISOString() });
    expect((await authz(server, { key: expiring.secret })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const cases: Array<[string, Call, string, string | null]> = [
      ['none', { key: null }, 'MISSING', null],
      ['another scheme', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 'MALFORMED', null],
      ['malformed', { key: 'sk_live_nope' }, 'MALFORMED', null],
      ['unknown', { key: generateKey('SECRET', 'LIVE') }, 'NOT_FOUND', null],
      ['disabled', { key: disabled.secret }, 'DISABLED', disabled.id],
      ['revoked', { key: revoked.secret }, 'REVOKED', revoked.id],
      ['expired', { key: expiring.secret }, 'EXPIRED', expiring.id],
    ];
    for (const [label, call, reason, keyId] of cases) {
      const res = await authz(server, call);
      expect(res.status, label).toBe(401);
      expect(res.body, label).toBe('');
      expect(res.headers.get('www-authenticate'), label).toBe('Bearer');
      expect(res.headers.get('x-keyring-key-id'), label).toBeNull();
      const events = await eventsOf(server, res.requestId);
      expect(events.map((event) => [event.type, event.reason, event.keyId ?? null, event.operationName]), label).toEqual([['AUTH_FAILED', reason, keyId, 'authz']]);
    }
  });

  it('403 INSUFFICIENT_SCOPE with ACCESS_DENIED naming the missing scopes; admin implies every scope', async () => {
    const key = await make();
    const res = await authz(server, { key: key.secret, query: '?scopes=orders:read,orders:write' });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-keyring-code')).toBe('INSUFFICIENT_SCOPE');
    expect(res.headers.get('x-keyring-merchant-id')).toBeNull();
    const [denied] = await eventsOf(server, res.requestId);
    expect(denied).toMatchObject({ type: 'ACCESS_DENIED', keyId: key.id, actorKeyId: key.id, operationName: 'authz', reason: 'missing scope' });
    expect(denied!.metadata).toEqual({ via: 'authz', scopes: ['orders:write'] });
    // Repeated parameters add up.
    expect((await authz(server, { key: key.secret, query: '?scopes=orders:read&scopes=orders:write' })).status).toBe(403);
    expect((await authz(server, { key: server.adminKey, query: '?scopes=orders:read,orders:write' })).status).toBe(200);
  });

  it('429 RATE_LIMITED with Retry-After over the key’s own limit, with RATE_LIMITED for the key', async () => {
    const key = await make({ rateLimit: { limit: 2, windowSeconds: 60 } });
    expect((await authz(server, { key: key.secret })).status).toBe(200);
    expect((await authz(server, { key: key.secret })).status).toBe(200);
    const res = await authz(server, { key: key.secret });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-keyring-code')).toBe('RATE_LIMITED');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
    const [limited] = await eventsOf(server, res.requestId);
    expect(limited).toMatchObject({ type: 'RATE_LIMITED', keyId: key.id, actorKeyId: key.id, operationName: 'authz', reason: 'key rate limit' });
  });

  it('403 IP_NOT_ALLOWED for an end client (X-Forwarded-For from the trusted proxy) outside the key’s allowlist, spending nothing', async () => {
    const key = await make({ allowedIps: ['203.0.113.0/24', '2001:db8::/32'], credits: { remaining: 2 }, rateLimit: { limit: 5, windowSeconds: 60 } });
    const outside = await authz(server, { key: key.secret, headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(outside.status).toBe(403);
    expect(outside.headers.get('x-keyring-code')).toBe('IP_NOT_ALLOWED');
    expect(outside.headers.get('x-keyring-key-id')).toBeNull();
    expect(outside.body).toBe('');
    const [denied] = await eventsOf(server, outside.requestId);
    expect(denied).toMatchObject({ type: 'ACCESS_DENIED', keyId: key.id, actorKeyId: key.id, operationName: 'authz', reason: 'IP_NOT_ALLOWED', ip: '198.51.100.7' });
    // The proxy's own (loopback) address is not the client's: no forwarded address is outside too.
    expect((await authz(server, { key: key.secret })).headers.get('x-keyring-code')).toBe('IP_NOT_ALLOWED');
    const inside = await authz(server, { key: key.secret, headers: { 'x-forwarded-for': '203.0.113.200' } });
    expect(inside.status).toBe(200);
    // Refused before the rate limit and the credits: neither was counted.
    expect(inside.headers.get('ratelimit-remaining')).toBe('4');
    expect((await authz(server, { key: key.secret, headers: { 'x-real-ip': '2001:db8::1' } })).status).toBe(200);
    expect((await authz(server, { key: key.secret, headers: { 'x-forwarded-for': '203.0.113.1' } })).headers.get('x-keyring-code')).toBe('USAGE_EXCEEDED');
  });

  it('429 USAGE_EXCEEDED when credits run out: cost=N spends N, a refusal spends nothing, Retry-After only when a refill is due', async () => {
    const key = await make({ credits: { remaining: 10 } });
    expect((await authz(server, { key: key.secret, query: '?cost=7' })).status).toBe(200);
    const over = await authz(server, { key: key.secret, query: '?cost=4' });
    expect(over.status).toBe(429);
    expect(over.headers.get('x-keyring-code')).toBe('USAGE_EXCEEDED');
    expect(over.headers.get('retry-after')).toBeNull();
    expect(over.body).toBe('');
    const [exceeded] = await eventsOf(server, over.requestId);
    expect(exceeded).toMatchObject({ type: 'USAGE_EXCEEDED', keyId: key.id, actorKeyId: key.id, operationName: 'authz' });
    expect(exceeded!.metadata).toMatchObject({ cost: 4, remaining: 3 });
    // The refusal spent nothing: exactly the 3 left are served.
    expect((await authz(server, { key: key.secret, query: '?cost=3' })).status).toBe(200);
    expect((await authz(server, { key: key.secret, query: '?cost=0' })).status).toBe(200);
    expect((await authz(server, { key: key.secret })).status).toBe(429);
    const read = await server.gql('query($id: ID!) { apiKey(id: $id) { credits { remaining } } }', { id: key.id });
    expect(read.body.data.apiKey.credits.remaining).toBe(0);

    const refilled = await make({ credits: { remaining: 1, refill: { amount: 5, interval: 'DAILY' } } });
    expect((await authz(server, { key: refilled.secret })).status).toBe(200);
    const waiting = await authz(server, { key: refilled.secret });
    expect(waiting.status).toBe(429);
    expect(waiting.headers.get('x-keyring-code')).toBe('USAGE_EXCEEDED');
    const nextMidnight = Math.ceil((Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1) - Date.now()) / 1000);
    const retryAfter = Number(waiting.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(Math.abs(retryAfter - nextMidnight)).toBeLessThanOrEqual(5);
  });

  it('400 BAD_USER_INPUT for bad scopes or cost, counting nothing; cost 0 and 1,000 and 50 scopes pass', async () => {
    const key = await make();
    const scopes50 = `?scopes=${Array(50).fill('orders:read').join(',')}`;
    for (const query of ['?cost=0', '?cost=1000', scopes50]) expect((await authz(server, { key: key.secret, query })).status, query).toBe(200);
    const before = Number((await authz(server, { key: key.secret })).headers.get('ratelimit-remaining'));
    const bad = ['?scopes=nope', '?scopes=', '?scopes=orders:read,,orders:read', `${scopes50},orders:read`, '?cost=1001', '?cost=-1', '?cost=1.5', '?cost=abc', '?cost=', '?cost=1&cost=2', '?cost=99999999'];
    for (const query of bad) {
      const res = await authz(server, { key: key.secret, query });
      expect(res.status, query).toBe(400);
      expect(res.headers.get('x-keyring-code'), query).toBe('BAD_USER_INPUT');
      expect(res.body, query).toBe('');
      expect(await eventsOf(server, res.requestId), query).toEqual([]);
    }
    expect(Number((await authz(server, { key: key.secret })).headers.get('ratelimit-remaining'))).toBe(before - 1);
  });

  it('never reads the database for a key seen recently', async () => {
    const key = await make();
    const { authenticator } = server.app.services;
    expect((await authz(server, { key: key.secret })).status).toBe(200);
    const before = authenticator.lookups;
    for (let i = 0; i < 20; i++) expect((await authz(server, { key: key.secret, query: '?scopes=orders:read' })).status).toBe(200);
    expect(authenticator.lookups - before).toBe(0);
  });

  it('is not GraphQL: a GraphQL body is not executed; a body over MAX_BODY_BYTES (100,000 by default) gets 413 with no body', async () => {
    const key = await make();
    const res = await authz(server, { key: key.secret, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ viewer { keyId } }"}' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    const large = await authz(server, { key: key.secret, method: 'POST', body: 'x'.repeat(100_001) });
    expect(large.status).toBe(413);
    expect(large.headers.get('x-keyring-code')).toBe('PAYLOAD_TOO_LARGE');
    expect(large.body).toBe('');
    // The request id, and the connection closed after the answer (the rest of the body is not read).
    expect(large.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(large.headers.get('connection')).toBe('close');
  });

  it('writes the request log line and the request metrics under operation authz', async () => {
    const key = await make();
    const res = await authz(server, { key: key.secret });
    const line = server.logs.map((text) => JSON.parse(text)).find((entry) => entry.requestId === res.requestId && entry.msg === 'request');
    expect(line).toMatchObject({ path: '/authz', operationName: 'authz', code: 'OK', status: 200, keyId: key.id, merchantId: 'm_gate' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/keyring_requests_total\{operation="authz",code="OK"\} [1-9]/);
    expect(metrics).toMatch(/keyring_requests_total\{operation="authz",code="UNAUTHENTICATED"\} [1-9]/);
  });
});

describe('/authz from an untrusted peer, with a small address budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '5', IP_RATE_WINDOW_SECONDS: '60', AUDIT_REFUSAL_WINDOW_SECONDS: '0' } });
  });
  afterAll(() => server?.stop());

  it('ignores X-Forwarded-For and X-Real-IP; failures cost the address until 429, a valid key still passes', async () => {
    const key = await createKey(server, { merchantId: 'm_gate', scopes: [] });
    expect((await authz(server, { key: key.secret })).status).toBe(200);
    const spoofed = await authz(server, { key: 'sk_live_nope', headers: { 'x-forwarded-for': '203.0.113.1', 'x-real-ip': '203.0.113.2' } });
    expect(spoofed.status).toBe(401);
    expect((await eventsOf(server, spoofed.requestId))[0]).toMatchObject({ type: 'AUTH_FAILED', ip: '127.0.0.1' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await authz(server, { key: generateKey('SECRET', 'LIVE'), headers: { 'x-forwarded-for': `203.0.113.${i + 10}` } })).status);
    // Five failures in the window (the spoofed one first), whatever addresses the client names.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const refused = await authz(server, { key: null });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-keyring-code')).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await authz(server, { key: key.secret })).status).toBe(200);
  });
});
