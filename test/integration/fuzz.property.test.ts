import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'USAGE_EXCEEDED',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'QUERY_TOO_COMPLEX',
  'PAYLOAD_TOO_LARGE',
  'BAD_REQUEST',
]);

const FIELDS = ['viewer', 'apiKey', 'apiKeys', 'scopes', 'verifyKey', 'auditEvents', 'createKey', 'updateKey', 'revokeKey', 'disableKey', 'rotateKey', 'grantCredits', '__typename', '__schema', 'nope'];
const SUBFIELDS = ['id', 'keyId', 'name', 'edges', 'node', 'totalCount', 'secret', 'key', 'status', '__typename', 'x'];
/** Cursors that look like the service's own (base64url JSON arrays of a kind and parts) with tampered parts. */
const CURSORS = fc
  .tuple(fc.constantFrom('k', 'e', 'x'), fc.array(fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.double(), fc.integer()), { maxLength: 3 }))
  .map(([kind, parts]) => JSON.stringify(Buffer.from(JSON.stringify([kind, ...parts])).toString('base64url')));
const ARG_VALUES = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
  CURSORS,
  fc.integer().map(String),
  fc.constantFrom('true', 'null', 'SECRET', '[1,2]', '{a:1}', '$v', '"key_x"', '-1', '1e999'),
);
const ARGS = fc.array(fc.tuple(fc.constantFrom('id', 'first', 'after', 'key', 'input', 'reason', 'merchantId', 'filter', 'cost', 'amount', 'zzz'), ARG_VALUES), { maxLength: 3 });

/** Documents that are almost GraphQL: right words, random shape, random arguments. */
const document = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc
    .tuple(fc.constantFrom('', 'query', 'mutation', 'subscription', 'query Q($v: String)', 'fragment F on Viewer'), fc.constantFrom(...FIELDS), ARGS, fc.array(fc.constantFrom(...SUBFIELDS), { maxLength: 4 }), fc.boolean())
    .map(([op, field, args, sub, close]) => {
      const argText = args.length ? `(${args.map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
      const body = sub.length ? ` { ${sub.join(' ')} }` : '';
      return `${op} { ${field}${argText}${body} ${close ? '}' : ''}`;
    }),
);

const credential = (keys: string[]) =>
  fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(...keys).map((k) => `Bearer ${k}`),
    fc.string({ maxLength: 60 }),
    fc.stringMatching(/^Bearer (sk|pk|tk)_(live|test)_[0-9A-Za-z]{38}$/),
    fc.constantFrom('Bearer', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'bearer  ', 'Bearer a b'),
  );

/** A value that is wrong for each field of createKey/updateKey's key policy, whatever else comes with it. */
const BAD_FIELD = fc.oneof(
  fc.record({ metadata: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()) }),
  // One byte over 4 KiB and up (the body stays under MAX_BODY_BYTES: escapes could not).
  fc.record({ metadata: fc.integer({ min: 4086, max: 4400 }).map((n) => ({ text: 'x'.repeat(n) })) }),
  fc.record({ metadata: fc.string({ maxLength: 10 }).map((text) => ({ [`k${text}`]: `a\u0000${text}` })) }),
  fc.record({
    allowedIps: fc
      .tuple(
        fc.array(fc.constantFrom('10.0.0.0/8', '2001:db8::/32', '127.0.0.1'), { maxLength: 3 }),
        fc.oneof(
          fc.string({ maxLength: 70 }).filter((text) => !/^[0-9a-fA-F.:/]+$/.test(text)),
          fc.constantFrom('1.2.3', '10.0.0.0/33', '::1/129', '127.1', 'fe80::1%eth0', '', '1.2.3.4/', '01.2.3.4', '1.2.3.4/-1', '::ffff:1.2.3.4/200'),
        ),
      )
      .map(([good, bad]) => [...good, bad]),
  }),
  fc.record({ allowedIps: fc.integer({ min: 101, max: 130 }).map((n) => Array.from({ length: n }, (_, i) => `10.${i}.0.0/16`)) }),
  fc.record({ scopes: fc.oneof(fc.constant(['admin']), fc.constant(['audit:read']), fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 3 }).map((s) => [...s, 'no-such-scope'])) }),
  fc.record({ rateLimit: fc.record({ limit: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 100_001 })), windowSeconds: fc.integer({ min: 1, max: 60 }) }) }),
  fc.record({ rateLimit: fc.record({ limit: fc.integer({ min: 1, max: 10 }), windowSeconds: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 86_401 })) }) }),
  fc.record({ expiresAt: fc.constantFrom('2001-01-01T00:00:00Z', '2026-13-01T00:00:00Z', 'tomorrow', '2030-01-01') }),
  fc.record({ name: fc.constantFrom('', '<b>', 'a'.repeat(101), 'x\u0000y', 'bidi\u202e') }),
);
/** Fields that are fine on their own, to ride along with a bad one. */
const GOOD_FIELDS = fc.record(
  { name: fc.constant('renamed'), metadata: fc.constant({ ok: true }), allowedIps: fc.constant(['192.0.2.0/24']), scopes: fc.constant(['keys:read']) },
  { requiredKeys: [] },
);

describe('hostile input (property-based)', () => {
  let server: TestServer;
  let readOnly: string;
  let victimId: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '1000000', MAX_BODY_BYTES: '5000' } });
    readOnly = (await createKey(server, { merchantId: 'fuzz', scopes: ['keys:read', 'audit:read'], rateLimit: { limit: 100000, windowSeconds: 60 } })).secret;
    victimId = (await createKey(server, { merchantId: 'fuzz', name: 'victim' })).id;
  });
  afterAll(() => server?.stop());

  it('answers every random request without a 5xx, with a coded error, and changes nothing', async () => {
    const request = fc.record({
      method: fc.constantFrom('POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH'),
      query: document,
      variables: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 3 })),
      authorization: credential([readOnly]),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/graphql', '', 'multipart/form-data'),
      rawBody: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
      extraHeader: fc.constantFrom('x-api-key', 'x-request-id', 'apollo-require-preflight', 'accept'),
      extraValue: fc.string({ maxLength: 80 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.authorization !== undefined && /^[\x20-\x7e]*$/.test(r.authorization)) headers.authorization = r.authorization;
        headers[r.extraHeader] = r.extraValue;
        let url = `${server.url}/graphql`;
        let body: string | undefined;
        if (r.method === 'GET') {
          url += `?query=${encodeURIComponent(r.query)}${r.variables !== undefined ? `&variables=${encodeURIComponent(JSON.stringify(r.variables))}` : ''}`;
        } else {
          body = r.rawBody ?? JSON.stringify({ query: r.query, variables: r.variables });
        }
        const res = await fetch(url, { method: r.method, headers, body });
        const text = await res.text();
        expect(res.status, text).toBeLessThan(500);
        expect(res.headers.get('x-request-id')).toBeTruthy();
        if ((res.headers.get('content-type') ?? '').includes('json')) {
          const parsed = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> };
          for (const error of parsed.errors ?? []) expect(CODES, text).toContain(error.extensions?.code);
        } else if (res.status >= 400) {
          throw new Error(`error response that is not JSON: ${res.status} ${text.slice(0, 200)}`);
        }
      }),
      { numRuns: 300, seed: Number(process.env.FUZZ_SEED ?? 20261123) },
    );
    // nothing it should keep has changed, and the server is still up
    const after = await server.gql('query($id: ID!) { apiKey(id: $id) { status } apiKeys(merchantId: "fuzz") { totalCount } }', { id: victimId });
    expect(after.status).toBe(200);
    expect(after.body.data.apiKey.status).toBe('ACTIVE');
    expect(after.body.data.apiKeys.totalCount).toBe(2);
  });

  it('refuses every bad key policy (metadata, allowlist, scopes, limits, expiry, name) on create and update with a code, changing nothing', async () => {
    const writer = (await createKey(server, { merchantId: 'fuzz_policy', scopes: ['keys:read', 'keys:write', 'keys:verify'], rateLimit: { limit: 100000, windowSeconds: 60 } })).secret;
    const target = await createKey(server, { merchantId: 'fuzz_policy', name: 'target', metadata: { v: 1 }, rateLimit: { limit: 100000, windowSeconds: 60 } });
    const revoked = await createKey(server, { merchantId: 'fuzz_policy', name: 'revoked' });
    await server.gql('mutation($id: ID!) { revokeKey(id: $id) { id } }', { id: revoked.id });
    const foreign = await createKey(server, { merchantId: 'fuzz_other', name: 'foreign' });
    const READ = 'query($m: String!) { apiKeys(merchantId: $m, first: 100) { totalCount edges { node { id name metadata scopes allowedIps rateLimit { limit } expiresAt updatedAt } } } }';
    const snapshot = async () => JSON.stringify([(await server.gql(READ, { m: 'fuzz_policy' })).body.data, (await server.gql(READ, { m: 'fuzz_other' })).body.data]);
    const before = await snapshot();
    const call = fc.record({
      mutation: fc.constantFrom('create', 'update'),
      id: fc.constantFrom(target.id, revoked.id, foreign.id, 'key_nosuchkey', ''),
      bad: BAD_FIELD,
      good: GOOD_FIELDS,
      asAdmin: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(call, async ({ mutation, id, bad, good, asAdmin }) => {
        // Scopes within the catalogue are bad only for a caller that does not hold them: admin grants anything.
        fc.pre(!(asAdmin && 'scopes' in bad && !(bad.scopes as readonly string[]).includes('no-such-scope')));
        const fields = { ...good, ...bad };
        const result =
          mutation === 'create'
            ? await server.gql('mutation($input: CreateKeyInput!) { createKey(input: $input) { secret } }', { input: { type: 'SECRET', name: 'fuzzed', scopes: [], ...fields, merchantId: 'fuzz_policy' } }, asAdmin ? server.adminKey : writer)
            : await server.gql('mutation($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { id } }', { id, input: fields }, asAdmin ? server.adminKey : writer);
        expect(result.status, JSON.stringify(result.body)).toBeLessThan(500);
        const code = result.body.errors?.[0]?.extensions.code;
        expect(['BAD_USER_INPUT', 'FORBIDDEN', 'NOT_FOUND'], JSON.stringify({ fields, body: result.body })).toContain(code);
        if (code === 'BAD_USER_INPUT') expect(result.body.errors![0]!.extensions.fields.length).toBeGreaterThan(0);
      }),
      { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? 20261202) },
    );
    expect(await snapshot()).toBe(before);

    // verifyKey's context.ip: anything at all is a verification or BAD_USER_INPUT, never a 5xx.
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 60 }), fc.ipV4(), fc.ipV6(), fc.constantFrom('::ffff:10.0.0.1', '10.0.0.1/8', ' 10.0.0.1')), async (ip) => {
        const result = await server.gql('query($key: String!, $ip: String) { verifyKey(key: $key, context: { ip: $ip }) { valid code } }', { key: target.secret, ip }, writer);
        expect(result.status).toBeLessThan(500);
        if (result.body.errors) expect(result.body.errors[0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['context.ip'] });
        else expect(result.body.data.verifyKey).toEqual({ valid: true, code: 'VALID' });
      }),
      { numRuns: 100, seed: Number(process.env.FUZZ_SEED ?? 20261202) },
    );
  });
});

/** Integers around every bound the credits inputs have, and far outside them. */
const COUNT = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(30, 31, 32, 999, 1000, 1001, 999_999_999, 1_000_000_000, 1_000_000_001, -2_147_483_648, 2_147_483_647));

describe('credits inputs (property-based)', () => {
  let server: TestServer;
  let writer: string;
  let target: { id: string; secret: string };
  let updated: { id: string; secret: string };
  beforeAll(async () => {
    server = await startTestServer();
    writer = (await createKey(server, { merchantId: 'fuzzc', scopes: ['keys:write', 'keys:read', 'keys:verify'] })).secret;
    target = await createKey(server, { merchantId: 'fuzzc', name: 'target', credits: { remaining: 10 } });
    updated = await createKey(server, { merchantId: 'fuzzc', name: 'updated', credits: { remaining: 10 } });
  });
  afterAll(() => server?.stop());

  it('refuses exactly the credits, costs and grants out of bounds, naming every field, and changes nothing on refusal', async () => {
    const input = fc.record({
      remaining: COUNT,
      refill: fc.option(fc.record({ amount: COUNT, interval: fc.constantFrom('DAILY', 'MONTHLY'), anchorDay: fc.option(COUNT, { nil: undefined }) }), { nil: undefined }),
      cost: COUNT,
      grant: COUNT,
    });
    await fc.assert(
      fc.asyncProperty(input, async ({ remaining, refill, cost, grant }) => {
        const expected: string[] = [];
        if (remaining < 0 || remaining > 1_000_000_000) expected.push('input.credits.remaining');
        if (refill && (refill.amount < 1 || refill.amount > 1_000_000_000)) expected.push('input.credits.refill.amount');
        if (refill?.anchorDay != null && (refill.anchorDay < 1 || refill.anchorDay > 31 || refill.interval === 'DAILY')) expected.push('input.credits.refill.anchorDay');
        const created = await server.gql('mutation($input: CreateKeyInput!) { createKey(input: $input) { key { id credits { remaining } } } }', {
          input: { merchantId: 'fuzzc', name: 'fuzzed', type: 'SECRET', scopes: [], credits: { remaining, refill } },
        }, writer);
        expect(created.status).toBeLessThan(500);
        if (expected.length > 0) {
          expect(created.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: expected });
        } else {
          expect(created.body.data.createKey.key.credits.remaining).toBe(remaining);
        }
        // updateKey takes the same credits input, and refuses it the same way, changing nothing.
        const previous = (await server.gql('query($id: ID!) { apiKey(id: $id) { credits { remaining } } }', { id: updated.id }, writer)).body.data.apiKey.credits;
        const update = await server.gql('mutation($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { credits { remaining } } }', {
          id: updated.id,
          input: { credits: { remaining, refill } },
        }, writer);
        expect(update.status).toBeLessThan(500);
        if (expected.length > 0) {
          expect(update.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: expected });
          const after = (await server.gql('query($id: ID!) { apiKey(id: $id) { credits { remaining } } }', { id: updated.id }, writer)).body.data.apiKey.credits;
          expect(after).toEqual(previous);
        } else {
          expect(update.body.data.updateKey.credits.remaining).toBe(remaining);
        }

        const verified = await server.gql('query($key: String!, $cost: Int) { verifyKey(key: $key, cost: $cost) { code credits } }', { key: target.secret, cost: 0 }, writer);
        expect(verified.body.data.verifyKey.code).toBe('VALID');
        const costly = await server.gql('query($key: String!, $cost: Int) { verifyKey(key: $key, cost: $cost) { code credits } }', { key: 'sk_test_x', cost }, writer);
        if (cost < 0 || cost > 1000) expect(costly.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['cost'] });
        else expect(costly.body.data.verifyKey.code).toBe('MALFORMED');

        const before = (await server.gql('query($id: ID!) { apiKey(id: $id) { credits { remaining } } }', { id: target.id }, writer)).body.data.apiKey.credits.remaining;
        const granted = await server.gql('mutation($id: ID!, $amount: Int!) { grantCredits(id: $id, amount: $amount) { credits { remaining } } }', { id: target.id, amount: grant }, writer);
        if (grant < 1 || grant > 1_000_000_000 || before + grant > 1_000_000_000) {
          expect(granted.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['amount'] });
          const after = (await server.gql('query($id: ID!) { apiKey(id: $id) { credits { remaining } } }', { id: target.id }, writer)).body.data.apiKey.credits.remaining;
          expect(after).toBe(before);
        } else {
          expect(granted.body.data.grantCredits.credits.remaining).toBe(before + grant);
        }
      }),
      { numRuns: 60, seed: Number(process.env.FUZZ_SEED ?? 20261202) },
    );
  });
});
