import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_KEY, startTestServer, type TestServer } from '../helpers/server.js';

const PROBLEMS = {
  mid: 'merchantId must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -.',
  empty: 'name must not be empty.',
  long: 'name must be at most 100 characters.',
  angle: 'name must not contain < or >.',
  scope: 'Invalid scope value.',
  past: 'expiresAt must be in the future.',
  limit: 'rateLimit.limit must be an integer from 1 to 100000.',
  window: 'rateLimit.windowSeconds must be an integer from 1 to 86400.',
};
const PAST = '2001-01-01T00:00:00.000Z';

/** Invalid input is BAD_USER_INPUT with the first problem as message and every problem in extensions.errors. */
describe('input validation', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const create = (input: Record<string, unknown>) =>
    server.gql(CREATE_KEY, { input: { merchantId: 'm_valid', name: 'ok', type: 'SECRET', scopes: ['keys:read'], ...input } });

  const expectBadInput = (result: Awaited<ReturnType<typeof create>>, problems: string[]) => {
    expect([200, 400]).toContain(result.status);
    expect(result.body.errors).toHaveLength(1);
    const [error] = result.body.errors!;
    expect(error!.extensions.code).toBe('BAD_USER_INPUT');
    expect(error!.extensions.errors).toEqual(problems);
    expect(error!.message).toBe(problems[0]);
    expect(error!.extensions.requestId).toEqual(result.headers.get('x-request-id'));
    expect(result.body.data?.createKey ?? null).toBeNull();
  };

  it('lists every problem of one request at once (variables)', async () => {
    const result = await create({
      merchantId: 'bad mid!',
      name: '<script>',
      scopes: ['keys:read', 'keys:reed'],
      expiresAt: PAST,
      rateLimit: { limit: 0, windowSeconds: 86_401 },
    });
    expect(result.status).toBe(200);
    expectBadInput(result, [PROBLEMS.mid, PROBLEMS.angle, PROBLEMS.scope, PROBLEMS.past, PROBLEMS.limit, PROBLEMS.window]);
  });

  it('lists every problem of one request at once (inline literals)', async () => {
    const result = await server.gql(`mutation {
      createKey(input: { merchantId: "", name: "", type: PUBLIC, scopes: ["nope"], rateLimit: { limit: 100001, windowSeconds: 0 } }) { secret }
    }`);
    expectBadInput(result, [PROBLEMS.mid, PROBLEMS.empty, PROBLEMS.scope, PROBLEMS.limit, PROBLEMS.window]);
  });

  it.each([
    ['an empty name', { name: '' }, PROBLEMS.empty],
    ['a blank name', { name: '   ' }, PROBLEMS.empty],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, PROBLEMS.long],
    ['a name with <', { name: 'a<b' }, PROBLEMS.angle],
    ['a name with >', { name: 'a>b' }, PROBLEMS.angle],
    ['an unknown scope', { scopes: ['keys:read', 'payments:write'] }, PROBLEMS.scope],
    ['a merchant id with a space', { merchantId: 'acme corp' }, PROBLEMS.mid],
    ['a merchant id of 65 characters', { merchantId: 'm'.repeat(65) }, PROBLEMS.mid],
    ['an empty merchant id', { merchantId: '' }, PROBLEMS.mid],
    ['rateLimit.limit 0', { rateLimit: { limit: 0, windowSeconds: 60 } }, PROBLEMS.limit],
    ['rateLimit.limit 100001', { rateLimit: { limit: 100_001, windowSeconds: 60 } }, PROBLEMS.limit],
    ['rateLimit.windowSeconds 0', { rateLimit: { limit: 10, windowSeconds: 0 } }, PROBLEMS.window],
    ['rateLimit.windowSeconds 86401', { rateLimit: { limit: 10, windowSeconds: 86_401 } }, PROBLEMS.window],
    ['expiresAt in the past', { expiresAt: PAST }, PROBLEMS.past],
    ['expiresAt now', { expiresAt: new Date(Date.now() - 1).toISOString() }, PROBLEMS.past],
  ])('refuses %s', async (_label, input, problem) => {
    expectBadInput(await create(input), [problem]);
  });

  it('accepts the limits themselves', async () => {
    for (const input of [
      { name: 'n'.repeat(100) },
      { rateLimit: { limit: 1, windowSeconds: 1 } },
      { rateLimit: { limit: 100_000, windowSeconds: 86_400 } },
      { expiresAt: new Date(Date.now() + 60_000).toISOString(), merchantId: 'M'.repeat(64) },
    ]) {
      const result = await create(input);
      expect(result.body.errors, JSON.stringify(input)).toBeUndefined();
    }
  });

  it.each([
    ['an unknown type (variable)', () => create({ type: 'MASTER' })],
    ['an unknown environment (variable)', () => create({ environment: 'PROD' })],
    ['an unknown type (inline enum literal)', () => server.gql('mutation { createKey(input: { name: "x", type: MASTER, scopes: [] }) { secret } }')],
    ['a type given as a string literal', () => server.gql('mutation { createKey(input: { name: "x", type: "SECRET", scopes: [] }) { secret } }')],
    ['an unknown status filter', () => server.gql('{ apiKeys(status: GONE) { totalCount } }')],
    ['a date-time that is not ISO 8601 (variable)', () => create({ expiresAt: 'tomorrow' })],
    ['a date-time without a zone (inline literal)', () => server.gql('mutation { createKey(input: { name: "x", type: SECRET, scopes: [], expiresAt: "2030-01-01T00:00:00" }) { secret } }')],
    ['a fractional limit', () => create({ rateLimit: { limit: 1.5, windowSeconds: 60 } })],
  ])('answers %s with BAD_USER_INPUT', async (_label, send) => {
    const result = await send();
    expect([200, 400]).toContain(result.status);
    for (const error of result.body.errors!) {
      expect(error.extensions.code).toBe('BAD_USER_INPUT');
      expect(error.extensions.errors).toEqual([expect.any(String)]);
      expect(error.extensions.requestId).toBe(result.headers.get('x-request-id'));
    }
  });

  it('refused requests created nothing', async () => {
    const listed = await server.gql('{ apiKeys(first: 100) { edges { node { name } } } }');
    const names = listed.body.data.apiKeys.edges.map((edge: any) => edge.node.name);
    expect(names.filter((name: string) => name !== 'ok' && name !== 'n'.repeat(100) && name !== 'Admin key')).toEqual([]);
  });
});
