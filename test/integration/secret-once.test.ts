import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';
import { withBadChecksum } from '../helpers/tenancy.js';

const KEY_FIELDS = 'id type value prefix last4';

/**
 * A SECRET key's value is returned once, by the mutation that made it, and lives nowhere
 * after: not in any query, event, log line, or byte of the database files.
 */
describe('a secret is returned once', () => {
  let server: TestServer;
  const secrets: Array<{ id: string; secret: string }> = [];
  const responses: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    secrets.push({ id: '', secret: server.adminKey });
    const a = await createKey(server, { merchantId: 'm_secret', name: 'backend', scopes: ['keys:read', 'keys:write'], environment: 'LIVE' });
    const b = await createKey(server, { merchantId: 'm_secret', name: 'worker', scopes: ['keys:read'] });
    secrets.push(a, b);
    const rotated = await server.gql('mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 60) { secret key { id value } } }', { id: b.id });
    expect(rotated.body.data.rotateKey.key.value).toBeNull();
    secrets.push({ id: rotated.body.data.rotateKey.key.id, secret: rotated.body.data.rotateKey.secret });
    // Use every key, in both header forms, and once as a malformed variant.
    for (const { secret } of secrets) {
      responses.push(JSON.stringify((await server.gql(`{ viewer { keyId key { ${KEY_FIELDS} } } }`, {}, secret)).body));
      const viaHeader = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': secret },
        body: JSON.stringify({ query: 'query UseIt { viewer { keyId } }' }),
      });
      expect(viaHeader.status).toBe(200);
      expect((await server.gql('{ viewer { keyId } }', {}, withBadChecksum(secret))).status).toBe(401);
    }
    await server.app.services.ledger.flush();
  });
  afterAll(() => server?.stop());

  const leaks = (text: string | Buffer) =>
    secrets.filter(({ secret }) => text.includes(secret) || text.includes(secret.slice(8, 40))).map(({ secret }) => secret.slice(0, 12));

  it('the create payload is the only place the value appears; value is null for SECRET keys on every read', async () => {
    for (const { id } of secrets.slice(1)) {
      const one = await server.gql(`query($id: ID!) { apiKey(id: $id) { ${KEY_FIELDS} } }`, { id });
      expect(one.body.data.apiKey).toMatchObject({ id, type: 'SECRET', value: null });
      responses.push(JSON.stringify(one.body));
    }
    const all = await server.gql(`{ apiKeys(first: 100) { edges { node { ${KEY_FIELDS} } } } }`);
    expect(all.body.data.apiKeys.edges.length).toBe(secrets.length);
    for (const { node } of all.body.data.apiKeys.edges) expect(node.value).toBeNull();
    responses.push(JSON.stringify(all.body));
    expect(leaks(responses.join('\n'))).toEqual([]);
  });

  it('no event row holds it', async () => {
    const rows = await server.app.services.db.fork().find(AuditEventEntity, {});
    expect(rows.map((row) => row.type)).toEqual(expect.arrayContaining(['KEY_CREATED', 'KEY_ROTATED', 'KEY_USED', 'AUTH_FAILED']));
    expect(leaks(JSON.stringify(rows))).toEqual([]);
  });

  it('no log line holds it', () => {
    expect(server.logs.length).toBeGreaterThan(secrets.length * 3);
    expect(leaks(server.logs.join('\n'))).toEqual([]);
  });

  it('no byte of the SQLite file or its WAL holds it, before and after the final checkpoint', async () => {
    const files = () => [server.dbFile, `${server.dbFile}-wal`].filter(existsSync).map((file) => readFileSync(file));
    // Control: the search finds a PUBLIC key's value, which is meant to be stored.
    const published = await createKey(server, { merchantId: 'm_secret', name: 'browser', type: 'PUBLIC', scopes: [] });
    expect(files().some((bytes) => bytes.includes(published.secret))).toBe(true);
    for (const bytes of files()) expect(leaks(bytes)).toEqual([]);
    const digestRow = await server.app.services.db.fork().getConnection().execute('select digest from api_key limit 1');
    expect(digestRow[0].digest).toMatch(/^[0-9a-f]{64}$/); // what is stored instead
    await server.stop();
    for (const bytes of files()) expect(leaks(bytes)).toEqual([]);
  });
});
