import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/** The OWASP API Security Top 10 (2023) items that apply to a key service, one block each. */
describe('OWASP API Security Top 10', () => {
  let server: TestServer;
  let a: { id: string; secret: string };
  let b: { id: string; secret: string };
  let bReader: { id: string; secret: string };
  beforeAll(async () => {
    server = await startTestServer();
    a = await createKey(server, { merchantId: 'owasp_a', name: 'A writer', scopes: ['keys:read', 'keys:write', 'audit:read', 'keys:verify'] });
    b = await createKey(server, { merchantId: 'owasp_b', name: 'B writer', scopes: ['keys:read', 'keys:write'] });
    bReader = await createKey(server, { merchantId: 'owasp_b', name: 'B reader', scopes: ['keys:read'] });
  });
  afterAll(() => server?.stop());

  describe('API1 broken object-level authorization', () => {
    it("refuses reading another merchant's key by id", async () => {
      const result = await server.gql('query($id: ID!) { apiKey(id: $id) { id name } }', { id: b.id }, a.secret);
      expect(result.body.data?.apiKey ?? null).toBeNull();
      expect(result.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    });

    it("refuses listing another merchant's keys, and lists only the caller's own by default", async () => {
      const other = await server.gql('{ apiKeys(merchantId: "owasp_b") { totalCount } }', {}, a.secret);
      expect(other.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
      const own = await server.gql('{ apiKeys { edges { node { merchantId } } } }', {}, a.secret);
      const merchants = own.body.data.apiKeys.edges.map((e: any) => e.node.merchantId);
      expect(new Set(merchants)).toEqual(new Set(['owasp_a']));
    });

    it("refuses every mutation on another merchant's key and leaves it untouched", async () => {
      for (const mutation of [
        'mutation($id: ID!) { disableKey(id: $id) { id } }',
        'mutation($id: ID!) { enableKey(id: $id) { id } }',
        'mutation($id: ID!) { revokeKey(id: $id) { id } }',
        'mutation($id: ID!) { rotateKey(id: $id) { secret } }',
        'mutation($id: ID!) { updateKey(id: $id, input: { name: "taken", allowedIps: ["10.0.0.0/8"] }) { id } }',
      ]) {
        const result = await server.gql(mutation, { id: bReader.id }, a.secret);
        expect(result.body.errors![0]!.extensions.code, mutation).toBe('FORBIDDEN');
      }
      expect((await server.gql('{ viewer { keyId } }', {}, bReader.secret)).status).toBe(200);
    });

    it('refuses creating a key for another merchant', async () => {
      const result = await server.gql(
        'mutation { createKey(input: { merchantId: "owasp_b", name: "sneaky", type: SECRET, scopes: [] }) { secret } }',
        {},
        a.secret,
      );
      expect(result.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    });
  });

  describe('API2 broken authentication', () => {
    it('answers every unusable credential the same way: 401 Unauthenticated.', async () => {
      const fake = a.secret.slice(0, -1) + (a.secret.endsWith('A') ? 'B' : 'A');
      const credentials = [undefined, 'Bearer', 'Basic abc', `Bearer ${fake}`, `Bearer ${a.secret}x`, 'Bearer sk_live_short', `bearer ${a.secret.replace('sk_', 'pk_')}`];
      const bodies = new Set<string>();
      for (const authorization of credentials) {
        const res = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          body: JSON.stringify({ query: '{ viewer { keyId } }' }),
        });
        expect(res.status, String(authorization)).toBe(401);
        const body = (await res.json()) as any;
        expect(body.errors[0]).toMatchObject({ message: 'Unauthenticated.', extensions: { code: 'UNAUTHENTICATED' } });
        bodies.add(JSON.stringify({ ...body.errors[0], extensions: { ...body.errors[0].extensions, requestId: null } }));
      }
      // no message says which part of a key was wrong
      expect(bodies.size).toBe(1);
    });

    it('never accepts a key in a cookie or the query string', async () => {
      const cookie = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ viewer { keyId } }')}&apiKey=${a.secret}`, {
        headers: { cookie: `apiKey=${a.secret}; authorization=Bearer%20${a.secret}` },
      });
      expect(cookie.status).toBe(401);
    });
  });

  describe('API5 broken function-level authorization', () => {
    it('refuses functions the key has no scope for', async () => {
      const create = await server.gql('mutation { createKey(input: { name: "x", type: SECRET, scopes: [] }) { secret } }', {}, bReader.secret);
      expect(create.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
      const revoke = await server.gql('mutation($id: ID!) { revokeKey(id: $id) { id } }', { id: b.id }, bReader.secret);
      expect(revoke.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    });

    it('refuses granting a scope the caller does not hold (no escalation)', async () => {
      const escalate = await server.gql('mutation { createKey(input: { name: "x", type: SECRET, scopes: ["audit:read"] }) { secret } }', {}, b.secret);
      expect(escalate.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
      const admin = await server.gql('mutation { createKey(input: { name: "x", type: SECRET, scopes: ["admin"] }) { secret } }', {}, b.secret);
      expect(admin.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    });
  });
});
