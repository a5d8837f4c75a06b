import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { databasesToTest } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

/**
 * Text that PostgreSQL cannot store (NUL; a lone surrogate in jsonb) must never reach it: as
 * input it is refused with its code, and in an event (an operation name sent over WebSocket is
 * the client's own text) it is replaced, so that one such row cannot fail its batch on every
 * retry and hold up every event behind it. SQLite behaves the same, so clients see one service.
 */
const databases = await databasesToTest('unstorable-text');

const NUL = '\u0000';
const LONE = '\uD800';

/** Subscribes over graphql-ws with this operation name; resolves with what came back first. */
async function subscribeNamed(server: TestServer, operationName: string): Promise<unknown> {
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${server.adminKey}` },
    retryAttempts: 0,
  });
  try {
    return await new Promise((resolve) => {
      client.subscribe(
        { query: 'subscription { auditEvents(types: [KEY_DISABLED]) { id } }', operationName },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      );
    });
  } finally {
    await client.dispose();
  }
}

describe.each(databases)('text no backend can store, on %s', (database) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ database });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('an operation name with NUL or a lone surrogate over WebSocket is recorded with U+FFFD, and later events still land', async () => {
    const answer = await subscribeNamed(server, `evil${NUL}op${LONE}`);
    // The document has one operation and the name matches none of it: graphql-ws's client gets an error.
    expect(JSON.stringify(answer)).toContain('Unable to identify operation');
    const key = await createKey(server, { merchantId: 'm_text' });
    const disabled = await server.gql('mutation($id: ID!) { disableKey(id: $id) { status } }', { id: key.id });
    expect(disabled.body.data).toEqual({ disableKey: { status: 'DISABLED' } });
    await server.app.services.ledger.flush();
    expect(server.app.services.ledger.stats.pending).toBe(0);
    const events = await waitFor(async () => {
      const page = await server.gql('{ auditEvents(first: 100, filter: { types: [KEY_USED, KEY_DISABLED] }) { edges { node { type keyId operationName metadata } } } }');
      const nodes = page.body.data?.auditEvents.edges.map((edge: { node: Record<string, unknown> }) => edge.node) ?? [];
      return nodes.some((node: { type: string; keyId: string }) => node.type === 'KEY_DISABLED' && node.keyId === key.id) ? nodes : null;
    });
    const named = events.find((node: { operationName: string | null }) => node.operationName?.startsWith('evil'));
    expect(named).toMatchObject({ type: 'KEY_USED', operationName: 'evil\uFFFDop\uFFFD', metadata: { transport: 'websocket' } });
    expect(server.logs.some((line) => line.includes('ledger flush failed'))).toBe(false);
  });

  it.each([
    ['a key name with NUL', 'mutation($n: String!) { createKey(input: { name: $n, merchantId: "m_text", type: SECRET, scopes: ["keys:read"] }) { key { id } } }', { n: `a${NUL}b` }, 'name must not contain NUL characters.'],
    ['a disable reason with NUL', 'mutation($id: ID!, $r: String) { disableKey(id: $id, reason: $r) { status } }', { r: `bad${NUL}` }, 'reason must not contain NUL characters.'],
    ['a revoke reason with NUL', 'mutation($id: ID!, $r: String) { revokeKey(id: $id, reason: $r) { status } }', { r: `bad${NUL}` }, 'reason must not contain NUL characters.'],
    ['a keyId filter with NUL', 'query { auditEvents(filter: { keyId: "k\\u0000" }) { edges { cursor } } }', {}, 'keyId is not a key id.'],
  ])('%s is BAD_USER_INPUT', async (_case, query, variables, message) => {
    const key = await createKey(server, { merchantId: 'm_text' });
    const result = await server.gql(query, { id: key.id, ...variables });
    expect(result.body.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    // Nothing changed: the key is as it was.
    expect((await server.gql('query($id: ID!) { apiKey(id: $id) { status } }', { id: key.id })).body.data).toEqual({ apiKey: { status: 'ACTIVE' } });
  });

  it.each([`key_${NUL}`, 'key with spaces', 'k'.repeat(41)])('an id outside the key id shape (%j) names no key', async (id) => {
    expect((await server.gql('query($id: ID!) { apiKey(id: $id) { id } }', { id })).body).toEqual({ data: { apiKey: null } });
    for (const mutation of ['enableKey(id: $id) { id }', 'disableKey(id: $id) { id }', 'revokeKey(id: $id) { id }', 'rotateKey(id: $id) { key { id } }']) {
      const result = await server.gql(`mutation($id: ID!) { ${mutation} }`, { id });
      expect(result.body.errors?.[0]?.extensions.code, mutation).toBe('NOT_FOUND');
    }
  });
});
