import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import { runCli } from '../helpers/cli.js';
import { CREATE_KEY, createKey, startTestServer, type TestServer } from '../helpers/server.js';

const INVISIBLE_NAME = 'name must not contain control, bidi-override or zero-width characters.';
const INVISIBLE_REASON = 'reason must not contain control, bidi-override or zero-width characters.';

/** Contract §9.5: free text shows what it says, and a cursor is read back only in the shape it was written. */
describe('free text and cursors', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const badInput = (result: Awaited<ReturnType<TestServer['gql']>>, message: string) => {
    expect(result.status).toBe(200);
    expect(result.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(result.body.errors?.[0]?.message).toBe(message);
  };

  it.each([
    ['an ANSI escape', 'red\u001b[31m'],
    ['a tab', 'a\tb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control (CSI)', 'a\u009b2J'],
    ['a right-to-left override', 'invoice\u202egpj.exe'],
    ['a bidi isolate', 'a\u2067b'],
    ['a zero-width space', 'ad\u200bmin'],
    ['a zero-width joiner', 'a\u200db'],
    ['a byte order mark', '\ufeffname'],
  ])('a key name with %s is refused, and nothing is created', async (_label, name) => {
    const before = await server.gql('{ apiKeys(merchantId: "m_text") { totalCount } }');
    const result = await server.gql(CREATE_KEY, { input: { merchantId: 'm_text', name, type: 'SECRET', scopes: [] } });
    badInput(result, INVISIBLE_NAME);
    const after = await server.gql('{ apiKeys(merchantId: "m_text") { totalCount } }');
    expect(after.body.data.apiKeys.totalCount).toBe(before.body.data.apiKeys.totalCount);
  });

  it('names in other scripts, with accents and emoji, are still fine', async () => {
    const result = await server.gql(CREATE_KEY, { input: { merchantId: 'm_text', name: 'Zahlungen Müller — 東京 ✓ 🔑', type: 'SECRET', scopes: [] } });
    expect(result.body.errors).toBeUndefined();
  });

  it.each([
    ['disableKey', 'mutation($id: ID!, $r: String) { disableKey(id: $id, reason: $r) { status } }'],
    ['revokeKey', 'mutation($id: ID!, $r: String) { revokeKey(id: $id, reason: $r) { status } }'],
  ])('a %s reason with a terminal escape is refused, and the key is unchanged', async (_field, mutation) => {
    const { id } = await createKey(server, { merchantId: 'm_text' });
    badInput(await server.gql(mutation, { id, r: 'bye\u001b]0;pwned\u0007' }), INVISIBLE_REASON);
    badInput(await server.gql(mutation, { id, r: 'ok\u202e' }), INVISIBLE_REASON);
    const key = await server.gql('query($id: ID!) { apiKey(id: $id) { status } }', { id });
    expect(key.body.data.apiKey.status).toBe('ACTIVE');
  });

  it('keys list prints a name stored by other means with its escapes visible, never raw', async () => {
    const { id } = await createKey(server, { merchantId: 'm_cli', name: 'plain' });
    // As if written before the rule existed, or by another tool on the same database.
    const em = server.app.services.db.fork();
    await em.nativeUpdate(ApiKeyEntity, { id }, { name: 'evil\u001b[2J\u009b31m\u202eeman' });
    const env = { DATABASE_URL: `sqlite:${server.dbFile}` };
    for (const args of [['list', '--merchant', 'm_cli'], ['list', '--merchant', 'm_cli', '--json']]) {
      const run = await runCli(args, env);
      expect(run.code).toBe(0);
      expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(run.stdout).toContain('evil\\u001b[2J\\u009b31m\\u202eeman');
    }
  });

  const first = async () => {
    await createKey(server, { merchantId: 'm_page' });
    await createKey(server, { merchantId: 'm_page' });
    const page = await server.gql('{ apiKeys(merchantId: "m_page", first: 1) { pageInfo { endCursor } } }');
    return page.body.data.apiKeys.pageInfo.endCursor as string;
  };
  const cursorOf = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

  it('a genuine cursor still pages', async () => {
    const after = await first();
    const next = await server.gql('query($a: String) { apiKeys(merchantId: "m_page", first: 1, after: $a) { edges { node { id } } } }', { a: after });
    expect(next.body.errors).toBeUndefined();
    expect(next.body.data.apiKeys.edges).toHaveLength(1);
  });

  it.each([
    ['a non-numeric time', ['k', 'yesterday', 'key_x']],
    ['a fractional time', ['k', 1.5, 'key_x']],
    ['a time past 2^53', ['k', 1e300, 'key_x']],
    ['a numeric id', ['k', 1_700_000_000_000, 42]],
    ['an empty id', ['k', 1_700_000_000_000, '']],
    ['an object', ['k', { $gt: 0 }, 'key_x']],
    ['the wrong kind', ['e', 1_700_000_000_000, 'key_x']],
    ['too few parts', ['k', 1_700_000_000_000]],
  ])('an apiKeys cursor with %s is BAD_USER_INPUT (never SQL, never a 500)', async (_label, parts) => {
    const result = await server.gql('query($a: String) { apiKeys(merchantId: "m_page", after: $a) { totalCount } }', { a: cursorOf(parts) });
    badInput(result, 'after is not a valid cursor.');
  });

  it.each(['not base64 at all!', '', '%%%', 'W10'])('the cursor %j is BAD_USER_INPUT', async (after) => {
    const result = await server.gql('query($a: String) { apiKeys(merchantId: "m_page", after: $a) { totalCount } }', { a: after });
    if (after === '') {
      // An empty cursor means "from the start", as it always has.
      expect(result.body.errors).toBeUndefined();
    } else {
      badInput(result, 'after is not a valid cursor.');
    }
  });

  it.each(['abc', '-1', '1.5', '01', ' 1'])('an auditEvents cursor %j is BAD_USER_INPUT', async (after) => {
    const result = await server.gql('query($a: String) { auditEvents(after: $a) { totalCount } }', { a: after });
    expect(result.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});
