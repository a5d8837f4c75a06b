import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFeed, type FeedClient } from '../helpers/feed.js';
import { CREATE_KEY, createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

/**
 * Errors carry what a client maps by: a code for every refusal (armor's limits included) and,
 * for BAD_USER_INPUT, the field path of each problem in `extensions.fields`, at the same index
 * as its sentence in `extensions.errors`.
 */
describe('coded errors', () => {
  let server: TestServer;
  const feeds: FeedClient[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { MAX_QUERY_DEPTH: '4', MAX_QUERY_COST: '200', MAX_TOKENS: '200' } });
  });
  afterAll(async () => {
    await Promise.all(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  describe('extensions.fields', () => {
    it('names the input field of every problem of createKey, in the order of extensions.errors', async () => {
      const result = await server.gql(CREATE_KEY, {
        input: { merchantId: 'bad mid!', name: '<b>', type: 'SECRET', scopes: ['nope'], expiresAt: '2001-01-01T00:00:00Z', rateLimit: { limit: 0, windowSeconds: 0 } },
      });
      const extensions = result.body.errors![0]!.extensions;
      expect(extensions.code).toBe('BAD_USER_INPUT');
      expect(extensions.fields).toEqual(['input.merchantId', 'input.name', 'input.scopes', 'input.expiresAt', 'input.rateLimit.limit', 'input.rateLimit.windowSeconds']);
      expect(extensions.errors).toHaveLength(extensions.fields.length);
      expect(extensions.errors[1]).toBe('name must not contain < or >.');
    });

    it.each([
      ['a reason', 'mutation($id: ID!) { disableKey(id: $id, reason: "a<b") { status } }', ['reason']],
      ['a page size', '{ apiKeys(first: -1) { totalCount } }', ['first']],
      ['an apiKeys merchant', '{ apiKeys(merchantId: "no way") { totalCount } }', ['merchantId']],
      ['an audit filter', '{ auditEvents(filter: { keyId: "no way" }) { totalCount } }', ['filter.keyId']],
      ['an audit range', '{ auditEvents(filter: { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }) { totalCount } }', ['filter.from']],
      ['an audit cursor', '{ auditEvents(after: "01") { totalCount } }', ['after']],
      ['required scopes', '{ verifyKey(key: "sk_test_x", requiredScopes: ["nope"]) { valid } }', ['requiredScopes']],
    ])('names %s', async (_label, query, fields) => {
      const key = await createKey(server, { merchantId: 'm_fields' });
      const result = await server.gql(query, { id: key.id });
      expect(result.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields });
    });

    it('is null where graphql-js found the problem (it names the field in prose only)', async () => {
      const result = await server.gql('{ apiKeys(status: GONE) { totalCount } }');
      expect(result.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: [null], errors: [expect.any(String)] });
    });

    it('names the subscription’s own arguments over WebSocket', async () => {
      const feed = openFeed(server, server.adminKey, { merchantId: 'no way' });
      feeds.push(feed);
      await waitFor(() => feed.errors.length > 0);
      expect(feed.errors[0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['merchantId'] });
    });
  });

  describe('QUERY_TOO_COMPLEX from armor’s own hooks', () => {
    const deep = '{ apiKeys { edges { node { rateLimit { limit } } } } }';
    const costly = '{ apiKeys(first: 100) { totalCount edges { cursor node { id name scopes prefix last4 } } } }';
    const aliased = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: viewer { keyId }`).join(' ')} }`;
    const directed = `{ viewer ${Array.from({ length: 25 }, () => '@include(if: true)').join(' ')} { keyId } }`;
    const long = `{ viewer { ${Array.from({ length: 300 }, () => 'keyId').join(' ')} } }`;
    const cases: Array<[string, string, RegExp]> = [
      ['too deep', deep, /^Query depth limit of 4 exceeded/],
      ['too costly', costly, /^Query Cost limit of 200 exceeded/],
      ['too many aliases', aliased, /^Aliases limit of 15 exceeded/],
      ['too many directives', directed, /^Directives limit of 20 exceeded/],
      ['too many tokens', long, /^Token limit of 200 exceeded\.$/],
    ];

    it.each(cases)('%s over HTTP: 400, coded, no "Syntax Error"', async (_label, query, message) => {
      const result = await server.gql(query);
      expect(result.status).toBe(400);
      expect(result.body.data).toBeUndefined();
      // (repeating one directive also breaks graphql-js's own uniqueness rule; the limit comes first)
      expect(result.body.errors![0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code: 'QUERY_TOO_COMPLEX' } });
      expect(result.body.errors![0]!.extensions.requestId).toBe(result.headers.get('x-request-id'));
    });

    it.each(cases)('%s over WebSocket: the same code, on an open socket', async (_label, query, message) => {
      // graphql-ws runs queries too: the limits apply before any operation is executed.
      const feed = openFeed(server, server.adminKey, {}, undefined, query);
      feeds.push(feed);
      await waitFor(() => feed.errors.length > 0);
      expect(feed.errors[0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code: 'QUERY_TOO_COMPLEX' } });
      expect([null, 1000]).toContain(feed.closeCode);
    });

    it('a syntax error within the token cap stays BAD_REQUEST', async () => {
      const result = await server.gql('{ viewer { keyId }');
      expect(result.status).toBe(400);
      expect(result.body.errors![0]!.extensions.code).toBe('BAD_REQUEST');
    });
  });
});
