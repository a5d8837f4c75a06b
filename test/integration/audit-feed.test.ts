import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { openFeed, type FeedClient } from '../helpers/feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const DISABLE = 'mutation($id: ID!, $reason: String) { disableKey(id: $id, reason: $reason) { status } }';
const ENABLE = 'mutation($id: ID!) { enableKey(id: $id) { status } }';
const VIEWER = '{ viewer { keyId } }';

describe('audit feed subscription', () => {
  let server: TestServer;
  const feeds: FeedClient[] = [];
  const open = (...args: Parameters<typeof openFeed>) => {
    const feed = openFeed(...args);
    feeds.push(feed);
    return feed;
  };
  const subscribers = () => server.app.services.feed.stats.subscribers;
  /** Opens a feed and waits until the server has registered it. */
  const subscribed = async (...args: Parameters<typeof openFeed>) => {
    const before = server.app.services.feed.stats.opened;
    const feed = open(...args);
    await waitFor(() => server.app.services.feed.stats.opened > before || feed.errors.length > 0 || feed.closeCode !== null);
    return feed;
  };
  const storedIds = async (after: string) => {
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { id: { $gt: after } }, { orderBy: { id: 'asc' }, fields: ['id'] });
    return rows.map((row) => String(row.id));
  };

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  it('delivers events live, in id order', async () => {
    const feed = await subscribed(server, server.adminKey, { types: ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED'] });
    const { id } = await createKey(server, { merchantId: 'm_order' });
    await server.gql(DISABLE, { id, reason: 'one' });
    await server.gql(ENABLE, { id });
    await waitFor(() => feed.events.length >= 3);
    expect(feed.events.map((e) => e.type)).toEqual(['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED']);
    const ids = feed.events.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(feed.events.every((e) => e.keyId === id && e.merchantId === 'm_order')).toBe(true);
  });

  it("keeps merchants apart: A's subscriber gets A's event and never B's", async () => {
    const a = await createKey(server, { merchantId: 'm_iso_a', scopes: ['audit:read', 'keys:write'] });
    const feed = await subscribed(server, a.secret);
    // Merchant B acts first, then merchant A: if B's events leaked, they would arrive before A's.
    const b = await createKey(server, { merchantId: 'm_iso_b', scopes: ['audit:read', 'keys:write'] });
    await server.gql(DISABLE, { id: b.id, reason: 'b' });
    await server.gql(VIEWER, {}, b.secret);
    const aChild = await createKey(server, { merchantId: 'm_iso_a', name: 'child of a' }, a.secret);
    await waitFor(() => feed.events.some((e) => e.type === 'KEY_CREATED' && e.keyId === aChild.id));
    await server.app.services.ledger.flush();
    expect(feed.events.length).toBeGreaterThan(0);
    expect(feed.events.every((e) => e.merchantId === 'm_iso_a')).toBe(true);

    // Asking for another merchant is refused, as for apiKeys; admin may.
    const other = await subscribed(server, a.secret, { merchantId: 'm_iso_b' });
    await waitFor(() => other.errors.length > 0);
    expect(other.errors[0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN' } });
    const admin = await subscribed(server, server.adminKey, { merchantId: 'm_iso_b', types: ['KEY_ENABLED'] });
    await server.gql(ENABLE, { id: b.id });
    await waitFor(() => admin.events.length === 1);
    expect(admin.events[0]).toMatchObject({ merchantId: 'm_iso_b', keyId: b.id });
  });

  it('answers FORBIDDEN, as a GraphQL error on an open socket, without audit:read', async () => {
    const reader = await createKey(server, { merchantId: 'm_noscope', scopes: ['keys:read'] });
    const feed = await subscribed(server, reader.secret);
    await waitFor(() => feed.errors.length > 0 && feed.completed);
    expect(feed.errors[0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN' } });
    expect(typeof feed.errors[0]!.extensions!.requestId).toBe('string');
    // The socket is not closed by the server (a lazy client closes it normally, 1000, once it listens to nothing).
    expect([null, 1000]).toContain(feed.closeCode);
    await server.app.services.ledger.flush();
    const denied = await server.app.services.db.fork().find(AuditEventEntity, { type: 'ACCESS_DENIED', keyId: reader.id });
    expect(denied).toHaveLength(1);
  });

  it('answers bad documents and arguments with coded errors, on an open socket', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['subscription { auditEvents { id', {}, 'BAD_REQUEST'],
      ['subscription { auditEvents { nope } }', {}, 'BAD_REQUEST'],
      ['subscription($a: String) { auditEvents(after: $a) { id } }', { a: 'abc' }, 'BAD_USER_INPUT'],
      ['subscription($t: [AuditEventType!]) { auditEvents(types: $t) { id } }', { t: ['NOPE'] }, 'BAD_USER_INPUT'],
    ];
    for (const [query, variables, code] of cases) {
      const feed = open(server, server.adminKey, variables, undefined, query);
      await waitFor(() => feed.errors.length > 0);
      expect(feed.errors[0]!.extensions, query).toMatchObject({ code });
      expect(typeof feed.errors[0]!.extensions!.requestId).toBe('string');
      expect([null, 1000]).toContain(feed.closeCode);
      // Admitted and counted, so it is a use of the key like any request.
      await server.app.services.ledger.flush();
      const used = await server.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_USED', requestId: feed.errors[0]!.extensions!.requestId });
      expect(used).toHaveLength(1);
    }
  });

  it('closes with 4401 on missing, malformed, unknown or revoked credentials', async () => {
    const revoked = await createKey(server, { merchantId: 'm_4401', scopes: ['audit:read'] });
    await server.gql('mutation($id: ID!) { revokeKey(id: $id) { status } }', { id: revoked.id });
    const unknown = generateKey('SECRET', 'TEST');
    const cases = [
      open(server, null),
      open(server, 'sk_test_not-a-key'),
      open(server, unknown),
      open(server, revoked.secret),
      open(server, null, {}, { apiKey: revoked.secret }),
    ];
    const codes = await Promise.all(cases.map((feed) => feed.closed));
    expect(codes).toEqual([4401, 4401, 4401, 4401, 4401]);
  });

  it('counts each subscribe against the key: over the limit, RATE_LIMITED and a RATE_LIMITED event', async () => {
    const key = await createKey(server, { merchantId: 'm_limited', scopes: ['audit:read'], rateLimit: { limit: 2, windowSeconds: 60 } });
    const first = await subscribed(server, key.secret);
    const second = await subscribed(server, key.secret);
    const third = open(server, key.secret);
    await waitFor(() => third.errors.length > 0);
    expect(third.errors[0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(third.errors[0]!.extensions!.retryAfter).toBeGreaterThan(0);
    expect(typeof third.errors[0]!.extensions!.requestId).toBe('string');
    expect(first.errors.concat(second.errors)).toEqual([]);
    await server.app.services.ledger.flush();
    const limited = await server.app.services.db.fork().find(AuditEventEntity, { type: 'RATE_LIMITED', keyId: key.id });
    expect(limited).toHaveLength(1);
    expect(limited[0]!.requestId).toBe(third.errors[0]!.extensions!.requestId);
    expect(limited[0]!.metadata).toMatchObject({ transport: 'websocket' });
  });

  it('resumes with no gap and no duplicate while events are written concurrently (20 subscribers)', async () => {
    const writer = await createKey(server, { merchantId: 'm_resume', scopes: ['keys:read', 'keys:write'], rateLimit: { limit: 100_000, windowSeconds: 60 } });
    // A backlog larger than one replay page, so catch-ups are paged while the loop writes.
    for (let i = 0; i < 700; i++) server.app.services.ledger.append({ type: 'KEY_USED', merchantId: 'm_seed', reason: `seed ${i}` });
    await server.app.services.ledger.flush();

    let writing = true;
    const loop = (async () => {
      let round = 0;
      while (writing) {
        const key = await createKey(server, { merchantId: 'm_resume', name: `loop ${round}` }, writer.secret);
        await Promise.all([server.gql(VIEWER, {}, writer.secret), server.gql(DISABLE, { id: key.id, reason: `r${round}` }, writer.secret)]);
        round += 1;
      }
      return round;
    })();

    const resumed: Array<{ after: string; feed: FeedClient }> = [];
    for (let i = 0; i < 20; i++) {
      const max = Number(server.app.services.feed.stats.head);
      const after = String(Math.floor(Math.random() * max));
      resumed.push({ after, feed: open(server, server.adminKey, { after }) });
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    await waitFor(() => resumed.every(({ feed }) => feed.events.length > 0), 10_000);
    writing = false;
    const rounds = await loop;
    expect(rounds).toBeGreaterThan(3);
    await server.app.services.ledger.flush();

    let longest = 0;
    for (const { after, feed } of resumed) {
      const expected = await storedIds(after);
      longest = Math.max(longest, expected.length);
      await waitFor(() => feed.events.length >= expected.length, 10_000);
      expect(feed.events.map((e) => e.id)).toEqual(expected);
      expect(feed.errors).toEqual([]);
    }
    // At least one replay spanned several store pages.
    expect(longest).toBeGreaterThan(400);
    // On one instance publications continue the head: the sequencer fans them out without reading the store.
    const stats = server.app.services.feed.stats;
    expect(stats.directBatches).toBeGreaterThan(stats.storeReads);
    expect(stats.gapsSkipped).toBe(0);
  });

  it('writes KEY_EXPIRED once per key and closes its sockets', async () => {
    const watcher = await subscribed(server, server.adminKey, { types: ['KEY_EXPIRED'], merchantId: 'm_expiry' });
    const expiresAt = new Date(Date.now() + 400).toISOString();
    const short = await createKey(server, { merchantId: 'm_expiry', scopes: ['audit:read'], expiresAt });
    const own = await subscribed(server, short.secret);
    expect(own.closeCode).toBeNull();
    await waitFor(() => watcher.events.length === 1);
    expect(watcher.events[0]).toMatchObject({ type: 'KEY_EXPIRED', keyId: short.id, reason: 'expired' });
    expect(await own.closed).toBe(4403);
    // Several more sweeps run; none writes the event again.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_EXPIRED', keyId: short.id });
    expect(rows).toHaveLength(1);
    expect(watcher.events).toHaveLength(1);
  });
});
