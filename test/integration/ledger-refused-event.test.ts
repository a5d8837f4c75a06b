import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { UNRECORDABLE_REASON } from '../../src/audit/event-row.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * One event the database refuses (here a trigger refuses one operation name) must not hold up
 * the events written with it or after it, and must not vanish: it is stored without its
 * free-text details, marked, in its place in the id order, and the refusal is logged.
 */
describe('an event the database refuses', () => {
  let server: TestServer;
  let key: { id: string; secret: string };

  beforeAll(async () => {
    // No timer flush during the test: the three requests' events go in one batch.
    server = await startTestServer({ env: { LEDGER_FLUSH_MS: '10000' } });
    key = await createKey(server, { merchantId: 'm_refused' });
    await server.app.services.ledger.flush();
    await server.app.services.db.fork().getConnection().execute(
      "create trigger refuse_poison before insert on audit_event when new.operation_name = 'poison' begin select raise(abort, 'refused by trigger'); end",
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is stored without its details in its place, and the events around it are stored as they were', async () => {
    const ids = ['refused-1', 'refused-2', 'refused-3', 'refused-4'];
    const names = ['before', 'poison', 'after', 'later'];
    for (const [i, name] of names.entries()) {
      expect((await server.gql(`query ${name} { viewer { keyId } }`, {}, key.secret, { 'x-request-id': ids[i]! })).status).toBe(200);
    }
    await server.app.services.ledger.flush();
    expect(server.app.services.ledger.stats.pending).toBe(0);
    const rows = await server.app.services.db.fork().find(
      AuditEventEntity,
      { type: 'KEY_USED', keyId: key.id, requestId: { $in: ids } },
      { orderBy: { id: 'asc' } },
    );
    expect(rows.map((row) => [row.requestId, row.operationName ?? null, row.reason ?? null])).toEqual([
      ['refused-1', 'before', null],
      ['refused-2', null, UNRECORDABLE_REASON],
      ['refused-3', 'after', null],
      ['refused-4', 'later', null],
    ]);
    const refusals = server.logs.filter((line) => line.includes('the database refused a ledger event'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain('refused-2');
    expect(server.logs.some((line) => line.includes('ledger flush failed'))).toBe(false);
    // The key's usage counter counts all four uses.
    const usage = await server.gql('query($id: ID!) { apiKey(id: $id) { usageCount } }', { id: key.id });
    expect(usage.body.data.apiKey.usageCount).toBe(4);
  });
});
