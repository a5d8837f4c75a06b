import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { openDatabase } from '../../src/db/orm.js';
import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import type { FeedClient } from '../helpers/feed.js';
import { readyz, scaleBackendsAvailable, sharedServed, startCluster, subscribedFeed, type Cluster } from '../helpers/scale.js';
import { createKey, waitFor, type TestServer } from '../helpers/server.js';

/**
 * Two instances on one PostgreSQL schema and one Redis prefix (both made for this run), each
 * with its own HTTP server, MikroORM and Redis connections: they must behave as one service.
 */
const available = await scaleBackendsAvailable('scale-instances');

const VIEWER = '{ viewer { keyId } }';
const REVOKE = 'mutation($id: ID!) { revokeKey(id: $id) { status } }';
const DISABLE = 'mutation($id: ID!) { disableKey(id: $id) { status } }';
const ROTATE = 'mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 0) { key { id } } }';
const VERIFY = 'query($key: String!) { verifyKey(key: $key) { valid code } }';

describe.skipIf(!available)('several instances on PostgreSQL + Redis', () => {
  let cluster: Cluster;
  let a: TestServer;
  let b: TestServer;
  let admin: string;
  const feeds: FeedClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ count: 2 });
    [a, b] = cluster.instances as [TestServer, TestServer];
    admin = cluster.adminKey;
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await cluster?.stop();
  });

  /** Every stored event id above `after`, in order. */
  const storedIds = async (after = '0') =>
    (await a.app.services.db.fork().find(AuditEventEntity, { id: { $gt: after } }, { orderBy: { id: 'asc' }, fields: ['id'] })).map((row) =>
      String(row.id),
    );

  it('runs on PostgreSQL with the committed migrations; both instances are ready and hear each other', async () => {
    for (const server of [a, b]) {
      expect(server.app.services.db.dialect).toBe('postgresql');
      expect(await readyz(server)).toEqual({ status: 200, body: { status: 'ready', database: true, pubsub: true, limiter: true, ledger: { pending: expect.any(Number), full: false } } });
    }
    const migrations = await a.app.services.db.fork().execute(`select name from "${cluster.schema}".mikro_orm_migrations order by id`);
    expect(migrations.map((row) => row.name)).toEqual(['20261123-initial', '20261202-credits', '20261202-key-policy', '20261202-leaks', '20261202-usage', '20261202-webhooks', '20261203-credits-granted']);
  });

  it('has the same tables, columns, nullability and indexes on PostgreSQL as on SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyring-migrations-'));
    const sqlite = await openDatabase(`sqlite:${join(dir, 'keyring.db')}`);
    try {
      const lite = sqlite.fork();
      const pg = a.app.services.db.fork();
      for (const table of ['api_key', 'audit_event']) {
        const liteColumns = (await lite.execute(`pragma table_info(${table})`)).map((c) => `${c.name}${c.notnull || c.pk ? '' : ' null'}`);
        const pgColumns = (
          await pg.execute('select column_name, is_nullable from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position', [
            cluster.schema,
            table,
          ])
        ).map((c) => `${c.column_name}${c.is_nullable === 'YES' ? ' null' : ''}`);
        expect(pgColumns).toEqual(liteColumns);
        const liteIndexes = (await lite.execute(`pragma index_list(${table})`)).map((i) => i.name).filter((name) => !name.startsWith('sqlite_'));
        const pgIndexes = (await pg.execute('select indexname from pg_indexes where schemaname = ? and tablename = ?', [cluster.schema, table]))
          .map((i) => i.indexname)
          .filter((name) => !name.endsWith('_pkey'));
        expect(pgIndexes.sort()).toEqual(liteIndexes.sort());
      }
    } finally {
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares rate limits: two instances together serve 30 requests, not 60, for a key of 30/min', async () => {
    const mint = async (limit: number) => (await createKey(a, { merchantId: 'm_limit', rateLimit: { limit, windowSeconds: 60 } }, admin)).secret;
    // 60 requests at once, alternately on A and B.
    expect(await sharedServed([a, b], mint, 30)).toBe(30);
    const key = await mint(2);
    expect((await a.gql(VIEWER, {}, key)).headers.get('ratelimit-remaining')).toBe('1');
    expect((await b.gql(VIEWER, {}, key)).headers.get('ratelimit-remaining')).toBe('0');
    const refused = await a.gql(VIEWER, {}, key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
  });

  it('delivers an event committed on A to a subscriber on B, and both feeds see one id order with no gap', async () => {
    const after = (await storedIds()).at(-1) ?? '0';
    const onA = await subscribedFeed(a, admin, { after });
    const onB = await subscribedFeed(b, admin, { after });
    feeds.push(onA, onB);
    const created = await createKey(a, { merchantId: 'm_feed', name: 'made on A' }, admin);
    await waitFor(() => onB.events.some((event) => event.type === 'KEY_CREATED' && event.keyId === created.id), 3_000);

    // Writers on both instances at once: mutations (KeysService transactions) and KEY_USED batches.
    const writer = await createKey(b, { merchantId: 'm_feed', scopes: ['keys:write', 'keys:read'] }, admin);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 4 === 0 ? createKey(i % 8 ? a : b, { merchantId: 'm_feed', name: `k${i}` }, writer.secret) : (i % 2 ? a : b).gql(VIEWER, {}, writer.secret),
      ),
    );
    await Promise.all([a.app.services.ledger.flush(), b.app.services.ledger.flush()]);
    const expected = await storedIds(after);
    for (const feed of [onA, onB]) {
      await waitFor(() => feed.events.length >= expected.length, 5_000);
      expect(feed.events.map((event) => event.id)).toEqual(expected);
      expect(feed.errors).toEqual([]);
    }
    // Ids are a database sequence: strictly increasing whichever instance wrote them.
    const numeric = expected.map(Number);
    expect(numeric.every((id, i) => i === 0 || id > numeric[i - 1]!)).toBe(true);
    expect(a.app.services.feed.stats.gapsSkipped + b.app.services.feed.stats.gapsSkipped).toBe(0);
  });

  it('never lets a late commit be skipped: an id is not assigned while a smaller one is still to commit', async () => {
    const after = (await storedIds()).at(-1) ?? '0';
    const onA = await subscribedFeed(a, admin, { after });
    const onB = await subscribedFeed(b, admin, { after });
    feeds.push(onA, onB);
    const user = await createKey(b, { merchantId: 'm_late' }, admin);
    // A transaction on A that writes an event and commits only after the feed's 1 s gap grace.
    const { db, ledger } = a.app.services;
    let insideA!: () => void;
    const aHoldsLock = new Promise<void>((resolve) => (insideA = resolve));
    const slow = db.fork().transactional(async (em) => {
      await db.lockLedger(em);
      const staged = ledger.stage(em, [{ type: 'KEY_USED', merchantId: 'm_late', reason: 'slow commit on A' }]);
      await em.flush();
      insideA();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return staged;
    });
    await aHoldsLock;
    // Meanwhile B writes: its batch waits for A's commit instead of taking a later id and committing first.
    const started = Date.now();
    await b.gql(VIEWER, {}, user.secret);
    await b.app.services.ledger.flush();
    expect(Date.now() - started).toBeGreaterThan(900);
    ledger.publishCommitted(await slow);
    const expected = await storedIds(after);
    const late = await a.app.services.db.fork().findOneOrFail(AuditEventEntity, { reason: 'slow commit on A' });
    const used = await a.app.services.db.fork().findOneOrFail(AuditEventEntity, { type: 'KEY_USED', keyId: user.id });
    expect(Number(late.id)).toBeLessThan(Number(used.id));
    for (const feed of [onA, onB]) {
      await waitFor(() => feed.events.length >= expected.length, 5_000);
      expect(feed.events.map((event) => event.id)).toEqual(expected);
    }
    expect(a.app.services.feed.stats.gapsSkipped + b.app.services.feed.stats.gapsSkipped).toBe(0);
  });

  it.each([
    ['revoked', REVOKE, 'REVOKED'],
    ['disabled', DISABLE, 'DISABLED'],
    ['rotated with no grace', ROTATE, 'EXPIRED'],
  ])('refuses a key %s on A at B’s next request, in verifyKey too, and closes B’s sockets with 4403 within a second', async (_name, mutation, code) => {
    const key = await createKey(a, { merchantId: 'm_revoke', scopes: ['audit:read'] }, admin);
    const verifier = await createKey(a, { merchantId: 'm_revoke', scopes: ['keys:verify'] }, admin);
    // B has the key in its cache (a request and a verification) and a socket open with it.
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(200);
    expect((await b.gql(VERIFY, { key: key.secret }, verifier.secret)).body.data.verifyKey).toEqual({ valid: true, code: 'VALID' });
    const socket = await subscribedFeed(b, key.secret, { keyId: key.id });
    feeds.push(socket);
    expect(socket.closeCode).toBeNull();

    const changed = Date.now();
    const result = await a.gql(mutation, { id: key.id }, admin);
    expect(result.body.errors).toBeUndefined();
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(401);
    expect((await b.gql(VERIFY, { key: key.secret }, verifier.secret)).body.data.verifyKey).toEqual({ valid: false, code });
    expect(await socket.closed).toBe(4403);
    expect(Date.now() - changed).toBeLessThan(1_000);
  });

  it('writes KEY_EXPIRED once although both instances sweep, and closes the key’s sockets on both', async () => {
    const expiresAt = new Date(Date.now() + 600).toISOString();
    const key = await createKey(a, { merchantId: 'm_expiry', scopes: ['audit:read'], expiresAt }, admin);
    const watcher = await subscribedFeed(a, admin, { types: ['KEY_EXPIRED'], merchantId: 'm_expiry' });
    const own = [await subscribedFeed(a, key.secret), await subscribedFeed(b, key.secret)];
    feeds.push(watcher, ...own);
    expect(await Promise.all(own.map((feed) => feed.closed))).toEqual([4403, 4403]);
    await waitFor(() => watcher.events.length === 1, 3_000);
    // Several more sweeps on both instances; none writes it again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await a.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_EXPIRED', keyId: key.id })).toBe(1);
    expect(watcher.events).toHaveLength(1);
  });
});

describe.skipIf(!available)('instances starting at once on an empty database', () => {
  let cluster: Cluster;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('migrate one at a time and mint exactly one admin key between them', async () => {
    cluster = await startCluster({ count: 3, concurrently: true });
    const printed = cluster.instances.filter((server) => server.adminKey);
    expect(printed).toHaveLength(1);
    const db = cluster.instances[0]!.app.services.db.fork();
    expect(await db.count(ApiKeyEntity, {})).toBe(1);
    expect(await db.count(AuditEventEntity, { type: 'KEY_CREATED' })).toBe(1);
    for (const server of cluster.instances) expect((await server.gql(VIEWER, {}, cluster.adminKey)).status).toBe(200);
  });
});
