import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import { ExpirySweeper } from '../../src/keys/expiry-sweeper.js';
import { KeyTransaction } from '../../src/keys/key-transaction.js';
import type { FeedClient } from '../helpers/feed.js';
import { subscribedFeed } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

/** The instance's own write path for keys (its database, ledger and bus). */
const transactionOf = (server: TestServer) => new KeyTransaction(server.app.services.db, server.app.services.ledger, server.app.services.bus);

const DAY = 86_400_000;
const REVOKE = 'mutation($id: ID!) { revokeKey(id: $id) { status } }';
const QUERY = 'query($filter: AuditEventFilter) { auditEvents(filter: $filter) { edges { node { type keyId metadata } } } }';

/**
 * KEY_EXPIRING: once per key, KEY_EXPIRY_NOTICE_SECONDS (7 days here, the default) before its
 * expiry, whichever sweep (or restart) comes. The server's sweeps run on a clock the test moves.
 */
describe('KEY_EXPIRING', () => {
  let server: TestServer;
  let offset = 0;
  /** The first start's admin key (a restart prints none). */
  let admin = '';
  const now = () => Date.now() + offset;
  const env = { EXPIRY_SWEEP_MS: '20' };
  const feeds: FeedClient[] = [];
  const at = (days: number) => new Date(Date.now() + days * DAY).toISOString();
  const notices = async (keyId: string) => server.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_EXPIRING', keyId });

  beforeAll(async () => {
    server = await startTestServer({ env, now, keepDir: true });
    admin = server.adminKey;
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await server?.stop();
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  it('is written once per key, 7 days ahead, also after a restart; never for a revoked key', async () => {
    const a = await createKey(server, { merchantId: 'm_expiring', expiresAt: at(30) });
    const b = await createKey(server, { merchantId: 'm_expiring', expiresAt: at(32) });
    const revoked = await createKey(server, { merchantId: 'm_expiring', expiresAt: at(32.5) });
    await server.gql(REVOKE, { id: revoked.id });
    const never = await createKey(server, { merchantId: 'm_expiring' });
    const feed = await subscribedFeed(server, server.adminKey, { types: ['KEY_EXPIRING'], merchantId: 'm_expiring' });
    feeds.push(feed);

    // Day 24: only A is within 7 days of its expiry.
    offset = 24 * DAY;
    await waitFor(() => feed.events.length === 1);
    expect(feed.events[0]).toMatchObject({ type: 'KEY_EXPIRING', keyId: a.id, merchantId: 'm_expiring', actorKeyId: null });
    const stored = await server.app.services.db.fork().findOneOrFail(ApiKeyEntity, { id: a.id });
    expect(feed.events[0]!.metadata).toEqual({ expiresAt: stored.expiresAt!.toISOString(), noticeSeconds: 604_800 });

    // Day 26: B and the revoked key come within 7 days; A is still there, and sweeps go on.
    offset = 26 * DAY;
    await waitFor(() => feed.events.length === 2);
    expect(feed.events[1]).toMatchObject({ keyId: b.id });
    const db = server.app.services.db.fork();
    // The revoked key was passed over (claimed without an event): no sweep reads it again.
    await waitFor(async () => (await db.findOne(ApiKeyEntity, { id: revoked.id }, { fields: ['expiryNoticeAt'] }))?.expiryNoticeAt);
    expect(await notices(revoked.id)).toBe(0);

    // A restart on the same database, the clock a day on: a key created now is noticed, none of the others again.
    const dir = server.dir;
    await feed.dispose();
    await server.stop();
    offset = 27 * DAY;
    server = await startTestServer({ env, now, dir });
    const c = await createKey(server, { merchantId: 'm_expiring', expiresAt: at(33) }, admin);
    await waitFor(async () => (await notices(c.id)) === 1);
    for (const key of [a, b]) expect(await notices(key.id)).toBe(1);
    expect(await notices(revoked.id)).toBe(0);
    expect(await notices(never.id)).toBe(0);

    // An ordinary event: the audit query serves it like any other.
    const listed = await server.gql(QUERY, { filter: { types: ['KEY_EXPIRING'], merchantId: 'm_expiring' } }, admin);
    expect(listed.body.data.auditEvents.edges.map((edge: { node: { keyId: string } }) => edge.node.keyId).sort()).toEqual([a.id, b.id, c.id].sort());
  });

  it('is claimed by one sweeper when several sweep at once', async () => {
    const key = await createKey(server, { merchantId: 'm_expiring_race', expiresAt: at(40) }, admin);
    const sweepers = Array.from({ length: 4 }, () => new ExpirySweeper(transactionOf(server), { noticeSeconds: 7 * 86_400, now: () => new Date(Date.now() + 35 * DAY) }));
    const written = await Promise.all(sweepers.map((sweeper) => sweeper.recordNotices()));
    expect(written.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect(await notices(key.id)).toBe(1);
  });
});
