import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId merchantId admin } }';

async function events(server: TestServer) {
  await server.app.services.ledger.flush();
  const rows = await server.app.services.db.fork().find(AuditEventEntity, {}, { orderBy: { id: 'asc' } });
  return rows.map((row) => ({ id: Number(row.id), type: row.type, keyId: row.keyId ?? null, requestId: row.requestId ?? null }));
}

/** Stopping and starting on the same SQLite file keeps keys and events and mints no second admin key. */
describe('restart on the same file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-restart-'));
  const running: TestServer[] = [];
  afterAll(async () => {
    for (const server of running) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keys and events survive; no second admin key is printed; the old admin key still works', async () => {
    const first = await startTestServer({ dir });
    running.push(first);
    const admin = first.adminKey;
    expect(admin).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
    const secret = await createKey(first, { merchantId: 'm_restart', name: 'survivor', scopes: ['keys:read'] });
    const publicKey = await createKey(first, { merchantId: 'm_restart', name: 'browser', type: 'PUBLIC', scopes: [] });
    const revoked = await createKey(first, { merchantId: 'm_restart', name: 'gone', scopes: [] });
    await first.gql('mutation($id: ID!) { revokeKey(id: $id) { id } }', { id: revoked.id });
    expect((await first.gql(VIEWER, {}, secret.secret, { 'x-request-id': 'restart-before' })).status).toBe(200);
    const before = await events(first);
    expect(before.map((event) => event.type)).toEqual(expect.arrayContaining(['KEY_CREATED', 'KEY_REVOKED', 'KEY_USED']));
    await first.stop();

    const second = await startTestServer({ dir });
    running.push(second);
    expect(second.adminKey).toBe(''); // onAdminKey was not called

    const asAdmin = await second.gql(VIEWER, {}, admin);
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.data.viewer).toMatchObject({ merchantId: 'platform', admin: true });
    const asKey = await second.gql(VIEWER, {}, secret.secret, { 'x-request-id': 'restart-after' });
    expect(asKey.body.data.viewer).toMatchObject({ keyId: secret.id, merchantId: 'm_restart' });
    expect((await second.gql(VIEWER, {}, revoked.secret)).status).toBe(401);

    await second.app.services.ledger.flush();
    const listed = await second.gql('{ apiKeys(first: 100) { totalCount edges { node { id name status value usageCount } } } }', {}, admin);
    expect(listed.body.data.apiKeys.totalCount).toBe(4);
    const byId = new Map(listed.body.data.apiKeys.edges.map((edge: any) => [edge.node.id, edge.node]));
    expect(byId.get(revoked.id)).toMatchObject({ status: 'REVOKED' });
    expect(byId.get(publicKey.id)).toMatchObject({ value: publicKey.secret });
    expect(byId.get(secret.id)).toMatchObject({ usageCount: 2, value: null }); // one use before the restart, one after;
    const admins = listed.body.data.apiKeys.edges.filter((edge: any) => edge.node.name === 'Admin key');
    expect(admins).toHaveLength(1);

    const after = await events(second);
    expect(after.slice(0, before.length)).toEqual(before); // every old event, unchanged, same ids
    const added = after.slice(before.length);
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((event) => event.id > before.at(-1)!.id)).toBe(true);
    expect(added.some((event) => event.requestId === 'restart-after' && event.type === 'KEY_USED')).toBe(true);
    // exactly one KEY_CREATED for an admin key, ever
    const adminCreated = after.filter((event) => event.type === 'KEY_CREATED' && event.keyId === asAdmin.body.data.viewer.keyId);
    expect(adminCreated).toHaveLength(1);
  });
});
