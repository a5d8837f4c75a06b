import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { runCli } from '../helpers/cli.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const READ = 'query($id: ID!) { apiKey(id: $id) { name metadata scopes allowedIps expiresAt rateLimit { limit windowSeconds } } }';

/** `keys create --metadata --allow-ip` (on the database) and `keys update` (through the running service). */
describe('CLI: metadata, allowlists and update', () => {
  let server: TestServer;
  let db: Record<string, string>;
  let remote: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer();
    db = { DATABASE_URL: `sqlite:${server.dbFile}` };
    remote = { KEYRING_URL: `${server.url}/graphql`, KEYRING_API_KEY: server.adminKey };
  });
  afterAll(() => server?.stop());

  const keyIdOf = async (secret: string) => (await server.gql('{ viewer { keyId } }', {}, secret)).body.data.viewer.keyId as string;

  it('create takes --metadata and --allow-ip, normalised as the API does', async () => {
    const run = await runCli(['create', '--merchant', 'm_cli', '--name', 'gateway', '--scopes', '', '--metadata', '{"plan":"pro","seats":5}', '--allow-ip', '127.0.0.1, 2001:DB8::/32'], db);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const id = await keyIdOf(run.stdout.trim());
    expect((await server.gql(READ, { id })).body.data.apiKey).toMatchObject({ metadata: { plan: 'pro', seats: 5 }, allowedIps: ['127.0.0.1', '2001:db8::/32'] });
  });

  it('create refuses bad metadata and every malformed address, by flag', async () => {
    const run = await runCli(['create', '--merchant', 'm_cli', '--name', 'bad', '--scopes', '', '--metadata', '[1,2]', '--allow-ip', '10.0.0.1,nope,10.0.0.0/40'], db);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('--metadata must be a JSON object');
    expect(run.stderr).toContain('--allow-ip entry 2 is not an IPv4 or IPv6 address or CIDR range.');
    expect(run.stderr).toContain('--allow-ip entry 3 is not an IPv4 or IPv6 address or CIDR range.');
    const big = await runCli(['create', '--merchant', 'm_cli', '--name', 'big', '--scopes', '', '--metadata', JSON.stringify({ x: 'y'.repeat(5000) })], db);
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('--metadata must be at most 4096 bytes as JSON.');
  });

  it('update changes the fields given through the service, clears with null/never/any, and takes effect at once', async () => {
    const key = await createKey(server, { merchantId: 'm_cli', name: 'before', metadata: { a: 1 }, expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    const changed = await runCli(['update', key.id, '--name', 'after', '--metadata', '{"b":2}', '--allow-ip', '10.0.0.0/8', '--rate-limit', '50/60', '--scopes', 'keys:read'], remote);
    expect(changed).toMatchObject({ code: 0, stdout: `${key.id} after\n`, stderr: '' });
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(403);
    expect((await server.gql(READ, { id: key.id })).body.data.apiKey).toMatchObject({
      name: 'after',
      metadata: { b: 2 },
      allowedIps: ['10.0.0.0/8'],
      scopes: ['keys:read'],
      rateLimit: { limit: 50, windowSeconds: 60 },
    });
    const cleared = await runCli(['update', key.id, '--metadata', 'null', '--expires-at', 'never', '--allow-ip', 'any', '--json'], remote);
    expect(cleared.code).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ id: key.id, metadata: null, expiresAt: null, allowedIps: [] });
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    const credited = await runCli(['update', key.id, '--credits', '2/monthly:15', '--json'], remote);
    expect(JSON.parse(credited.stdout).credits).toMatchObject({ remaining: 2, refill: { amount: 2, interval: 'MONTHLY', anchorDay: 15 } });
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(429);
    expect((await runCli(['update', key.id, '--credits', 'null', '--json'], remote)).stdout).toContain('"credits": null');
    expect((await server.gql('{ viewer { keyId } }', {}, key.secret)).status).toBe(200);
    expect((await runCli(['update', key.id, '--credits', '5/weekly'], remote)).stderr).toContain('--credits must be N, N/daily, N/monthly or N/monthly:DAY');
    await server.app.services.ledger.flush();
    const events = await server.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_UPDATED', keyId: key.id }, { orderBy: { id: 'asc' } });
    expect(events.map((event) => [event.operationName, event.metadata?.changed])).toEqual([
      ['CliUpdateKey', ['name', 'metadata', 'scopes', 'rateLimit', 'allowedIps']],
      ['CliUpdateKey', ['metadata', 'expiresAt', 'allowedIps']],
      ['CliUpdateKey', ['credits']],
      ['CliUpdateKey', ['credits']],
    ]);
  });

  it('update reports every problem by flag (exit 2), refusals by code (exit 1), and needs something to change', async () => {
    const key = await createKey(server, { merchantId: 'm_cli' });
    const bad = await runCli(['update', key.id, '--name', '<x>', '--allow-ip', '1.2.3.4,bad', '--scopes', 'nope'], remote);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toContain('error (BAD_USER_INPUT): --name must not contain < or >.');
    expect(bad.stderr).toContain('--allow-ip entry 2 is not an IPv4 or IPv6 address or CIDR range.');
    expect(bad.stderr).toContain('Invalid scope value.');
    expect((await runCli(['update', key.id, '--metadata', 'nope'], remote)).stderr).toContain('--metadata must be a JSON object');
    expect((await runCli(['update', key.id], remote)).stderr).toContain('Nothing to change');
    expect((await runCli(['update', 'key_doesnotexist', '--name', 'x'], remote)).stderr).toContain('error (NOT_FOUND)');
    const writer = await createKey(server, { merchantId: 'm_cli', scopes: ['keys:write'] });
    const escalation = await runCli(['update', key.id, '--scopes', 'audit:read'], { ...remote, KEYRING_API_KEY: writer.secret });
    expect(escalation).toMatchObject({ code: 1 });
    expect(escalation.stderr).toContain('error (FORBIDDEN)');
    expect((await server.gql(READ, { id: key.id })).body.data.apiKey).toMatchObject({ name: 'test key', scopes: [] });
  });
});
