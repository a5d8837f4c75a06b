import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { ExpirySweeper } from '../../src/keys/expiry-sweeper.js';
import { KeyTransaction } from '../../src/keys/key-transaction.js';
import type { FeedClient } from '../helpers/feed.js';
import { candidate, leakSigner, postLeaks } from '../helpers/leaks.js';
import { scaleBackendsAvailable, startCluster, subscribedFeed, type Cluster } from '../helpers/scale.js';
import { createKey, type TestServer } from '../helpers/server.js';

/** The instance's own write path for keys (its database, ledger and bus). */
const transactionOf = (server: TestServer) => new KeyTransaction(server.app.services.db, server.app.services.ledger, server.app.services.bus);

/**
 * Leak reports and expiry notices with two instances on one PostgreSQL schema and one Redis
 * prefix: a leak reported to A is refused on B at once, and B's sockets of the key close.
 */
const available = await scaleBackendsAvailable('scale-leaks');

const VIEWER = '{ viewer { keyId } }';
const VERIFY = 'query($key: String!) { verifyKey(key: $key) { valid code } }';
const REPORT = 'mutation($keys: [String!]!) { reportLeakedKeys(keys: $keys) { received } }';

describe.skipIf(!available)('leak reports across instances on PostgreSQL + Redis', () => {
  const github = leakSigner();
  let cluster: Cluster;
  let a: TestServer;
  let b: TestServer;
  let admin: string;
  const feeds: FeedClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ count: 2, env: { LEAK_REPORT_PUBLIC_KEYS: github.publicPem } });
    [a, b] = cluster.instances as [TestServer, TestServer];
    admin = cluster.adminKey;
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await cluster?.stop();
  });

  it.each([
    ['POST /leaks', (secret: string) => postLeaks(a.url, JSON.stringify([candidate(secret)]), github).then((answer) => expect(answer.json[0].label).toBe('true_positive'))],
    ['reportLeakedKeys', (secret: string) => a.gql(REPORT, { keys: [secret] }, admin).then((answer) => expect(answer.body.data.reportLeakedKeys.received).toBe(1))],
  ])('revokes a key reported to A (%s) on B at once: requests, verifyKey and its sockets', async (_name, report) => {
    const key = await createKey(a, { merchantId: 'm_scale_leak', scopes: ['audit:read'] }, admin);
    const verifier = await createKey(a, { merchantId: 'm_scale_leak', scopes: ['keys:verify'] }, admin);
    // B has the key cached and a socket open with it.
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(200);
    expect((await b.gql(VERIFY, { key: key.secret }, verifier.secret)).body.data.verifyKey).toEqual({ valid: true, code: 'VALID' });
    const socket = await subscribedFeed(b, key.secret);
    feeds.push(socket);

    await report(key.secret);
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(401);
    expect((await b.gql(VERIFY, { key: key.secret }, verifier.secret)).body.data.verifyKey).toEqual({ valid: false, code: 'REVOKED' });
    expect(await socket.closed).toBe(4403);
    // Reported to both instances at once: one KEY_LEAKED between them.
    await Promise.all([a, b].map((server) => postLeaks(server.url, JSON.stringify([candidate(key.secret)]), github)));
    expect(await a.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_LEAKED', keyId: key.id })).toBe(1);
  });

  it('revokes a key reported to both instances at once exactly once', async () => {
    const key = await createKey(b, { merchantId: 'm_scale_race' }, admin);
    const body = JSON.stringify([candidate(key.secret)]);
    const answers = await Promise.all([a, b, a, b].map((server) => postLeaks(server.url, body, github)));
    expect(answers.map((answer) => answer.json[0].label)).toEqual(Array(4).fill('true_positive'));
    const db = a.app.services.db.fork();
    expect(await db.count(AuditEventEntity, { type: 'KEY_LEAKED', keyId: key.id })).toBe(1);
    expect(await db.count(AuditEventEntity, { type: 'KEY_REVOKED', keyId: key.id })).toBe(1);
  });

  it('writes KEY_EXPIRING once when both instances sweep at once', async () => {
    const key = await createKey(a, { merchantId: 'm_scale_expiring', expiresAt: new Date(Date.now() + 10 * 86_400_000).toISOString() }, admin);
    const later = () => new Date(Date.now() + 5 * 86_400_000);
    const sweepers = [a, b, a, b].map((server) => new ExpirySweeper(transactionOf(server), { noticeSeconds: 7 * 86_400, now: later }));
    const written = await Promise.all(sweepers.map((sweeper) => sweeper.recordNotices()));
    expect(written.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect(await a.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_EXPIRING', keyId: key.id })).toBe(1);
  });
});
