import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Every authenticated request leaves one KEY_USED event with its request id, ip and
 * operation name, whatever its outcome; a refused credential leaves AUTH_FAILED instead,
 * and introspection without a key leaves nothing.
 */
describe('KEY_USED for every authenticated request', () => {
  let server: TestServer;
  let reader: { id: string; secret: string };
  beforeAll(async () => {
    server = await startTestServer();
    reader = await createKey(server, { merchantId: 'm_used', name: 'reader', scopes: ['keys:read'] });
  });
  afterAll(() => server?.stop());

  const send = (requestId: string, init: { method?: string; body?: string; search?: string; key?: string | null; type?: string }) =>
    fetch(`${server.url}/graphql${init.search ?? ''}`, {
      method: init.method ?? 'POST',
      headers: {
        'x-request-id': requestId,
        ...(init.body !== undefined ? { 'content-type': init.type ?? 'application/json' } : {}),
        ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? reader.secret}` }),
      },
      body: init.body,
    });

  const cases: Array<[string, Parameters<typeof send>[1], number, string | null]> = [
    ['a named query', { body: '{"query":"query Mine { viewer { keyId } }"}' }, 200, 'Mine'],
    ['an anonymous query', { body: '{"query":"{ viewer { keyId } }"}' }, 200, 'viewer'],
    ['a query over GET', { method: 'GET', search: '?query=query%20ByGet%7Bviewer%7BkeyId%7D%7D' }, 200, 'ByGet'],
    ['a refused scope', { body: '{"query":"mutation Nope { revokeKey(id: \\"x\\") { id } }"}' }, 200, 'Nope'],
    ['bad input', { body: '{"query":"{ apiKeys(first: 1000) { totalCount } }"}' }, 200, 'apiKeys'],
    ['a mutation over GET', { method: 'GET', search: '?query=mutation%20M%7BrevokeKey(id%3A%22x%22)%7Bid%7D%7D' }, 405, null],
    ['an unknown field', { body: '{"query":"{ nothing }"}' }, 400, null],
    ['a syntax error', { body: '{"query":"{ viewer {"}' }, 400, null],
    ['a body that is not JSON', { body: '{"query":' }, 400, null],
  ];

  it.each(cases)('%s', async (label, init, status, operationName) => {
    const requestId = `used-${label.replace(/\W+/g, '-')}`;
    const res = await send(requestId, init);
    expect(res.status).toBe(status);
    await res.text();
    await server.app.services.ledger.flush();
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { requestId });
    expect(rows.map((row) => row.type)).toContain('KEY_USED');
    const used = rows.find((row) => row.type === 'KEY_USED')!;
    expect(used).toMatchObject({ keyId: reader.id, actorKeyId: reader.id, merchantId: 'm_used', ip: '127.0.0.1' });
    if (operationName) expect(used.operationName).toBe(operationName);
    expect(rows.filter((row) => row.type === 'KEY_USED')).toHaveLength(1);
  });

  it('a refused credential leaves AUTH_FAILED and no KEY_USED; introspection without a key leaves nothing', async () => {
    await (await send('used-refused', { body: '{"query":"{ viewer { keyId } }"}', key: `${reader.secret}x` })).text();
    await (await send('used-introspection', { body: '{"query":"{ __schema { queryType { name } } }"}', key: null })).text();
    await server.app.services.ledger.flush();
    const em = server.app.services.db.fork();
    expect((await em.find(AuditEventEntity, { requestId: 'used-refused' })).map((row) => row.type)).toEqual(['AUTH_FAILED']);
    expect(await em.count(AuditEventEntity, { requestId: 'used-introspection' })).toBe(0);
  });
});
