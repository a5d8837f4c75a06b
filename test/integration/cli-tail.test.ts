import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';
import { spawnNpmTail, spawnTail, type TailProcess } from '../helpers/tail.js';

/**
 * `keys tail` follows the audit feed over graphql-ws as a real process: events appear as they
 * happen, filters and resume points hold, Ctrl-C ends it with 0, a refused key with 1.
 */
describe('keys tail', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const tails: TailProcess[] = [];
  const tail = (args: string[], environment = env) => {
    const started = spawnTail(args, environment);
    tails.push(started);
    return started;
  };
  /** The server has accepted tail's key (a revocation from now on reaches its socket). */
  const following = (watcher: TailProcess) => waitFor(() => watcher.stderr().includes('connected, following'), 10_000);
  const revoke = (id: string, reason?: string) =>
    server.gql('mutation($id: ID!, $reason: String) { revokeKey(id: $id, reason: $reason) { id } }', { id, reason });

  beforeAll(async () => {
    server = await startTestServer();
    env = { KEYRING_URL: `${server.url}/graphql`, KEYRING_API_KEY: server.adminKey };
  });
  afterEach(async () => {
    await Promise.all(tails.splice(0).map((watcher) => watcher.stop()));
  });
  afterAll(() => server?.stop());

  it('prints one readable line per event as it happens; stdout holds events only; SIGINT → exit 0', async () => {
    const watcher = tail([]);
    await following(watcher);
    const created = await createKey(server, { merchantId: 'm_tail', name: 'watched', scopes: [] });
    await revoke(created.id, 'lost laptop');
    // Free text can no longer hold a newline (§9.5), but rows written before that rule, or by
    // another tool, can: the tail must still keep each event on its own line.
    server.app.services.ledger.append({ type: 'KEY_DISABLED', merchantId: 'm_tail', keyId: created.id, reason: 'lost laptop\n#1 KEY_CREATED forged' });

    const line = await watcher.waitForLine((text) => text.includes('KEY_CREATED') && text.includes(created.id));
    expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z #\\d+ KEY_CREATED +merchant=m_tail key=${created.id} actor=key_\\w+ op=Create ip=127\\.0\\.0\\.1$`));
    const revoked = await watcher.waitForLine((text) => text.includes('KEY_REVOKED') && text.includes(created.id));
    expect(revoked).toContain('reason="lost laptop"');
    const forged = await watcher.waitForLine((text) => text.includes('KEY_DISABLED') && text.includes(created.id));
    // A free-text reason stays on its line, quoted and escaped.
    expect(forged).toContain('reason="lost laptop\\n#1 KEY_CREATED forged"');
    expect(watcher.lines.every((text) => /^\S+Z #\d+ [A-Z_]+ /.test(text))).toBe(true);

    watcher.child.kill('SIGINT');
    expect(await watcher.exited).toEqual({ code: 0, signal: null });
    expect(watcher.stderr()).not.toMatch(/error/i);
  });

  it('through npm as the README shows it: SIGTERM to npm (as a process manager sends it) → exit 0, nothing left running', async () => {
    const watcher = spawnNpmTail(['--types', 'KEY_CREATED'], env);
    tails.push(watcher);
    await waitFor(() => watcher.stderr().includes('connected, following'), 30_000);
    const created = await createKey(server, { merchantId: 'm_npm', name: 'via npm', scopes: [] });
    await watcher.waitForLine((text) => text.includes(created.id));
    // npm forwards the signal to its script, which has exec'ed the CLI (no shell left in between).
    watcher.child.kill('SIGTERM');
    expect(await watcher.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => !watcher.groupAlive(), 5_000);
  });

  it('--json: one parsable object per line, ids strictly increasing; --types filters', async () => {
    const all = tail(['--json']);
    const revocations = tail(['--json', '--types', 'key_revoked,KEY_EXPIRED']);
    await Promise.all([following(all), following(revocations)]);
    const keys: Array<{ id: string }> = [];
    for (let i = 0; i < 3; i += 1) keys.push(await createKey(server, { merchantId: 'm_json', name: `k${i}`, scopes: [] }));
    for (const key of keys) await revoke(key.id);

    await revocations.waitForLine((text) => text.includes(keys[2]!.id));
    await all.waitForLine((text) => text.includes('KEY_REVOKED') && text.includes(keys[2]!.id));
    for (const watcher of [all, revocations]) {
      const ids = watcher.events().map((event) => BigInt(event.id));
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    }
    expect(revocations.events().map((event) => [event.type, event.keyId])).toEqual(keys.map((key) => ['KEY_REVOKED', key.id]));
    const types = new Set(all.events().map((event) => event.type));
    expect([...types]).toEqual(expect.arrayContaining(['KEY_CREATED', 'KEY_REVOKED', 'KEY_USED']));
    // The shape of a JSON line, checked on a lifecycle event: the first line may be any event,
    // such as a subscribe's KEY_USED, whose metadata names its transport.
    const created = all.events().find((event) => event.type === 'KEY_CREATED');
    expect(created).toMatchObject({ occurredAt: expect.any(String), merchantId: expect.any(String), metadata: null });
  });

  it('--after <id> prints every stored event after it, in order, then follows; --key and --merchant filter', async () => {
    const target = await createKey(server, { merchantId: 'm_after', name: 'resumed', scopes: [] });
    await revoke(target.id, 'done');
    await server.app.services.ledger.flush();
    const stored = await server.gql('{ auditEvents(first: 100, order: ASC) { edges { node { id type keyId } } } }');
    const ids: string[] = stored.body.data.auditEvents.edges.map((edge: { node: { id: string } }) => edge.node.id);
    const from = ids[ids.length - 10]!;

    const watcher = tail(['--json', '--after', from]);
    await watcher.waitForLine((text) => JSON.parse(text).id === ids[ids.length - 1]);
    expect(watcher.events().slice(0, 9).map((event) => event.id)).toEqual(ids.slice(-9));

    const byKey = tail(['--json', '--after', '0', '--key', target.id, '--merchant', 'm_after']);
    await byKey.waitForLine((text) => JSON.parse(text).type === 'KEY_REVOKED');
    expect(byKey.events().map((event) => event.type)).toEqual(['KEY_CREATED', 'KEY_REVOKED']);
  });

  it('stops with exit 1 and a clear message when its key is revoked (4403) or refused (4401)', async () => {
    const own = await createKey(server, { merchantId: 'm_403', name: 'monitor', scopes: ['audit:read'] });
    const watcher = tail(['--json'], { ...env, KEYRING_API_KEY: own.secret });
    await following(watcher);
    await revoke(own.id, 'rotated');
    expect(await watcher.exited).toEqual({ code: 1, signal: null });
    expect(watcher.stderr()).toMatch(/keys tail: error: .*revoked.*\(4403\)/);

    const refused = tail(['--after', '0'], { ...env, KEYRING_API_KEY: own.secret });
    expect(await refused.exited).toEqual({ code: 1, signal: null });
    expect(refused.stderr()).toContain('(4401)');
    expect(refused.lines).toEqual([]);
    expect(refused.stderr()).not.toContain(own.secret);
  });

  it('stops with exit 1 when the key may not read the feed asked for (FORBIDDEN), saying what it needs', async () => {
    const own = await createKey(server, { merchantId: 'm_own', name: 'merchant monitor', scopes: ['audit:read'] });
    const other = tail(['--after', '0', '--merchant', 'm_other'], { ...env, KEYRING_API_KEY: own.secret });
    expect(await other.exited).toEqual({ code: 1, signal: null });
    expect(other.stderr()).toContain('(FORBIDDEN): This action is unauthorized.');
    expect(other.stderr()).toContain('follows its own merchant only');

    const blind = await createKey(server, { merchantId: 'm_own', name: 'no audit', scopes: ['keys:read'] });
    const refused = tail([], { ...env, KEYRING_API_KEY: blind.secret });
    expect(await refused.exited).toEqual({ code: 1, signal: null });
    expect(refused.stderr()).toContain('tail needs a key with audit:read');
  });

  it('rejects bad options with exit 2 before connecting, and keys on the command line', async () => {
    const types = await runCli(['tail', '--types', 'KEY_REVOKED,KEY_EATEN'], env);
    expect(types.code).toBe(2);
    expect(types.stderr).toContain('--types: unknown event type "KEY_EATEN". Known types: ACCESS_DENIED,');
    const after = await runCli(['tail', '--after', 'abc'], env);
    expect(after).toMatchObject({ code: 2, stdout: '' });
    expect(after.stderr).toContain('--after must be an audit event id');
    const apiKey = await runCli(['tail', '--api-key', server.adminKey], env);
    expect(apiKey.code).toBe(2);
    expect(apiKey.stderr).toContain('never on the command line');
    const value = await runCli(['tail', '--key', server.adminKey], env);
    expect(value.code).toBe(2);
    expect(value.stderr).toContain('--key takes a key id');
    expect(value.stderr).not.toContain(server.adminKey);
    const help = await runCli(['tail', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: keys tail');
  });
});
