import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/** A plain GET as curl sends it: no header but Authorization (and the Host that HTTP/1.1 needs). */
function bareGet(url: string, authorization: string): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { authorization } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP transport', () => {
  let server: TestServer;
  let reader: string;
  beforeAll(async () => {
    server = await startTestServer();
    reader = (await createKey(server, { merchantId: 'm_http', name: 'reader', scopes: ['keys:read'] })).secret;
  });
  afterAll(() => server?.stop());
  const graphqlUrl = () => `${server.url}/graphql`;

  it('opening /graphql in a browser shows the Apollo Sandbox landing page', async () => {
    const res = await fetch(graphqlUrl(), { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).toMatch(/sandbox/i);
  });

  it('introspection works without a key, over POST and GET', async () => {
    const posted = await server.gql('{ __schema { queryType { name } types { name } } }', {}, null);
    expect(posted.status).toBe(200);
    expect(posted.body.data.__schema.queryType.name).toBe('Query');
    expect(posted.body.data.__schema.types.map((t: any) => t.name)).toEqual(expect.arrayContaining(['ApiKey', 'DateTime', 'JSONObject']));
    const got = await fetch(`${graphqlUrl()}?query=${encodeURIComponent('{ __type(name: "ApiKey") { name } }')}`);
    expect(got.status).toBe(200);
    expect(((await got.json()) as any).data.__type.name).toBe('ApiKey');
  });

  it('GET ?query={viewer{__typename}} works with only an Authorization header', async () => {
    const res = await bareGet(`${graphqlUrl()}?query={viewer{__typename}}`, `Bearer ${server.adminKey}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { viewer: { __typename: 'Viewer' } } });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('refuses a mutation over GET with 405', async () => {
    const query = encodeURIComponent('mutation { revokeKey(id: "key_nothing") { id } }');
    const res = await fetch(`${graphqlUrl()}?query=${query}`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    expect(res.status).toBe(405);
    const body = (await res.json()) as any;
    expect(body.errors[0].extensions.requestId).toBe(res.headers.get('x-request-id'));
    expect(body.data).toBeUndefined();
  });

  it('healthz answers alive and readyz checks the database', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: true });
    expect((await fetch(`${server.url}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('every response carries X-Request-Id; a well-formed incoming one is echoed, anything else replaced', async () => {
    const responses = await Promise.all([
      fetch(`${server.url}/healthz`),
      fetch(`${server.url}/readyz`),
      fetch(`${server.url}/nowhere`),
      fetch(graphqlUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ viewer { keyId } }"}' }),
      fetch(graphqlUrl(), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }),
      fetch(graphqlUrl(), { method: 'PUT' }),
    ]);
    const ids = responses.map((res) => res.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
    const echoed = await server.gql('{ viewer { keyId } }', {}, server.adminKey, { 'x-request-id': 'trace-0123456789' });
    expect(echoed.headers.get('x-request-id')).toBe('trace-0123456789');
    const replaced = await server.gql('{ viewer { keyId } }', {}, server.adminKey, { 'x-request-id': 'bad id with spaces' });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('every error carries extensions.requestId, equal to the X-Request-Id header', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(graphqlUrl(), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}`, ...headers }, body });
    const cases: Array<[string, Promise<Response>, string]> = [
      ['no key', post('{"query":"{ viewer { keyId } }"}', { authorization: '' }), 'UNAUTHENTICATED'],
      ['missing scope', post('{"query":"mutation { revokeKey(id: \\"x\\") { id } }"}', { authorization: `Bearer ${reader}` }), 'FORBIDDEN'],
      ['bad input', post('{"query":"mutation { createKey(input: { name: \\"<\\", type: SECRET, scopes: [] }) { secret } }"}'), 'BAD_USER_INPUT'],
      ['no such key', post('{"query":"mutation { disableKey(id: \\"key_missing\\") { id } }"}'), 'NOT_FOUND'],
      ['syntax error', post('{"query":"{ viewer { "}'), 'BAD_REQUEST'],
      ['unknown field', post('{"query":"{ nothing }"}'), 'BAD_REQUEST'],
      ['body not JSON', post('{"query": '), 'BAD_REQUEST'],
      ['body too large', post(JSON.stringify({ query: `{ viewer { keyId } } # ${'x'.repeat(200_000)}` })), 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [label, pending, code] of cases) {
      const res = await pending;
      const body = (await res.json()) as any;
      expect(body.errors?.length, label).toBeGreaterThan(0);
      for (const error of body.errors) {
        expect(error.extensions.code, label).toBe(code);
        expect(error.extensions.requestId, label).toBe(res.headers.get('x-request-id'));
        expect(error.extensions.stacktrace, label).toBeUndefined();
      }
    }
  });
});
