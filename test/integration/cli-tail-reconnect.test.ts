import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';
import { spawnTail, type TailProcess } from '../helpers/tail.js';

/**
 * A dropped connection costs `keys tail` nothing: it reconnects with backoff and resumes after
 * the last event it printed, so events made while the service was down, and after, are all
 * printed exactly once. The service is stopped and a new one started on the same port and
 * the same database.
 */
describe('keys tail across a restart of the service', () => {
  const servers: TestServer[] = [];
  let watcher: TailProcess | undefined;
  let dir = '';
  afterAll(async () => {
    await watcher?.stop();
    for (const server of servers) await server.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints every event once, in id order, including those made while it was down', async () => {
    const first = await startTestServer({ keepDir: true });
    servers.push(first);
    dir = first.dir;
    const port = new URL(first.url).port;
    const adminKey = first.adminKey;
    const env = { KEYRING_URL: `http://127.0.0.1:${port}/graphql`, KEYRING_API_KEY: adminKey };
    watcher = spawnTail(['--json', '--types', 'KEY_CREATED,KEY_REVOKED'], env);
    await waitFor(() => watcher!.stderr().includes('connected, following'), 10_000);

    const before = await createKey(first, { merchantId: 'm_restart', name: 'before', scopes: [] });
    await watcher.waitForLine((line) => line.includes(before.id));
    await first.stop(); // sockets closed with 1001

    // While the service is down, the CLI writes to the database directly.
    for (const name of ['down-1', 'down-2']) {
      const made = await runCli(['create', '--merchant', 'm_restart', '--name', name, '--scopes', 'keys:read'], { DATABASE_URL: `sqlite:${first.dbFile}` });
      expect(made.code, made.stderr).toBe(0);
    }
    await waitFor(() => /reconnecting in/.test(watcher!.stderr()), 10_000);

    const second = await startTestServer({ dir, env: { PORT: port } });
    servers.push(second);
    expect(second.url).toBe(first.url);
    const after = await createKey(second, { merchantId: 'm_restart', name: 'after', scopes: [] }, adminKey);
    const revoked = await second.gql('mutation($id: ID!) { revokeKey(id: $id) { id } }', { id: before.id }, adminKey);
    expect(revoked.body.errors).toBeUndefined();

    await watcher.waitForLine((line) => line.includes('KEY_REVOKED'), 20_000);
    const events = watcher.events().filter((event) => event.merchantId === 'm_restart');
    expect(events.map((event) => [event.type, event.keyId === before.id || event.keyId === after.id ? event.keyId : 'cli'])).toEqual([
      ['KEY_CREATED', before.id],
      ['KEY_CREATED', 'cli'],
      ['KEY_CREATED', 'cli'],
      ['KEY_CREATED', after.id],
      ['KEY_REVOKED', before.id],
    ]);
    const ids = watcher.events().map((event) => BigInt(event.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    expect(watcher.stderr()).toMatch(/connection closed \(1001 the service is shutting down\); reconnecting in/);
    expect(watcher.stderr()).toMatch(/reconnected, following events after #\d+/);

    watcher.child.kill('SIGTERM');
    expect(await watcher.exited).toEqual({ code: 0, signal: null });
  });
});
