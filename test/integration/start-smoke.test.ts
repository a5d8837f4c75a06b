import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childGql, spawnServer, type ChildServer } from '../helpers/child.js';
import { waitFor } from '../helpers/server.js';

const ADMIN_LINE = /^Admin key \(shown once\): sk_live_[0-9A-Za-z]{38}$/;

async function viewer(server: ChildServer, key: string) {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: '{ viewer { merchantId admin } }' }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** `npm start` as an operator meets it: the built service as a process, on a fresh SQLite file in a new folder. */
describe('the service process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-smoke-'));
  // a folder that does not exist yet: the service creates it
  const env = { DATABASE_URL: `sqlite:${join(dir, 'data', 'keyring.db')}` };
  const started: ChildServer[] = [];
  afterAll(() => {
    for (const server of started) if (server.child.exitCode === null) server.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('records every request when started with V8 flags (a heap size, as production starts often set)', async () => {
    const flagged = { DATABASE_URL: `sqlite:${join(dir, 'flagged.db')}`, LEDGER_FLUSH_MS: '20' };
    const server = await spawnServer(flagged, 20_000, ['--max-old-space-size=512', '--max-semi-space-size=16']);
    started.push(server);
    for (let i = 0; i < 3; i++) expect((await viewer(server, server.adminKey!)).status).toBe(200);
    // The ledger's thread runs under the process's flags: the three requests' KEY_USED rows are written.
    // Written (nothing pending) within a few flushes; a thread that could not start leaves them pending.
    const pending = async () => ((await (await fetch(`${server.url}/readyz`)).json()) as { ledger: { pending: number } }).ledger.pending;
    await waitFor(async () => (await pending()) === 0, 5_000, 100).catch(() => undefined);
    expect(await pending()).toBe(0);
    const stored = await childGql(server, server.adminKey!, '{ auditEvents(filter: { types: [KEY_USED] }) { totalCount } }');
    expect(stored.errors).toBeUndefined();
    expect(stored.data.auditEvents.totalCount).toBeGreaterThanOrEqual(3);
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stdout.filter((line) => line.includes('ledger flush failed'))).toEqual([]);
  });

  it('prints the admin key once on a line of its own, serves, and exits 0 on SIGTERM; a second start prints none', async () => {
    const first = await spawnServer(env);
    started.push(first);
    expect(first.adminKey).toMatch(/^sk_live_/);
    const used = await viewer(first, first.adminKey!);
    expect(used.status).toBe(200);
    expect(used.body.data.viewer).toEqual({ merchantId: 'platform', admin: true });
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stdout.filter((line) => line.startsWith('Admin key'))).toHaveLength(1);
    expect(first.stdout.filter((line) => ADMIN_LINE.test(line))).toHaveLength(1);
    // One plain line says where everything is.
    const port = new URL(first.url).port;
    expect(first.stdout.filter((line) => line.startsWith('keyring ready:'))).toEqual([
      `keyring ready: API http://127.0.0.1:${port}/graphql · Sandbox http://127.0.0.1:${port}/graphql (in a browser) · console http://127.0.0.1:${port}/console`,
    ]);
    // every other stdout line is a JSON log line that never holds the key
    for (const line of first.stdout.filter((l) => l && !ADMIN_LINE.test(l) && !l.startsWith('keyring ready:'))) {
      expect(() => JSON.parse(line), line).not.toThrow();
      expect(line).not.toContain(first.adminKey!);
    }

    const second = await spawnServer(env);
    started.push(second);
    expect(second.adminKey).toBeNull();
    expect((await viewer(second, first.adminKey!)).body.data.viewer.admin).toBe(true);
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(second.stdout.some((line) => line.includes('Admin key'))).toBe(false);
    expect(second.stderr.join('')).toBe('');
  });
});
