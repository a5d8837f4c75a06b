import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFeed } from '../helpers/feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const repeated = (n: number, selection: string) => Array.from({ length: n }, () => selection).join(' ');

/** Repeated selections count toward the cost limit (§9.5 hardening): their pairwise comparison in validation is quadratic. */
describe('repeated selections', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer();
    key = (await createKey(server, { merchantId: 'm_repeat', scopes: ['audit:read', 'keys:read'], rateLimit: { limit: 1000, windowSeconds: 60 } })).secret;
  });
  afterAll(() => server?.stop());

  it('220 copies of one selection (under the token cap) are QUERY_TOO_COMPLEX, 400', async () => {
    const result = await server.gql(`{ ${repeated(220, 'viewer { keyId key { id } }')} }`, {}, key);
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(result.body.errors?.[0]?.message).toMatch(/repeated selections/);
  });

  it('over GET too', async () => {
    const query = `{ ${repeated(220, 'viewer { keyId key { id } }')} }`;
    const res = await fetch(`${server.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('the same fragment spread 200 times is refused too, and so are repeats nested in a field', async () => {
    const spreads = await server.gql(`query { viewer { ${repeated(200, '...V')} } } fragment V on Viewer { keyId }`, {}, key);
    expect(spreads.body.errors?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
    const nested = await server.gql(`{ viewer { ${repeated(200, 'keyId')} } }`, {}, key);
    expect(nested.body.errors?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('a few repeats, as real clients write them, still run', async () => {
    const result = await server.gql(`{ ${repeated(20, 'viewer { keyId }')} }`, {}, key);
    expect(result.status).toBe(200);
    expect(result.body.data.viewer.keyId).toBeTruthy();
  });

  it('over WebSocket the subscribe is refused the same way', async () => {
    const feed = openFeed(server, key, {}, undefined, `subscription { auditEvents { ${repeated(220, 'id')} } }`);
    await waitFor(() => feed.errors.length > 0);
    expect(feed.errors[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    await feed.dispose();
  });
});
