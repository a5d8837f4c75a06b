import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { LEDGER_FULL } from '../../src/errors.js';
import { openFeed } from '../helpers/feed.js';
import { databasesToTest } from '../helpers/scale.js';
import { spawnTail, type TailProcess } from '../helpers/tail.js';
import { createKey, startTestServer, waitFor, type GqlResult, type TestServer } from '../helpers/server.js';

const MAX_PENDING = 5;
const VIEWER = '{ viewer { keyId } }';

/** Takes the database's writes away from the ledger until `release()`. */
type Hold = (server: TestServer) => Promise<{ release(): Promise<void> }>;

/** SQLite: another connection holds the one write lock. */
const holdSqlite: Hold = async (server) => {
  const blocker = new Database(server.dbFile);
  blocker.exec('BEGIN IMMEDIATE');
  return {
    async release() {
      blocker.exec('ROLLBACK');
      blocker.close();
    },
  };
};

/** PostgreSQL: another transaction holds an exclusive lock on the events table. */
const holdPostgres: Hold = async (server) => {
  const schema = server.app.services.db.orm.config.get('schema');
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = server.app.services.db.fork().transactional(async (em) => {
    await em.execute(`lock table "${schema}"."audit_event" in exclusive mode`);
    locked();
    await released;
  });
  await Promise.race([isLocked, done]);
  return {
    async release() {
      release();
      await done;
    },
  };
};

const holds = { sqlite: holdSqlite, postgres: holdPostgres };
const databases = await databasesToTest('ledger-backlog');

/**
 * The ledger's backlog is bounded: while its database takes no writes (here another connection
 * holds the lock the ledger's writes need), events wait in memory up to LEDGER_MAX_PENDING; past it the service
 * refuses requests with 503 SERVICE_UNAVAILABLE rather than serve what it could not record, and
 * /readyz says so. Once the database takes writes again, everything waiting is written and the
 * service serves again: every request it served has its KEY_USED row.
 */
describe.each(databases)('a full ledger backlog on %s', (database) => {
  const hold = holds[database];
  let server: TestServer;
  let key: { id: string; secret: string };
  let blocker: { release(): Promise<void> } | null = null;
  let served = 0;
  const tails: TailProcess[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      env: { LEDGER_FLUSH_MS: '10', LEDGER_MAX_PENDING: String(MAX_PENDING) },
      database,
    });
    key = await createKey(server, { merchantId: 'm_backlog', scopes: ['audit:read'] });
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(200);
    served += 1;
    await server.app.services.ledger.flush();
  });
  afterAll(async () => {
    await Promise.all(tails.map((tail) => tail.stop()));
    await blocker?.release();
    await server?.stop();
  });

  const readyz = async () => {
    const res = await fetch(`${server.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string; ledger: { pending: number; full: boolean } } };
  };

  it('refuses requests with 503 once the events waiting for the database reach their bound', async () => {
    blocker = await hold(server);
    let refused: GqlResult<unknown> | null = null;
    for (let i = 0; i < 100 && !refused; i++) {
      const result = await server.gql(VIEWER, {}, key.secret);
      if (result.status === 200) served += 1;
      else refused = result;
    }
    // The bound counts every event not yet written: buffered, and in the batch the writer holds.
    expect(served).toBeGreaterThanOrEqual(MAX_PENDING);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(refused?.body.errors?.[0]).toMatchObject({ message: LEDGER_FULL, extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter: 1 } });
    // Without a key too: nothing is served while the ledger cannot keep up.
    expect((await server.gql('{ __typename }', {}, null)).status).toBe(503);
    // Nor does forward authentication judge a key it could not record.
    const authz = await fetch(`${server.url}/authz`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect([authz.status, authz.headers.get('x-keyring-code'), authz.headers.get('retry-after'), await authz.text()]).toEqual([503, 'SERVICE_UNAVAILABLE', '1', '']);
    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'unavailable', database: true, ledger: { full: true } });
    expect(ready.body.ledger.pending).toBeGreaterThanOrEqual(MAX_PENDING);
    // A WebSocket is closed with 1013 (try again later) before its credentials are looked at.
    const feed = openFeed(server, key.secret);
    expect(await feed.closed).toBe(1013);
    expect(server.logs.filter((line) => line.includes('audit ledger backlog full'))).toHaveLength(1);
    // `keys tail` says why and keeps trying: over HTTP (the newest event id it starts after) and,
    // given a resume point, over the WebSocket.
    const env = { KEYRING_URL: `${server.url}/graphql`, KEYRING_API_KEY: key.secret };
    tails.push(spawnTail(['--json'], env), spawnTail(['--json', '--after', '0'], env));
    await waitFor(() => tails[0]!.stderr().includes('the service answered SERVICE_UNAVAILABLE'), 10_000);
    await waitFor(() => tails[1]!.stderr().includes('1013 the service cannot record requests right now'), 10_000);
    for (const tail of tails) expect(tail.stderr()).toMatch(/[Rr]etrying in|reconnecting in/);
  });

  it('serves again once the database takes writes, with a KEY_USED row for every request it served', async () => {
    await blocker!.release();
    blocker = null;
    await waitFor(async () => (await readyz()).status === 200, 15_000, 50);
    expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(200);
    served += 1;
    await server.app.services.ledger.flush();
    expect(server.app.services.ledger.stats.pending).toBe(0);
    // (The tails' own requests with the same key are named otherwise.)
    const used = await server.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_USED', keyId: key.id, operationName: 'viewer' });
    expect(used).toBe(served);
    expect(server.logs.some((line) => line.includes('audit ledger backlog below its bound again'))).toBe(true);
    // The tails that waited follow now: a change shows up on both.
    for (const tail of tails) await waitFor(() => tail.stderr().includes('connected, following'), 20_000);
    const later = await createKey(server, { merchantId: 'm_backlog', name: 'after the backlog' });
    for (const tail of tails) {
      await waitFor(() => tail.events().some((event) => event.type === 'KEY_CREATED' && event.keyId === later.id), 10_000);
    }
  });
});
