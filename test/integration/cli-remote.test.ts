import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';
import { withBadChecksum } from '../helpers/tenancy.js';

/**
 * `keys disable|enable|revoke` go through the running service's API, so its key cache drops
 * the key at once; the CLI's own key comes from KEYRING_API_KEY or --key-file only.
 */
describe('CLI through the running service', () => {
  let server: TestServer;
  let env: Record<string, string>;
  let keyFile: string;
  beforeAll(async () => {
    server = await startTestServer();
    env = { KEYRING_URL: `${server.url}/graphql`, KEYRING_API_KEY: server.adminKey };
    keyFile = join(server.dir, 'operator.key');
    writeFileSync(keyFile, `${server.adminKey}\n`, { mode: 0o600 });
  });
  afterAll(() => server?.stop());

  const status = async (key: string) => (await server.gql('{ viewer { keyId } }', {}, key)).status;

  it('disable → 401 at once, enable → works again, revoke → 401, each printed as "<id> <STATUS>"', async () => {
    const target = await createKey(server, { merchantId: 'm_cli', name: 'cached', scopes: [] });
    expect(await status(target.secret)).toBe(200); // now in the server's key cache

    const disabled = await runCli(['disable', target.id, '--reason', 'rotating laptops'], env);
    expect(disabled).toMatchObject({ code: 0, stdout: `${target.id} DISABLED\n`, stderr: '' });
    expect(await status(target.secret)).toBe(401);
    const stored = await server.gql('query($id: ID!) { apiKey(id: $id) { statusReason } }', { id: target.id });
    expect(stored.body.data.apiKey.statusReason).toBe('rotating laptops');

    const enabled = await runCli(['enable', target.id, '--key-file', keyFile], { KEYRING_URL: env.KEYRING_URL! });
    expect(enabled).toMatchObject({ code: 0, stdout: `${target.id} ACTIVE\n` });
    expect(await status(target.secret)).toBe(200);

    const revoked = await runCli(['revoke', target.id, '--json'], env);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: target.id, status: 'REVOKED', merchantId: 'm_cli' });
    expect(await status(target.secret)).toBe(401);
  });

  it('records the change as made by the CLI key, through the API', async () => {
    const target = await createKey(server, { merchantId: 'm_cli', name: 'audited', scopes: [] });
    expect((await runCli(['revoke', target.id], env)).code).toBe(0);
    await server.app.services.ledger.flush();
    const rows = await server.app.services.db.fork().getConnection().execute(
      "select type, actor_key_id, operation_name from audit_event where key_id = ? and type = 'KEY_REVOKED'",
      [target.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].operation_name).toBe('CliRevokeKey');
    expect(rows[0].actor_key_id).toMatch(/^key_/);
  });

  it.each([
    ['no key at all', ['revoke', 'key_x'], { KEYRING_API_KEY: '' }, 2, 'set KEYRING_API_KEY or pass --key-file'],
    ['a key on the command line', ['revoke', 'key_x', '--key', 'sk_test_abc'], {}, 2, 'never on the command line'],
    ['a missing key file', ['revoke', 'key_x', '--key-file', '/nonexistent/key'], {}, 2, 'Cannot read --key-file'],
    ['no id', ['disable'], {}, 2, 'The id of the key to disable is required'],
    ['a reason on enable', ['enable', 'key_x', '--reason', 'x'], {}, 2, 'Unknown option --reason'],
  ])('refuses %s (exit %i)', async (_label, args, extra, code, message) => {
    const run = await runCli(args, { ...env, ...extra });
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });

  it('reports the service refusing: unknown id (NOT_FOUND), bad key (UNAUTHENTICATED), key without scope (FORBIDDEN)', async () => {
    const missing = await runCli(['disable', 'key_doesnotexist'], env);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('error (NOT_FOUND)');

    const badKey = await runCli(['disable', 'key_x'], { ...env, KEYRING_API_KEY: withBadChecksum(server.adminKey) });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('error (UNAUTHENTICATED): Unauthenticated.');

    const reader = await createKey(server, { merchantId: 'm_cli', name: 'reader', scopes: ['keys:read'] });
    const forbidden = await runCli(['revoke', reader.id], { ...env, KEYRING_API_KEY: reader.secret });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain('error (FORBIDDEN): This action is unauthorized.');
    expect(await status(reader.secret)).toBe(200);
  });

  it('says so when the service cannot be reached (exit 1)', async () => {
    const run = await runCli(['revoke', 'key_x'], { ...env, KEYRING_URL: 'http://127.0.0.1:9/graphql' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Cannot reach the keyring service at http://127.0.0.1:9/graphql');
  });
});
