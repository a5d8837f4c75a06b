import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const aliased = (n: number, field: string) => Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ');

/** Contract §9.5: each root field of a request counts one against the caller's limit, aliases included. */
describe('root fields count against the limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { MAX_ALIASES: '50' } });
  });
  afterAll(() => server?.stop());

  it('fifteen aliased fields take fifteen from the key; the next request that does not fit is 429 with Retry-After', async () => {
    const key = await createKey(server, { merchantId: 'm_alias', scopes: ['keys:read'], rateLimit: { limit: 20, windowSeconds: 60 } });
    const first = await server.gql(`{ ${aliased(15, 'viewer { keyId }')} }`, {}, key.secret);
    expect(first.status).toBe(200);
    expect(Object.keys(first.body.data)).toHaveLength(15);
    expect(first.headers.get('ratelimit-remaining')).toBe('5');

    const second = await server.gql(`{ ${aliased(6, 'viewer { keyId }')} }`, {}, key.secret);
    expect(second.status).toBe(429);
    expect(second.body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(second.headers.get('ratelimit-remaining')).toBe('0');
    expect(second.body.data ?? null).toBeNull();
  });

  it('a viewer field reports the figures after every root field was counted', async () => {
    const key = await createKey(server, { merchantId: 'm_alias', scopes: ['keys:read'], rateLimit: { limit: 10, windowSeconds: 60 } });
    const result = await server.gql(`{ ${aliased(3, 'scopes { name }')} viewer { rateLimit { remaining } } }`, {}, key.secret);
    expect(result.body.data.viewer.rateLimit.remaining).toBe(6);
    expect(result.headers.get('ratelimit-remaining')).toBe('6');
  });

  it('fifteen aliased createKey on a key with ten left create nothing', async () => {
    const minter = await createKey(server, { merchantId: 'm_alias_mint', scopes: ['keys:write', 'keys:read'], rateLimit: { limit: 10, windowSeconds: 60 } });
    const mutation = `mutation { ${aliased(15, 'createKey(input: { name: "alias", type: SECRET, scopes: [] }) { key { id } }')} }`;
    const refused = await server.gql(mutation, {}, minter.secret);
    expect(refused.status).toBe(429);
    const listed = await server.gql('{ apiKeys(merchantId: "m_alias_mint") { totalCount } }');
    expect(listed.body.data.apiKeys.totalCount).toBe(1);
  });

  it('fields spread from fragments at the root count too', async () => {
    const key = await createKey(server, { merchantId: 'm_alias', rateLimit: { limit: 10, windowSeconds: 60 } });
    const result = await server.gql(`query { ...F ...F ... on Query { c: viewer { keyId } } } fragment F on Query { a: viewer { keyId } b: viewer { keyId } }`, {}, key.secret);
    expect(result.status).toBe(200);
    // F's two fields (spread twice, merged into the same response keys: counted as asked), and c.
    expect(result.headers.get('ratelimit-remaining')).toBe('5');
  });

  it('over WebSocket, an operation with several root fields counts each', async () => {
    const key = await createKey(server, { merchantId: 'm_alias', rateLimit: { limit: 4, windowSeconds: 60 } });
    const client = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${key.secret}` } });
    try {
      const run = (query: string) =>
        new Promise<{ data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> }>((resolve, reject) => {
          let result: any;
          client.subscribe({ query }, { next: (value) => (result = value), error: reject, complete: () => resolve(result) });
        });
      const ok = await run(`{ ${aliased(3, 'viewer { keyId }')} }`);
      expect(ok.errors).toBeUndefined();
      // Refused before execution: graphql-ws answers with an `error` message.
      const refused = await run(`{ ${aliased(2, 'viewer { keyId }')} }`).then(() => [], (errors: Array<{ extensions?: Record<string, unknown> }>) => errors);
      expect(refused[0]?.extensions?.code).toBe('RATE_LIMITED');
    } finally {
      await client.dispose();
    }
  });
});
