import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import type { FeedClient } from '../helpers/feed.js';
import { subscribedFeed } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const UPDATE = /* GraphQL */ `
  mutation Update($id: ID!, $input: UpdateKeyInput!) {
    updateKey(id: $id, input: $input) { id name metadata scopes rateLimit { limit windowSeconds } expiresAt allowedIps status updatedAt }
  }
`;
const READ = 'query($id: ID!) { apiKey(id: $id) { name metadata scopes rateLimit { limit windowSeconds } expiresAt allowedIps updatedAt } }';
const VIEWER = '{ viewer { keyId } }';
const VERIFY = 'query($key: String!, $scopes: [String!]) { verifyKey(key: $key, requiredScopes: $scopes) { valid code metadata } }';
const REVOKE = 'mutation($id: ID!) { revokeKey(id: $id) { status } }';

describe('updateKey', () => {
  let server: TestServer;
  let verifier: string;
  const feeds: FeedClient[] = [];
  const update = (id: string, input: Record<string, unknown>, key = server.adminKey) => server.gql(UPDATE, { id, input }, key);
  const read = async (id: string) => (await server.gql(READ, { id })).body.data.apiKey;
  const updates = async (keyId: string) => {
    await server.app.services.ledger.flush();
    return server.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_UPDATED', keyId }, { orderBy: { id: 'asc' } });
  };
  const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

  beforeAll(async () => {
    server = await startTestServer({ env: { KEYRING_SCOPES: 'transaction.read,customers:read' } });
    verifier = (await createKey(server, { merchantId: 'm_up', scopes: ['keys:verify'] })).secret;
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  it('changes each field given, leaves the others, and names the changed fields (never values) in KEY_UPDATED', async () => {
    const key = await createKey(server, { merchantId: 'm_up', name: 'before', scopes: ['transaction.read'], metadata: { a: 1 } });
    const original = await read(key.id);
    const steps: Array<[Record<string, unknown>, string[]]> = [
      [{ name: '  after  ' }, ['name']],
      [{ metadata: { plan: 'pro', secretish: 'do-not-log' } }, ['metadata']],
      [{ scopes: ['transaction.read', 'customers:read'] }, ['scopes']],
      [{ rateLimit: { limit: 9, windowSeconds: 30 } }, ['rateLimit']],
      [{ expiresAt: future(3) }, ['expiresAt']],
      [{ allowedIps: ['127.0.0.1', '2001:DB8::/32'] }, ['allowedIps']],
      [{ name: 'both', metadata: { plan: 'team' } }, ['name', 'metadata']],
    ];
    for (const [input] of steps) expect((await update(key.id, input)).body.errors).toBeUndefined();
    const now = await read(key.id);
    expect(now).toMatchObject({
      name: 'both',
      metadata: { plan: 'team' },
      scopes: ['transaction.read', 'customers:read'],
      rateLimit: { limit: 9, windowSeconds: 30 },
      allowedIps: ['127.0.0.1', '2001:db8::/32'],
    });
    expect(now.expiresAt).toBe(steps[4]![0].expiresAt);
    expect(new Date(now.updatedAt).getTime()).toBeGreaterThan(new Date(original.updatedAt).getTime());
    const events = await updates(key.id);
    expect(events.map((event) => event.metadata?.changed)).toEqual(steps.map(([, changed]) => changed));
    expect(JSON.stringify(events)).not.toContain('do-not-log');
    expect(events[0]).toMatchObject({ merchantId: 'm_up', actorKeyId: expect.any(String), operationName: 'Update' });
  });

  it('clears metadata, expiresAt and allowedIps with an explicit null; an unchanged value leaves no event', async () => {
    const key = await createKey(server, { merchantId: 'm_up', metadata: { a: 1 }, expiresAt: future(2), allowedIps: ['127.0.0.1'] });
    const same = await update(key.id, { metadata: { a: 1 }, allowedIps: ['127.0.0.1/32'], name: 'test key' });
    expect(same.body.errors).toBeUndefined();
    expect(await update(key.id, {})).toMatchObject({ body: { data: { updateKey: { id: key.id } } } });
    expect(await updates(key.id)).toEqual([]);
    const cleared = await update(key.id, { metadata: null, expiresAt: null, allowedIps: null });
    expect(cleared.body.data.updateKey).toMatchObject({ metadata: null, expiresAt: null, allowedIps: [] });
    expect((await updates(key.id)).map((event) => event.metadata?.changed)).toEqual([['metadata', 'expiresAt', 'allowedIps']]);
  });

  it('is effective on the key’s very next request: allowlist, scopes, rate limit, metadata', async () => {
    const key = await createKey(server, { merchantId: 'm_up', scopes: ['transaction.read'], metadata: { v: 1 } });
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(200);
    expect((await server.gql(VERIFY, { key: key.secret, scopes: ['transaction.read'] }, verifier)).body.data.verifyKey).toMatchObject({ valid: true, metadata: { v: 1 } });

    await update(key.id, { allowedIps: ['10.0.0.0/8'] });
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(403);
    await update(key.id, { allowedIps: [], rateLimit: { limit: 4, windowSeconds: 60 }, scopes: [], metadata: { v: 2 } });
    const result = await server.gql(VIEWER, {}, key.secret);
    expect(result.status).toBe(200);
    expect(result.headers.get('ratelimit-limit')).toBe('4');
    expect((await server.gql(VERIFY, { key: key.secret, scopes: ['transaction.read'] }, verifier)).body.data.verifyKey).toMatchObject({
      valid: false,
      code: 'INSUFFICIENT_SCOPE',
      metadata: { v: 2 },
    });
  });

  it('lists every problem of the input at once and changes nothing', async () => {
    const key = await createKey(server, { merchantId: 'm_up', name: 'kept' });
    const before = await read(key.id);
    const result = await update(key.id, {
      name: '<x>',
      metadata: { big: 'x'.repeat(5000) },
      scopes: ['nope'],
      rateLimit: { limit: 0, windowSeconds: 999_999 },
      expiresAt: '2000-01-01T00:00:00Z',
      allowedIps: ['1.2.3.4', 'bad', '::1/200'],
    });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [
        'input.name',
        'input.metadata',
        'input.scopes',
        'input.rateLimit.limit',
        'input.rateLimit.windowSeconds',
        'input.expiresAt',
        'input.allowedIps.1',
        'input.allowedIps.2',
      ],
    });
    const nulls = await update(key.id, { name: null, scopes: null, rateLimit: null });
    expect(nulls.body.errors?.[0]?.extensions.fields).toEqual(['input.name', 'input.scopes', 'input.rateLimit']);
    const tooMany = await update(key.id, { allowedIps: Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`) });
    expect(tooMany.body.errors?.[0]?.extensions.fields).toEqual(['input.allowedIps']);
    expect((await update(key.id, { metadata: [1] })).body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await read(key.id)).toEqual(before);
    expect(await updates(key.id)).toEqual([]);
  });

  it('refuses scopes beyond the caller’s own (FORBIDDEN, ACCESS_DENIED) and limits beyond its bounds, changing nothing', async () => {
    const caller = await createKey(server, { merchantId: 'm_up', scopes: ['keys:read', 'keys:write', 'transaction.read'], rateLimit: { limit: 100, windowSeconds: 60 }, expiresAt: future(10) });
    const key = await createKey(server, { merchantId: 'm_up', scopes: ['transaction.read'], rateLimit: { limit: 10, windowSeconds: 60 }, expiresAt: future(5) });
    const before = await read(key.id);
    for (const input of [
      { scopes: ['transaction.read', 'customers:read'], name: 'escalated' },
      { scopes: ['admin'] },
      { rateLimit: { limit: 1000, windowSeconds: 60 } },
      { expiresAt: null },
      { expiresAt: future(20) },
    ]) {
      const result = await update(key.id, input, caller.secret);
      expect(result.body.errors?.[0]?.extensions.code, JSON.stringify(input)).toBe('FORBIDDEN');
    }
    expect(await read(key.id)).toEqual(before);
    expect(await updates(key.id)).toEqual([]);
    await server.app.services.ledger.flush();
    const denied = await server.app.services.db.fork().find(AuditEventEntity, { type: 'ACCESS_DENIED', keyId: caller.id });
    expect(denied.map((event) => event.reason)).toEqual(['scope escalation', 'scope escalation', 'minting bounds', 'minting bounds', 'minting bounds']);
    // Within its own scopes and bounds, the same caller may update; a field left as it is is not judged.
    const ok = await update(key.id, { name: 'renamed', scopes: [], expiresAt: future(6) }, caller.secret);
    expect(ok.body.data?.updateKey).toMatchObject({ name: 'renamed', scopes: [] });
  });

  it('refuses a revoked key (BAD_USER_INPUT, with the input’s problems), another merchant’s key (FORBIDDEN) and an unknown id (NOT_FOUND)', async () => {
    const revoked = await createKey(server, { merchantId: 'm_up' });
    await server.gql(REVOKE, { id: revoked.id });
    const result = await update(revoked.id, { name: 'again', allowedIps: ['nope'] });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['id', 'input.allowedIps.0'] });
    expect((await update(revoked.id, { name: 'again' })).body.errors?.[0]?.extensions.fields).toEqual(['id']);
    expect((await read(revoked.id)).name).toBe('test key');

    const caller = await createKey(server, { merchantId: 'm_up', scopes: ['keys:write'] });
    const foreign = await createKey(server, { merchantId: 'm_other' });
    expect((await update(foreign.id, { name: 'mine now' }, caller.secret)).body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect((await read(foreign.id)).name).toBe('test key');
    expect((await update('key_doesnotexist', { name: 'x' })).body.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    const reader = await createKey(server, { merchantId: 'm_up', scopes: ['keys:read'] });
    expect((await update(reader.id, { name: 'x' }, reader.secret)).body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  });

  it('closes an open WebSocket with 4403 when its address leaves the allowlist or its key loses a scope; a rename keeps it', async () => {
    const byIp = await createKey(server, { merchantId: 'm_up', scopes: ['audit:read'], allowedIps: ['127.0.0.1'] });
    const byScope = await createKey(server, { merchantId: 'm_up', scopes: ['audit:read', 'transaction.read'] });
    const sentinel = await createKey(server, { merchantId: 'm_up', scopes: ['audit:read'] });
    const [ipFeed, scopeFeed, sentinelFeed] = [
      await subscribedFeed(server, byIp.secret),
      await subscribedFeed(server, byScope.secret),
      await subscribedFeed(server, sentinel.secret),
    ];
    feeds.push(ipFeed, scopeFeed, sentinelFeed);
    await update(byIp.id, { name: 'renamed', allowedIps: ['127.0.0.0/8', '10.0.0.0/8'], scopes: ['audit:read', 'keys:read'] });
    await update(byScope.id, { scopes: ['audit:read', 'transaction.read', 'customers:read'] });
    // The sentinel's key changes last: once its socket is closed, the re-reads of the two before it are done too.
    await update(sentinel.id, { allowedIps: ['10.0.0.0/8'] });
    expect(await sentinelFeed.closed).toBe(4403);
    expect([ipFeed.closeCode, scopeFeed.closeCode]).toEqual([null, null]);

    await update(byIp.id, { allowedIps: ['10.0.0.0/8'] });
    expect(await ipFeed.closed).toBe(4403);
    await update(byScope.id, { scopes: ['audit:read', 'customers:read'] });
    expect(await scopeFeed.closed).toBe(4403);
  });

  it('judges the next subscribe on an open socket by the key as updated (its new rate limit)', async () => {
    const key = await createKey(server, { merchantId: 'm_up', scopes: ['audit:read'] });
    const feed = await subscribedFeed(server, key.secret);
    feeds.push(feed);
    await update(key.id, { rateLimit: { limit: 1, windowSeconds: 3600 } });
    const codes: string[] = [];
    for (let i = 0; i < 2; i++) {
      feed.client.subscribe(
        { query: 'subscription { auditEvents(types: [KEY_REVOKED]) { id } }' },
        {
          next: (result) => codes.push(String((result.errors?.[0] as { extensions?: { code?: string } } | undefined)?.extensions?.code)),
          error: (error) => codes.push(String((Array.isArray(error) ? error[0]?.extensions?.code : undefined) ?? error)),
          complete: () => undefined,
        },
      );
    }
    // Without the new limit (1 an hour) both would be taken and nothing would ever arrive.
    await waitFor(() => codes.includes('RATE_LIMITED'));
    expect(feed.closeCode).toBeNull();
  });
});
