import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { runCli, runNpmKeys } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SECRET_LINE = /^sk_test_[0-9A-Za-z]{38}\n$/;

/** `keys create` and `keys list` work on the database itself, next to a running server on the same file. */
describe('CLI on the database', () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer();
    env = { DATABASE_URL: `sqlite:${server.dbFile}` };
  });
  afterAll(() => server?.stop());

  const viewer = (key: string) => server.gql('{ viewer { keyId merchantId name scopes type environment } }', {}, key);

  it('create prints only the new key, which then authenticates against the server', async () => {
    const run = await runCli(['create', '--merchant', 'acme', '--name', 'Acme backend', '--scopes', 'keys:read,keys:verify'], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(SECRET_LINE);
    const key = run.stdout.trim();
    const used = await viewer(key);
    expect(used.status).toBe(200);
    expect(used.body.data.viewer).toMatchObject({ merchantId: 'acme', name: 'Acme backend', scopes: ['keys:read', 'keys:verify'], type: 'SECRET', environment: 'TEST' });

    const created = await server.app.services.db
      .fork()
      .findOne(AuditEventEntity, { type: 'KEY_CREATED', keyId: used.body.data.viewer.keyId });
    expect(created).toMatchObject({ merchantId: 'acme', actorKeyId: null, metadata: { via: 'cli' } });
  });

  it('takes type, environment, expiry and rate limit', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const run = await runCli(
      ['create', '--merchant', 'acme', '--name', 'Browser', '--scopes', '', '--type', 'public', '--env', 'live', '--expires-at', expiresAt, '--rate-limit', '100/60'],
      env,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^pk_live_[0-9A-Za-z]{38}\n$/);
    const keyId = (await viewer(run.stdout.trim())).body.data.viewer.keyId;
    const stored = await server.gql('query($id: ID!) { apiKey(id: $id) { value expiresAt scopes rateLimit { limit windowSeconds } } }', { id: keyId });
    expect(stored.body.data.apiKey).toEqual({ value: run.stdout.trim(), expiresAt, scopes: [], rateLimit: { limit: 100, windowSeconds: 60 } });
  });

  it('refuses bad input with every problem on stderr (BAD_USER_INPUT), nothing on stdout, exit 2', async () => {
    const run = await runCli(
      ['create', '--merchant', 'bad mid', '--name', '<b>', '--scopes', 'keys:read,nope', '--type', 'master', '--rate-limit', '0/86401', '--expires-at', '2001-01-01T00:00:00Z'],
      env,
    );
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines.every((line) => line.startsWith('keys create: error (BAD_USER_INPUT): '))).toBe(true);
    expect(lines.map((line) => line.replace(/^.*?: .*?: /, ''))).toEqual([
      '--type must be one of secret, public, tokenization.',
      '--merchant must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -.',
      '--name must not contain < or >.',
      'Invalid scope value: --scopes names nope; valid scopes are keys:read, keys:write, keys:verify, audit:read, leaks:report, webhooks:read, webhooks:write, admin.',
      '--expires-at must be in the future.',
      '--rate-limit N must be an integer from 1 to 100000.',
      '--rate-limit SECONDS must be an integer from 1 to 86400.',
    ]);
  });

  it.each([
    [['create', '--name', 'x', '--scopes', 'keys:read'], '--merchant is required.'],
    [['create', '--merchant', 'acme', '--name', 'a<b', '--scopes', 'keys:read'], 'error (BAD_USER_INPUT): --name must not contain < or >.'],
    // Refused by the service itself: the unknown scope is named, with the valid ones.
    [['create', '--merchant', 'acme', '--name', 'x', '--scopes', 'keys:read,nope'], 'error (BAD_USER_INPUT): Invalid scope value: --scopes names nope; valid scopes are keys:read, keys:write'],
    [['create', '--merchant', 'acme', '--name'], '--name needs a value.'],
    [['create', '--merchant', 'acme', '--name', 'x', '--scopes', 'a', '--rate-limit', 'lots'], '--rate-limit must be N/SECONDS'],
    [['create', '--merchant', 'acme', '--name', 'x', '--scopes', 'a', '--colour', 'red'], 'Unknown option --colour'],
    [['create', '--merchant', 'acme', '--key', 'sk_test_x'], 'KEYRING_API_KEY'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [[], 'Usage: keys <command>'],
  ])('keys %j exits 2 with a clear error', async (args, message) => {
    const run = await runCli(args, env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });

  it.each([[['--help']], [['help']], [['help', 'create']], [['create', '--help']], [['list', '-h']], [['revoke', '--help']], [['disable', '--help']], [['enable', '--help']]])(
    'keys %j prints help on stdout and exits 0',
    async (args) => {
      const run = await runCli(args, env);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^Usage: keys /);
    },
  );

  it('list shows keys by merchant, as a table or JSON, never a secret value', async () => {
    const json = await runCli(['list', '--merchant', 'acme', '--json'], env);
    expect(json.code).toBe(0);
    const keys = JSON.parse(json.stdout) as Array<{ merchantId: string; type: string; value: string | null; name: string }>;
    expect(keys.map((key) => key.name).sort()).toEqual(['Acme backend', 'Browser']);
    expect(keys.every((key) => key.merchantId === 'acme')).toBe(true);
    expect(keys.find((key) => key.type === 'SECRET')!.value).toBeNull();

    const table = await runCli(['list'], env);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+MERCHANT\s+NAME\s+TYPE\s+ENV\s+STATUS\s+KEY/);
    expect(rows).toHaveLength(3); // the admin key and acme's two
    expect(table.stdout).not.toMatch(/sk_(live|test)_[0-9A-Za-z]{38}/);
  });

  it('`npm run --silent keys -- create …` prints the key alone, as the README says', async () => {
    const run = await runNpmKeys(['create', '--merchant', 'npm', '--name', 'via npm', '--scopes', 'keys:read'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(SECRET_LINE);
    expect((await viewer(run.stdout.trim())).body.data.viewer.merchantId).toBe('npm');
  });

  it('`npm run keys -- create …` without --silent prints the key alone too, as the contract writes it', async () => {
    const run = await runNpmKeys(['create', '--merchant', 'npm', '--name', 'plain npm', '--scopes', 'keys:read'], env, false);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(SECRET_LINE);
  });
});
