import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import type { FeedClient } from '../helpers/feed.js';
import { subscribedFeed } from '../helpers/scale.js';
import { CREATE_KEY, createKey, startTestServer, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId } }';
const KEY = 'query($id: ID!) { apiKey(id: $id) { metadata allowedIps } }';
const VERIFY = /* GraphQL */ `
  query($key: String!, $ip: String, $scopes: [String!]) {
    verifyKey(key: $key, requiredScopes: $scopes, context: { ip: $ip }) { valid code metadata rateLimit { remaining } }
  }
`;
const VERIFY_NO_CONTEXT = 'query($key: String!) { verifyKey(key: $key) { valid code metadata } }';

/** A JSON object whose serialized form is exactly `bytes` long. */
const metadataOf = (bytes: number) => ({ note: 'x'.repeat(bytes - '{"note":""}'.length) });

describe('keys that carry metadata and an IP allowlist (TRUST_PROXY=true: X-Forwarded-For names the client)', () => {
  let server: TestServer;
  let verifier: string;
  const feeds: FeedClient[] = [];
  const from = (key: string, ip?: string) => server.gql(VIEWER, {}, key, ip ? { 'x-forwarded-for': ip } : {});
  const events = async (where: Record<string, unknown>) => {
    await server.app.services.ledger.flush();
    return server.app.services.db.fork().find(AuditEventEntity, where, { orderBy: { id: 'asc' } });
  };
  const keyCount = () => server.app.services.db.fork().count(ApiKeyEntity, {});
  const refusedCreate = async (input: Record<string, unknown>) => {
    const before = await keyCount();
    const result = await server.gql(CREATE_KEY, { input: { type: 'SECRET', name: 'refused', scopes: [], merchantId: 'm_pol', ...input } });
    expect(result.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await keyCount()).toBe(before);
    return result.body.errors![0]!.extensions;
  };

  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
    verifier = (await createKey(server, { merchantId: 'm_pol', scopes: ['keys:verify'] })).secret;
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  it('stores metadata, shows it on the key, and verifyKey answers it from memory', async () => {
    const metadata = { plan: 'pro', owner: { team: 'payments', ids: [1, 2, 3] }, beta: true, ratio: 0.5, none: null };
    const key = await createKey(server, { merchantId: 'm_pol', metadata });
    expect((await server.gql(KEY, { id: key.id })).body.data.apiKey).toEqual({ metadata, allowedIps: [] });
    // The first verification fills the cache; the next ones read nothing.
    expect((await server.gql(VERIFY_NO_CONTEXT, { key: key.secret }, verifier)).body.data.verifyKey).toEqual({ valid: true, code: 'VALID', metadata });
    const before = server.app.services.authenticator.lookups;
    for (let i = 0; i < 3; i++) {
      expect((await server.gql(VERIFY_NO_CONTEXT, { key: key.secret }, verifier)).body.data.verifyKey.metadata).toEqual(metadata);
    }
    expect(server.app.services.authenticator.lookups).toBe(before);
    const bare = await createKey(server, { merchantId: 'm_pol' });
    expect((await server.gql(VERIFY_NO_CONTEXT, { key: bare.secret }, verifier)).body.data.verifyKey).toEqual({ valid: true, code: 'VALID', metadata: null });
  });

  it('takes metadata of exactly 4 KiB and refuses one byte more, or anything but an object, creating nothing', async () => {
    expect(JSON.stringify(metadataOf(4096))).toHaveLength(4096);
    await createKey(server, { merchantId: 'm_pol', metadata: metadataOf(4096) });
    expect((await refusedCreate({ metadata: metadataOf(4097) })).fields).toEqual(['input.metadata']);
    // Multi-byte characters count as their UTF-8 bytes.
    expect((await refusedCreate({ metadata: { note: 'é'.repeat(2045) } })).fields).toEqual(['input.metadata']);
    expect((await refusedCreate({ metadata: { nul: 'a\u0000b' } })).fields).toEqual(['input.metadata']);
    for (const metadata of [[1, 2], 'text', 42, true]) await refusedCreate({ metadata });
  });

  it('normalises the allowlist and lists every malformed entry by its index, creating nothing', async () => {
    const key = await createKey(server, {
      merchantId: 'm_pol',
      allowedIps: ['203.0.113.0/24', '2001:DB8:0:0::/32', '198.51.100.7', '198.51.100.7/32', '10.1.2.3/8', '::ffff:192.0.2.1'],
    });
    expect((await server.gql(KEY, { id: key.id })).body.data.apiKey.allowedIps).toEqual(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7', '10.0.0.0/8', '192.0.2.1']);
    const bad = ['1.2.3', 'host.example', '10.0.0.0/33', '::1/129', '127.1', 'fe80::1%eth0', '', '1.2.3.4/', '1.2.3.4/08x'];
    const problems = await refusedCreate({ allowedIps: ['192.0.2.1', ...bad], name: '<bad>' });
    expect(problems.fields).toEqual(['input.name', ...bad.map((_, i) => `input.allowedIps.${i + 1}`)]);
    expect(JSON.stringify(problems.errors)).not.toContain('host.example');
  });

  it('refuses a metadata literal that is not an object as input, and a rotated key keeps metadata and allowlist', async () => {
    const literal = await server.gql('mutation { createKey(input: { merchantId: "m_pol", name: "lit", type: SECRET, scopes: [], metadata: [1, 2] }) { secret } }');
    expect(literal.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    const key = await createKey(server, { merchantId: 'm_pol', metadata: { plan: 'pro' }, allowedIps: ['10.0.0.0/8'] });
    const rotated = await server.gql('mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 60) { key { metadata allowedIps } } }', { id: key.id });
    expect(rotated.body.data.rotateKey.key).toEqual({ metadata: { plan: 'pro' }, allowedIps: ['10.0.0.0/8'] });
  });

  it('takes 100 entries and refuses 101', async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `198.18.${i}.0/24`);
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: hundred });
    expect((await server.gql(KEY, { id: key.id })).body.data.apiKey.allowedIps).toHaveLength(100);
    expect((await refusedCreate({ allowedIps: [...hundred, '198.19.0.1'] })).fields).toEqual(['input.allowedIps']);
  });

  it('admits the key’s own HTTP requests from inside its IPv4 and IPv6 ranges and refuses the rest with 403 and ACCESS_DENIED', async () => {
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7'] });
    for (const ip of ['203.0.113.1', '203.0.113.254', '2001:db8:5::1', '2001:DB8::', '198.51.100.7', '::ffff:203.0.113.9']) {
      expect((await from(key.secret, ip)).body.data?.viewer.keyId, ip).toBe(key.id);
    }
    for (const ip of ['203.0.114.1', '198.51.100.8', '2001:db9::1', '10.0.0.1', '::1']) {
      const result = await from(key.secret, ip);
      expect(result.status, ip).toBe(403);
      expect(result.body.errors?.[0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN' } });
      expect(result.body.data).toBeUndefined();
    }
    const denied = await events({ type: 'ACCESS_DENIED', keyId: key.id });
    expect(denied.map((event) => [event.reason, event.ip])).toEqual([
      ['IP_NOT_ALLOWED', '203.0.114.1'],
      ['IP_NOT_ALLOWED', '198.51.100.8'],
      ['IP_NOT_ALLOWED', '2001:db9::1'],
      ['IP_NOT_ALLOWED', '10.0.0.1'],
      ['IP_NOT_ALLOWED', '::1'],
    ]);
    // Refused requests are not served: only the six admitted ones left KEY_USED.
    expect(await events({ type: 'KEY_USED', keyId: key.id })).toHaveLength(6);
    const open = await createKey(server, { merchantId: 'm_pol' });
    expect((await from(open.secret, '192.0.2.77')).status).toBe(200);
  });

  it('a refused address costs the key nothing of its rate limit', async () => {
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: ['203.0.113.0/24'], rateLimit: { limit: 3, windowSeconds: 60 } });
    for (let i = 0; i < 5; i++) expect((await from(key.secret, '198.51.100.1')).status).toBe(403);
    const result = await from(key.secret, '203.0.113.1');
    expect(result.status).toBe(200);
    expect(result.headers.get('ratelimit-remaining')).toBe('2');
  });

  it('closes a WebSocket from outside the allowlist with 4403 and keeps one from inside', async () => {
    const outside = await createKey(server, { merchantId: 'm_pol', scopes: ['audit:read'], allowedIps: ['10.0.0.0/8'] });
    const refused = await subscribedFeed(server, outside.secret);
    feeds.push(refused);
    expect(await refused.closed).toBe(4403);
    const [event] = await events({ type: 'ACCESS_DENIED', keyId: outside.id });
    expect(event).toMatchObject({ reason: 'IP_NOT_ALLOWED', ip: '127.0.0.1' });

    const inside = await createKey(server, { merchantId: 'm_pol', scopes: ['audit:read'], allowedIps: ['127.0.0.0/8'] });
    const admitted = await subscribedFeed(server, inside.secret);
    feeds.push(admitted);
    expect(admitted.closeCode).toBeNull();
    expect(admitted.errors).toEqual([]);
  });

  it('verifyKey judges context.ip: inside is VALID, outside or missing is IP_NOT_ALLOWED, malformed is BAD_USER_INPUT', async () => {
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: ['203.0.113.0/24', '2001:db8::/32'], metadata: { tier: 'gold' }, rateLimit: { limit: 5, windowSeconds: 60 } });
    const verify = async (ip?: string) => (await server.gql(VERIFY, { key: key.secret, ip }, verifier)).body;
    expect((await verify('198.51.100.1')).data.verifyKey).toEqual({ valid: false, code: 'IP_NOT_ALLOWED', metadata: { tier: 'gold' }, rateLimit: null });
    expect((await verify()).data.verifyKey).toMatchObject({ valid: false, code: 'IP_NOT_ALLOWED' });
    expect((await verify('2001:db9::1')).data.verifyKey).toMatchObject({ valid: false, code: 'IP_NOT_ALLOWED' });
    // The refusals spent nothing of the verified key's limit.
    expect((await verify('203.0.113.50')).data.verifyKey).toEqual({ valid: true, code: 'VALID', metadata: { tier: 'gold' }, rateLimit: { remaining: 4 } });
    expect((await verify('2001:db8::7')).data.verifyKey).toMatchObject({ valid: true, code: 'VALID' });
    const malformed = await verify('203.0.113.500');
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['context.ip'] });
    const denied = await events({ type: 'ACCESS_DENIED', keyId: key.id });
    expect(denied).toHaveLength(3);
    expect(denied.every((event) => event.reason === 'IP_NOT_ALLOWED' && event.ip === '127.0.0.1')).toBe(true);
    expect(denied.map((event) => event.metadata?.clientIp)).toEqual(['198.51.100.1', null, '2001:db9::1']);
    // A key without an allowlist needs no context.
    const open = await createKey(server, { merchantId: 'm_pol' });
    expect((await server.gql(VERIFY_NO_CONTEXT, { key: open.secret }, verifier)).body.data.verifyKey).toMatchObject({ valid: true, code: 'VALID' });
  });
});

describe('TRUST_PROXY unset: X-Forwarded-For cannot put a client inside an allowlist', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '3', IP_RATE_WINDOW_SECONDS: '60' } });
  });
  afterAll(() => server?.stop());

  it('judges the socket address, whatever the header says', async () => {
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: ['203.0.113.0/24'] });
    expect((await server.gql(VIEWER, {}, key.secret, { 'x-forwarded-for': '203.0.113.5' })).status).toBe(403);
    const local = await createKey(server, { merchantId: 'm_pol', allowedIps: ['127.0.0.1', '::1'] });
    expect((await server.gql(VIEWER, {}, local.secret, { 'x-forwarded-for': '203.0.113.5' })).status).toBe(200);
  });

  it('counts uses from outside against the address (IP_RATE_LIMIT=3): the fourth is 429, and the key inside is still served', async () => {
    const key = await createKey(server, { merchantId: 'm_pol', allowedIps: ['203.0.113.0/24'] });
    const local = await createKey(server, { merchantId: 'm_pol', allowedIps: ['127.0.0.1'] });
    // The first test spent one of the address's three.
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(403);
    const last = await server.gql(VIEWER, {}, key.secret);
    expect([last.status, last.headers.get('ratelimit-remaining')]).toEqual([403, '0']);
    const over = await server.gql(VIEWER, {}, key.secret);
    expect([over.status, over.body.errors?.[0]?.extensions.code]).toEqual([429, 'RATE_LIMITED']);
    expect((await server.gql(VIEWER, {}, local.secret)).status).toBe(200);
  });
});
