import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** OWASP API4:2023 Unrestricted Resource Consumption: abusive documents are refused before execution. */
describe('API4 unrestricted resource consumption', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const expectTooComplex = (result: Awaited<ReturnType<TestServer['gql']>>) => {
    expect(result.status).toBe(400);
    expect(result.body.data).toBeUndefined();
    expect(result.body.errors![0]!.extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(result.body.errors![0]!.extensions.requestId).toBeTypeOf('string');
  };

  it('refuses a query nested deeper than MAX_QUERY_DEPTH', async () => {
    const shallow = await startTestServer({ env: { MAX_QUERY_DEPTH: '3' } });
    try {
      const ok = await shallow.gql('{ viewer { key { id } } }');
      expect(ok.status).toBe(200);
      expect(ok.body.errors).toBeUndefined();
      expectTooComplex(await shallow.gql('{ apiKeys { edges { node { rateLimit { limit } } } } }'));
    } finally {
      await shallow.stop();
    }
  });

  it('refuses a query over the cost limit', async () => {
    const costly = await startTestServer({ env: { MAX_QUERY_COST: '20' } });
    try {
      expectTooComplex(await costly.gql('{ apiKeys { edges { node { id name scopes prefix last4 rateLimit { limit windowSeconds } } } } }'));
    } finally {
      await costly.stop();
    }
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: viewer { keyId }`).join(' ');
    expectTooComplex(await server.gql(`{ ${aliases} }`));
  });

  it('refuses too many directives', async () => {
    const directives = Array.from({ length: 50 }, () => '@include(if: true)').join(' ');
    expectTooComplex(await server.gql(`{ viewer ${directives} { keyId } }`));
  });

  it('refuses too many tokens', async () => {
    const fields = Array.from({ length: 2500 }, () => 'keyId').join(' ');
    expectTooComplex(await server.gql(`{ viewer { ${fields} } }`));
  });

  it('refuses a body over the size cap with 413 and a code', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` },
      body: JSON.stringify({ query: `{ viewer { keyId } }`, variables: { pad: 'x'.repeat(200_000) } }),
    });
    expect(res.status).toBe(413);
    const body = (await res.json()) as any;
    expect(body.errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a streamed body (no Content-Length) once it passes the size cap, with 413 and a code', async () => {
    const chunk = new TextEncoder().encode(`{"query":"{ viewer { keyId } }","variables":{"pad":"${'x'.repeat(64_000)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // About 1 MB in all, far past the cap, unless the server stops reading first.
        if (sent++ < 16) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses batched array bodies unless enabled', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` },
      body: JSON.stringify([{ query: '{ viewer { keyId } }' }, { query: '{ viewer { keyId } }' }]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('caps page sizes at 100', async () => {
    const result = await server.gql('{ apiKeys(first: 101) { totalCount } }');
    expect(result.body.errors![0]!.extensions.code).toBe('BAD_USER_INPUT');
  });
});
