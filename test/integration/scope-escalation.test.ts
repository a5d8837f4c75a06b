import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { CREATE_KEY, createKey, startTestServer, type TestServer } from '../helpers/server.js';

/** A key can only grant scopes it holds itself; `admin` grants anything, for any merchant. */
describe('no scope escalation', () => {
  let server: TestServer;
  let writer: { id: string; secret: string };
  beforeAll(async () => {
    server = await startTestServer({ env: { KEYRING_SCOPES: 'transaction.read=Read transactions' } });
    writer = await createKey(server, { merchantId: 'm_esc', name: 'writer', scopes: ['keys:read', 'keys:write', 'transaction.read'] });
  });
  afterAll(() => server?.stop());

  const create = (scopes: string[], requestId: string, key = writer.secret) =>
    server.gql(CREATE_KEY, { input: { name: 'child', type: 'SECRET', scopes } }, key, { 'x-request-id': requestId });

  it('grants a subset of its own scopes, in its own merchant by default', async () => {
    const result = await create(['keys:read', 'transaction.read'], 'escalate-subset');
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.createKey.key).toMatchObject({ merchantId: 'm_esc', scopes: ['keys:read', 'transaction.read'] });
  });

  it.each([
    ['a built-in scope it lacks', ['keys:read', 'audit:read']],
    ['admin', ['admin']],
    ['keys:verify alone', ['keys:verify']],
  ])('refuses granting %s: FORBIDDEN, HTTP 200, ACCESS_DENIED recorded', async (_label, scopes) => {
    const requestId = `escalate-${scopes.join('-').replace(/:/g, '.')}`;
    const result = await create(scopes, requestId);
    expect(result.status).toBe(200);
    expect(result.body.errors![0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN', requestId } });
    await server.app.services.ledger.flush();
    const denied = await server.app.services.db.fork().findOne(AuditEventEntity, { requestId, type: 'ACCESS_DENIED' });
    expect(denied).toMatchObject({ reason: 'scope escalation', actorKeyId: writer.id, merchantId: 'm_esc' });
  });

  it('refuses rotating a key that holds more than the caller', async () => {
    const wider = await createKey(server, { merchantId: 'm_esc', name: 'wider', scopes: ['keys:read', 'audit:read'] });
    const result = await server.gql('mutation($id: ID!) { rotateKey(id: $id) { secret } }', { id: wider.id }, writer.secret);
    expect(result.body.errors![0]!.extensions.code).toBe('FORBIDDEN');
    expect((await server.gql('{ viewer { keyId } }', {}, wider.secret)).status).toBe(200);
  });

  it('lets admin grant anything to any merchant, including admin itself', async () => {
    const result = await server.gql(CREATE_KEY, { input: { merchantId: 'm_new', name: 'ops', type: 'SECRET', scopes: ['admin', 'audit:read'] } });
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.createKey.key).toMatchObject({ merchantId: 'm_new', scopes: ['admin', 'audit:read'] });
  });

  it('lists only its own merchant when no merchantId is given; admin sees every merchant', async () => {
    const query = '{ apiKeys(first: 100) { totalCount edges { node { merchantId } } } }';
    const own = await server.gql(query, {}, writer.secret);
    expect(new Set(own.body.data.apiKeys.edges.map((edge: any) => edge.node.merchantId))).toEqual(new Set(['m_esc']));
    const all = await server.gql(query);
    expect(new Set(all.body.data.apiKeys.edges.map((edge: any) => edge.node.merchantId))).toEqual(new Set(['platform', 'm_esc', 'm_new']));
  });
});
