import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/** Contract §9.5: refusal rows grow with the distinct client addresses per minute, never with the number of requests. */
describe('refusal rows', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '1000000', RATE_LIMIT: '100000' } });
  });
  afterAll(() => server?.stop());

  const rowsOf = async (where: Record<string, unknown>) => {
    await server.app.services.ledger.flush();
    return server.app.services.db.fork().find(AuditEventEntity, where, { orderBy: { id: 'asc' } });
  };
  const accounted = (rows: AuditEventEntity[]) => rows.reduce((sum, row) => sum + (row.metadata?.summary === true ? (row.metadata.count as number) : 1), 0);

  it('300 bad keys from one address leave one AUTH_FAILED row per reason at once, then one summary with the count', async () => {
    const before = await rowsOf({ type: 'AUTH_FAILED' });
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => server.gql('{ viewer { keyId } }', {}, i % 2 ? generateKey('SECRET', 'LIVE') : 'sk_live_garbage')),
    );
    expect(answers.every((answer) => answer.status === 401)).toBe(true);
    const during = (await rowsOf({ type: 'AUTH_FAILED' })).slice(before.length);
    expect(during.map((row) => row.reason).sort()).toEqual(['MALFORMED', 'NOT_FOUND']);
    expect(during.every((row) => row.ip === '127.0.0.1' && row.requestId !== null)).toBe(true);

    server.app.services.ledger.closeRefusalWindows();
    const after = (await rowsOf({ type: 'AUTH_FAILED' })).slice(before.length);
    expect(after).toHaveLength(4);
    const summaries = after.filter((row) => row.metadata?.summary === true);
    expect(summaries.map((row) => [row.reason, row.metadata!.count])).toEqual(
      expect.arrayContaining([
        ['MALFORMED', 149],
        ['NOT_FOUND', 149],
      ]),
    );
    expect(accounted(after)).toBe(300);
    expect(summaries.every((row) => row.requestId === null && typeof row.metadata!.from === 'string')).toBe(true);
  });

  it("a key's refusals over its limit fold the same way, and the ones that were served each keep their KEY_USED", async () => {
    const key = await createKey(server, { merchantId: 'm_fold', rateLimit: { limit: 10, windowSeconds: 60 } });
    const answers = await Promise.all(Array.from({ length: 110 }, () => server.gql('{ viewer { keyId } }', {}, key.secret)));
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(100);
    server.app.services.ledger.closeRefusalWindows();
    const limited = await rowsOf({ type: 'RATE_LIMITED', keyId: key.id });
    expect(limited).toHaveLength(2);
    expect(accounted(limited)).toBe(100);
    expect(await rowsOf({ type: 'KEY_USED', keyId: key.id })).toHaveLength(10);
  });

  it('a SIGTERM-style stop writes the pending summaries: nothing is lost', async () => {
    const own = await startTestServer({ env: { IP_RATE_LIMIT: '1000000' } });
    const db = own.app.services.db;
    for (let i = 0; i < 20; i++) await own.gql('{ viewer { keyId } }', {}, 'sk_live_garbage');
    const ledger = own.app.services.ledger;
    // stop() flushes the ledger; read through a fresh fork before the database closes.
    let rows: AuditEventEntity[] = [];
    const originalStop = ledger.stop.bind(ledger);
    ledger.stop = async () => {
      await originalStop();
      rows = await db.fork().find(AuditEventEntity, { type: 'AUTH_FAILED' });
    };
    await own.stop();
    expect(rows).toHaveLength(2);
    expect(accounted(rows)).toBe(20);
  });
});
