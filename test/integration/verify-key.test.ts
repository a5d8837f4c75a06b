import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const VERIFY = /* GraphQL */ `
  query Verify($key: String!, $scopes: [String!]) {
    verifyKey(key: $key, requiredScopes: $scopes) { valid code rateLimit { limit remaining resetAt } }
  }
`;
const VERIFY_WITH_KEY = /* GraphQL */ `
  query Verify($key: String!) { verifyKey(key: $key) { valid code key { id merchantId status name value } } }
`;

describe('verifyKey', () => {
  let server: TestServer;
  let verifier: { id: string; secret: string };
  const verify = async (key: string, scopes?: string[], caller = verifier.secret) => {
    const result = await server.gql(VERIFY, { key, scopes }, caller);
    if (!result.body.data) throw new Error(JSON.stringify(result.body.errors));
    return result.body.data.verifyKey;
  };
  const mutate = async (query: string, id: string) => {
    const result = await server.gql(query, { id });
    if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
    return result.body.data;
  };
  const events = async (where: Record<string, unknown>) => {
    await server.app.services.ledger.flush();
    return server.app.services.db.fork().find(AuditEventEntity, where, { orderBy: { id: 'asc' } });
  };

  beforeAll(async () => {
    server = await startTestServer({ env: { KEYRING_SCOPES: 'transaction.read,customers:read' } });
    verifier = await createKey(server, { merchantId: 'm_a', name: 'backend', scopes: ['keys:verify'] });
  });
  afterAll(() => server?.stop());

  it('answers VALID with the verified key’s own figures and leaves KEY_USED for it', async () => {
    const key = await createKey(server, { merchantId: 'm_a', scopes: ['transaction.read'], rateLimit: { limit: 7, windowSeconds: 60 } });
    const result = await verify(key.secret, ['transaction.read']);
    expect(result).toMatchObject({ valid: true, code: 'VALID', rateLimit: { limit: 7, remaining: 6 } });
    const used = await events({ type: 'KEY_USED', keyId: key.id });
    expect(used).toHaveLength(1);
    expect(used[0]).toMatchObject({ merchantId: 'm_a', actorKeyId: verifier.id });
    expect(used[0]!.metadata).toMatchObject({ via: 'verifyKey', verifiedBy: verifier.id });
  });

  it('answers every refusal with its code and event', async () => {
    const make = (input: Record<string, unknown> = {}) => createKey(server, { merchantId: 'm_a', scopes: ['transaction.read'], ...input });
    expect(await verify('sk_live_nope')).toMatchObject({ valid: false, code: 'MALFORMED', rateLimit: null });
    expect(await verify(generateKey('SECRET', 'LIVE'))).toMatchObject({ valid: false, code: 'NOT_FOUND', rateLimit: null });

    const disabled = await make();
    await mutate('mutation($id: ID!) { disableKey(id: $id) { id } }', disabled.id);
    expect(await verify(disabled.secret)).toMatchObject({ valid: false, code: 'DISABLED' });

    const revoked = await make();
    await mutate('mutation($id: ID!) { revokeKey(id: $id) { id } }', revoked.id);
    expect(await verify(revoked.secret)).toMatchObject({ valid: false, code: 'REVOKED' });

    const rotated = await make();
    await verify(rotated.secret); // cached as ACTIVE first
    await mutate('mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 0) { key { id } } }', rotated.id);
    expect(await verify(rotated.secret)).toMatchObject({ valid: false, code: 'EXPIRED' });

    const expiring = await make({ expiresAt: new Date(Date.now() + 1_000).toISOString() });
    expect(await verify(expiring.secret)).toMatchObject({ code: 'VALID' });
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await verify(expiring.secret)).toMatchObject({ valid: false, code: 'EXPIRED' });

    const narrow = await make();
    const scoped = await verify(narrow.secret, ['customers:read']);
    expect(scoped).toMatchObject({ valid: false, code: 'INSUFFICIENT_SCOPE', rateLimit: null });

    const limited = await make({ rateLimit: { limit: 2, windowSeconds: 60 } });
    await verify(limited.secret);
    await verify(limited.secret);
    const refused = await verify(limited.secret);
    expect(refused).toMatchObject({ valid: false, code: 'RATE_LIMITED', rateLimit: { limit: 2, remaining: 0 } });

    const reasons = (await events({ type: 'AUTH_FAILED', actorKeyId: verifier.id })).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['MALFORMED', 'NOT_FOUND', 'DISABLED', 'REVOKED', 'EXPIRED']));
    expect(await events({ type: 'AUTH_FAILED', keyId: revoked.id })).toHaveLength(1);
    const denied = await events({ type: 'ACCESS_DENIED', keyId: narrow.id });
    expect(denied[0]).toMatchObject({ actorKeyId: verifier.id, reason: 'missing scope' });
    expect(denied[0]!.metadata).toMatchObject({ scopes: ['customers:read'], via: 'verifyKey' });
    expect(await events({ type: 'RATE_LIMITED', keyId: limited.id })).toHaveLength(1);
  });

  it('applies the verified key’s limit, not the caller’s, while the caller’s request counts against the caller', async () => {
    const caller = await createKey(server, { merchantId: 'm_a', scopes: ['keys:verify'], rateLimit: { limit: 50, windowSeconds: 60 } });
    const target = await createKey(server, { merchantId: 'm_a', rateLimit: { limit: 3, windowSeconds: 60 } });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await server.gql(VERIFY, { key: target.secret }, caller.secret));
    expect(results.map((r) => r.body.data.verifyKey.code)).toEqual(['VALID', 'VALID', 'VALID', 'RATE_LIMITED']);
    expect(results.map((r) => r.body.data.verifyKey.rateLimit.remaining)).toEqual([2, 1, 0, 0]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(results[3]!.headers.get('ratelimit-limit')).toBe('50');
    expect(results[3]!.headers.get('ratelimit-remaining')).toBe('46');
  });

  it('never serves a key from the cache after its revocation (200 rounds)', async () => {
    for (let round = 0; round < 200; round++) {
      const key = await createKey(server, { merchantId: 'm_a', name: `round ${round}` });
      expect((await verify(key.secret)).code).toBe('VALID');
      await mutate('mutation($id: ID!) { revokeKey(id: $id) { id } }', key.id);
      expect((await verify(key.secret)).code).toBe('REVOKED');
    }
  }, 120_000);

  it('answers NOT_FOUND for another merchant’s key unless the caller is admin', async () => {
    const foreign = await createKey(server, { merchantId: 'm_b', scopes: [] });
    const result = await server.gql(VERIFY_WITH_KEY, { key: foreign.secret }, verifier.secret);
    expect(result.body.data.verifyKey).toEqual({ valid: false, code: 'NOT_FOUND', key: null });
    expect(await events({ keyId: foreign.id, type: 'AUTH_FAILED' })).toHaveLength(0);
    const admin = await server.gql(VERIFY_WITH_KEY, { key: foreign.secret });
    expect(admin.body.data.verifyKey).toMatchObject({ valid: true, code: 'VALID', key: { id: foreign.id, merchantId: 'm_b', value: null } });
  });

  it('reads the database for `key` only when it is selected', async () => {
    const key = await createKey(server, { merchantId: 'm_a', name: 'viewed' });
    await verify(key.secret);
    const get = vi.spyOn(server.app.services.keys, 'get');
    // The authenticator's database read (background ledger flushes and sweeps also fork, so fork() is not the measure).
    const load = vi.spyOn(server.app.services.authenticator as unknown as { load(digest: string): unknown }, 'load');
    expect((await verify(key.secret)).code).toBe('VALID');
    expect(get).not.toHaveBeenCalled();
    expect(load).not.toHaveBeenCalled();
    const full = await server.gql(VERIFY_WITH_KEY, { key: key.secret }, verifier.secret);
    expect(full.body.data.verifyKey.key).toMatchObject({ id: key.id, name: 'viewed', status: 'ACTIVE' });
    expect(get).toHaveBeenCalledTimes(1);
    get.mockRestore();
    load.mockRestore();
    const missing = await server.gql(VERIFY_WITH_KEY, { key: 'sk_test_x' }, verifier.secret);
    expect(missing.body.data.verifyKey).toEqual({ valid: false, code: 'MALFORMED', key: null });
  });

  it('needs keys:verify, and refuses scopes outside the catalogue', async () => {
    const reader = await createKey(server, { merchantId: 'm_a', scopes: ['keys:read'] });
    const forbidden = await server.gql(VERIFY, { key: verifier.secret }, reader.secret);
    expect(forbidden.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    const bad = await server.gql(VERIFY, { key: verifier.secret, scopes: ['no.such'] }, verifier.secret);
    expect(bad.body.errors?.[0]).toMatchObject({ message: 'Invalid scope value.', extensions: { code: 'BAD_USER_INPUT' } });
  });
});
