import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { pruneUsageRollups } from '../../src/audit/retention.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const KEY_USAGE = /* GraphQL */ `
  query Usage($keyIds: [ID!]!, $from: DateTime!, $to: DateTime!, $granularity: UsageGranularity) {
    keyUsage(keyIds: $keyIds, from: $from, to: $to, granularity: $granularity) {
      keyId
      total { valid }
      buckets { start }
    }
  }
`;
const HOUR = 3_600_000;
const FROM = Date.UTC(2026, 10, 1);
const iso = (ms: number) => new Date(ms).toISOString();

/** Contract §9.3: keyUsage's bounds, each a BAD_USER_INPUT naming every problem, and its tenancy (as for apiKey). */
describe('keyUsage input and tenancy', () => {
  let server: TestServer;
  let keys: Array<{ id: string; secret: string }>;
  let reader: { id: string; secret: string };
  let other: { id: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer();
    keys = [];
    for (let i = 0; i < 101; i += 20) keys.push(...(await Promise.all(Array.from({ length: Math.min(20, 101 - i) }, () => createKey(server, { merchantId: 'm_bounds' })))));
    reader = await createKey(server, { merchantId: 'm_bounds', scopes: ['keys:read'] });
    other = await createKey(server, { merchantId: 'm_other', scopes: ['keys:read'] });
  });
  afterAll(() => server?.stop());

  const ask = (variables: Record<string, unknown>, key = server.adminKey) =>
    server.gql(KEY_USAGE, { keyIds: [keys[0]!.id], from: iso(FROM), to: iso(FROM + HOUR), ...variables }, key);
  const refusal = (answer: Awaited<ReturnType<typeof ask>>) => {
    expect(answer.body.data).toBeNull();
    const [error] = answer.body.errors!;
    return { code: error!.extensions.code, fields: error!.extensions.fields };
  };

  it('answers 100 keys, and refuses 101', async () => {
    const hundred = await ask({ keyIds: keys.slice(0, 100).map((key) => key.id) });
    expect(hundred.body.data.keyUsage).toHaveLength(100);
    expect(refusal(await ask({ keyIds: keys.map((key) => key.id) }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['keyIds'] });
  });

  it.each([
    ['MINUTE', 60_000, 1_440],
    ['HOUR', HOUR, 744],
    ['DAY', 24 * HOUR, 400],
  ])('answers %s ranges of up to their bound of buckets, and refuses one more', async (granularity, step, bound) => {
    const atBound = await ask({ granularity, to: iso(FROM + bound * step) });
    expect(atBound.body.data.keyUsage[0].buckets).toHaveLength(bound);
    expect(refusal(await ask({ granularity, to: iso(FROM + bound * step + 1) }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['to'] });
  });

  it('counts the buckets from the one that holds an unaligned from', async () => {
    const answer = await ask({ from: iso(FROM + 30 * 60_000), to: iso(FROM + 2 * HOUR) });
    expect(answer.body.data.keyUsage[0].buckets.map((bucket: { start: string }) => bucket.start)).toEqual([iso(FROM), iso(FROM + HOUR)]);
  });

  it('refuses a range that is empty or backwards', async () => {
    expect(refusal(await ask({ to: iso(FROM) }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['to'] });
    expect(refusal(await ask({ to: iso(FROM - HOUR) }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['to'] });
  });

  it('names every problem at once', async () => {
    const answer = await ask({ keyIds: keys.map((key) => key.id), granularity: 'MINUTE', to: iso(FROM + 2_000 * 60_000) });
    expect(refusal(answer)).toEqual({ code: 'BAD_USER_INPUT', fields: ['keyIds', 'to'] });
    expect(answer.body.errors![0]!.extensions.errors).toHaveLength(2);
  });

  it('refuses malformed and repeated key ids, and answers NOT_FOUND for a key that does not exist', async () => {
    expect(refusal(await ask({ keyIds: ['not a key id!'] }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['keyIds'] });
    expect(refusal(await ask({ keyIds: [keys[0]!.id, keys[0]!.id] }))).toEqual({ code: 'BAD_USER_INPUT', fields: ['keyIds'] });
    expect(refusal(await ask({ keyIds: [keys[0]!.id, 'no_such_key'] })).code).toBe('NOT_FOUND');
  });

  it("answers an empty list with an empty list", async () => {
    expect((await ask({ keyIds: [] })).body.data.keyUsage).toEqual([]);
  });

  it("lets a merchant's key read its merchant's keys only: another merchant's key is FORBIDDEN, and recorded", async () => {
    const own = await ask({ keyIds: [keys[0]!.id, reader.id] }, reader.secret);
    expect(own.body.data.keyUsage.map((usage: { keyId: string }) => usage.keyId)).toEqual([keys[0]!.id, reader.id]);
    expect(refusal(await ask({ keyIds: [keys[0]!.id] }, other.secret)).code).toBe('FORBIDDEN');
    expect(refusal(await ask({ keyIds: [other.id, keys[0]!.id] }, other.secret)).code).toBe('FORBIDDEN');
    await server.app.services.ledger.flush();
    const denied = await server.app.services.db.fork().find(AuditEventEntity, { type: 'ACCESS_DENIED', keyId: other.id });
    expect(denied.map((event) => event.metadata?.operation)).toEqual(['keyUsage', 'keyUsage']);
    // The admin key reads any merchant's.
    expect((await ask({ keyIds: [other.id, keys[0]!.id] })).body.data.keyUsage).toHaveLength(2);
  });

  it('needs keys:read', async () => {
    expect(refusal(await ask({ keyIds: [keys[0]!.id] }, keys[1]!.secret)).code).toBe('FORBIDDEN');
  });

  it('keeps rollups 400 days, whatever the raw events do', async () => {
    const key = keys[2]!;
    const now = Date.now();
    const ledger = server.app.services.ledger;
    ledger.append({ type: 'KEY_USED', keyId: key.id, occurredAt: new Date(now - 401 * 24 * HOUR) });
    ledger.append({ type: 'KEY_USED', keyId: key.id, occurredAt: new Date(now - 399 * 24 * HOUR) });
    await ledger.flush();
    const window = { keyIds: [key.id] };
    const total = async (granularity: string, from: number) =>
      (await ask({ ...window, granularity, from: iso(from), to: iso(from + 399 * 24 * HOUR) })).body.data.keyUsage[0].total.valid;
    expect(await total('DAY', now - 402 * 24 * HOUR)).toBe(2);
    expect(await pruneUsageRollups(server.app.services.db, new Date(now))).toBeGreaterThanOrEqual(3);
    expect(await total('DAY', now - 402 * 24 * HOUR)).toBe(1);
    expect((await ask({ ...window, granularity: 'HOUR', from: iso(now - 399 * 24 * HOUR - HOUR), to: iso(now - 399 * 24 * HOUR + HOUR) })).body.data.keyUsage[0].total.valid).toBe(1);
  });
});
