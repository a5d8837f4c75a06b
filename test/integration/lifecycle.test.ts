import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId merchantId scopes } }';

describe('key lifecycle', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('create → use → disable (401) → enable → revoke (401 forever) → rotate → expire', async () => {
    const { id, secret } = await createKey(server, { merchantId: 'm_life', scopes: ['keys:read', 'keys:write'] });
    const used = await server.gql(VIEWER, {}, secret);
    expect(used.status).toBe(200);
    expect(used.body.data.viewer).toMatchObject({ keyId: id, merchantId: 'm_life' });

    const disabled = await server.gql('mutation($id: ID!) { disableKey(id: $id, reason: "paused") { status statusReason disabledAt } }', { id });
    expect(disabled.body.data.disableKey).toMatchObject({ status: 'DISABLED', statusReason: 'paused' });
    const refused = await server.gql(VIEWER, {}, secret);
    expect(refused.status).toBe(401);
    expect(refused.body.errors![0]).toMatchObject({ message: 'Unauthenticated.', extensions: { code: 'UNAUTHENTICATED' } });

    const enabled = await server.gql('mutation($id: ID!) { enableKey(id: $id) { status disabledAt } }', { id });
    expect(enabled.body.data.enableKey).toEqual({ status: 'ACTIVE', disabledAt: null });
    expect((await server.gql(VIEWER, {}, secret)).status).toBe(200);

    const rotated = await server.gql(
      'mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 1) { secret key { id name scopes rateLimit { limit } rotatedFromId } } }',
      { id },
    );
    const next = rotated.body.data.rotateKey;
    expect(next.key).toMatchObject({ scopes: ['keys:read', 'keys:write'], rotatedFromId: id });
    expect(next.secret).not.toBe(secret);
    expect((await server.gql(VIEWER, {}, next.secret)).status).toBe(200);
    // the old key works until its grace period ends, then expires
    await waitFor(async () => (await server.gql(VIEWER, {}, secret)).status === 401, 5_000, 100);
    const expired = await server.gql('query($id: ID!) { apiKey(id: $id) { expired status } }', { id });
    expect(expired.body.data.apiKey).toEqual({ expired: true, status: 'ACTIVE' });

    const revoked = await server.gql('mutation($id: ID!) { revokeKey(id: $id, reason: "leaked") { status revokedAt } }', { id: next.key.id });
    expect(revoked.body.data.revokeKey.status).toBe('REVOKED');
    expect((await server.gql(VIEWER, {}, next.secret)).status).toBe(401);
    const reenable = await server.gql('mutation($id: ID!) { enableKey(id: $id) { status } }', { id: next.key.id });
    expect(reenable.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await server.gql(VIEWER, {}, next.secret)).status).toBe(401);
  });
});
