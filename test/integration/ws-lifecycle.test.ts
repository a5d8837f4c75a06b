import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import { FEED, openFeed, type FeedClient } from '../helpers/feed.js';
import { eventOf, openRawFeed } from '../helpers/raw-feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const DISABLE = 'mutation($id: ID!, $reason: String) { disableKey(id: $id, reason: $reason) { status } }';
const REVOKE = 'mutation($id: ID!) { revokeKey(id: $id) { status } }';
const ROTATE = 'mutation($id: ID!, $s: Int) { rotateKey(id: $id, expireOldAfterSeconds: $s) { key { id } } }';

/** Opens a feed and waits until the server has registered its subscription. */
async function subscribed(server: TestServer, key: string, variables: Record<string, unknown> = {}): Promise<FeedClient> {
  const before = server.app.services.feed.stats.opened;
  const feed = openFeed(server, key, variables);
  await waitFor(() => server.app.services.feed.stats.opened > before || feed.closeCode !== null || feed.errors.length > 0);
  return feed;
}

/** Milliseconds from `start` until the feed's socket closed, with the code. */
async function closedWithin(feed: FeedClient, start: number): Promise<{ code: number; ms: number }> {
  const code = await feed.closed;
  return { code, ms: Date.now() - start };
}

describe('websocket lifecycle', () => {
  let server: TestServer;
  const feeds: FeedClient[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { WS_MAX_BUFFERED_BYTES: '262144' } });
  });
  afterAll(async () => {
    await Promise.all(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  it.each([
    ['revoked', REVOKE],
    ['disabled', DISABLE],
  ])('closes every socket of a %s key with 4403 within a second', async (_name, mutation) => {
    const key = await createKey(server, { merchantId: 'm_close', scopes: ['audit:read'] });
    const mine = [await subscribed(server, key.secret), await subscribed(server, key.secret)];
    const other = await subscribed(server, (await createKey(server, { merchantId: 'm_close', scopes: ['audit:read'] })).secret);
    feeds.push(...mine, other);
    const start = Date.now();
    await server.gql(mutation, { id: key.id });
    for (const feed of mine) {
      const { code, ms } = await closedWithin(feed, start);
      expect(code).toBe(4403);
      expect(ms).toBeLessThan(1_000);
    }
    expect(other.closeCode).toBeNull();
  });

  it('closes the socket of an expiring key with 4403 within a second of expiresAt', async () => {
    const expiresAt = Date.now() + 500;
    const key = await createKey(server, { merchantId: 'm_close', scopes: ['audit:read'], expiresAt: new Date(expiresAt).toISOString() });
    const feed = await subscribed(server, key.secret);
    feeds.push(feed);
    const { code, ms } = await closedWithin(feed, expiresAt);
    expect(code).toBe(4403);
    expect(ms).toBeLessThan(1_000);
  });

  it('closes a slow consumer with 4008 while a normal one keeps receiving', async () => {
    const fast = await subscribed(server, server.adminKey, { merchantId: 'm_slow' });
    feeds.push(fast);
    // A raw client that subscribes and then stops reading from its socket.
    const slow = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    const slowClosed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
    await new Promise((resolve) => slow.once('open', resolve));
    slow.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminKey}` } }));
    await new Promise((resolve) => slow.once('message', resolve));
    const opened = server.app.services.feed.stats.opened;
    slow.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: FEED, variables: { merchantId: 'm_slow' } } }));
    await waitFor(() => server.app.services.feed.stats.opened === opened + 1);
    slow.pause();
    const before = server.app.services.feed.stats.subscribers;

    // ~16 MB of events, more than the kernel's socket buffers plus the cap, in bursts of 128 KB
    // (under the cap) that a consumer which reads keeps up with.
    const pad = 'x'.repeat(16_000);
    const total = 1_000;
    for (let i = 0; i < total; i++) {
      server.app.services.ledger.append({ type: 'KEY_USED', merchantId: 'm_slow', metadata: { i, pad } });
      if (i % 8 === 7) {
        await server.app.services.ledger.flush();
        await waitFor(() => fast.events.length === i + 1, 5_000, 2);
      }
    }
    await waitFor(() => server.app.services.feed.stats.subscribers < before, 10_000);
    expect(fast.events.map((e) => (e.metadata as { i: number }).i)).toEqual([...Array(total).keys()]);
    expect(fast.closeCode).toBeNull();
    slow.resume();
    expect(await slowClosed).toBe(4008);
  });

  it('keeps a slow reader of a long replay of large events open, and gives it every event', async () => {
    // 1,000 stored events of ~16 KB: one burst of replayed events (32) is twice the 256 KB cap,
    // so the replay must wait for the socket to drain rather than queue a whole burst.
    const pad = 'y'.repeat(16_000);
    const total = 1_000;
    const head = server.app.services.feed.stats.head;
    for (let i = 0; i < total; i++) server.app.services.ledger.append({ type: 'KEY_USED', merchantId: 'm_replay_big', metadata: { i, pad } });
    await server.app.services.ledger.flush();

    const reader = openRawFeed(server.url, server.adminKey, FEED, { merchantId: 'm_replay_big', after: String(head) });
    const seen = () => reader.payloads.map((payload) => (eventOf(payload).metadata as { i: number }).i);
    // A reader that stops reading for a while, then reads on.
    await waitFor(() => reader.payloads.length > 0, 5_000);
    reader.socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(reader.closeCode).toBeNull();
    reader.socket.resume();
    await waitFor(() => reader.payloads.length === total || reader.closeCode !== null, 30_000);
    expect(reader.closeCode).toBeNull();
    expect(seen()).toEqual([...Array(total).keys()]);
    reader.close();
  });

  it('publishes nothing when the change rolls back', async () => {
    const key = await createKey(server, { merchantId: 'm_rollback', scopes: ['audit:read'] });
    const watcher = await subscribed(server, server.adminKey, { keyId: key.id });
    const own = await subscribed(server, key.secret, { keyId: key.id });
    feeds.push(watcher, own);
    // Both see the KEY_USED left by the key's own subscribe.
    await server.app.services.ledger.flush();
    await waitFor(() => own.events.length === 1 && watcher.events.length === 1);
    const connection = server.app.services.db.fork().getConnection();
    // The event's insert fails inside KeysService.change's transaction: the key's update is rolled back with it.
    await connection.execute(
      "create trigger fail_boom after insert on audit_event when new.reason = 'boom' begin select raise(abort, 'forced failure'); end",
    );
    try {
      const failed = await server.gql(DISABLE, { id: key.id, reason: 'boom' });
      expect(failed.body.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      // An unexpected failure is a 500, not a 200 with an error inside.
      expect(failed.status).toBe(500);
    } finally {
      await connection.execute('drop trigger fail_boom');
    }
    const state = await server.gql('query($id: ID!) { apiKey(id: $id) { status } }', { id: key.id });
    expect(state.body.data.apiKey.status).toBe('ACTIVE');
    expect(await server.app.services.db.fork().count(AuditEventEntity, { reason: 'boom' })).toBe(0);

    // The key still authenticates and its socket stayed open; the next event anyone sees is a later one.
    await server.gql('{ viewer { keyId } }', {}, key.secret);
    await waitFor(() => own.events.length === 2 && watcher.events.length === 2);
    expect(own.events[1]).toMatchObject({ type: 'KEY_USED', operationName: 'viewer' });
    expect(watcher.events[1]).toMatchObject({ type: 'KEY_USED', operationName: 'viewer' });
    await server.gql(DISABLE, { id: key.id, reason: 'fine' });
    await waitFor(() => watcher.events.length === 3);
    expect(watcher.events[2]).toMatchObject({ type: 'KEY_DISABLED', reason: 'fine' });
    expect(await own.closed).toBe(4403);
  });
});

describe('websocket closes on expiry even when the sweeper is slow', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { EXPIRY_SWEEP_MS: '60000' } });
  });
  afterAll(() => server?.stop());

  it('closes at expiresAt, and at the end of a rotation grace period', async () => {
    const expiresAt = Date.now() + 400;
    const expiring = await createKey(server, { merchantId: 'm_timer', scopes: ['audit:read'], expiresAt: new Date(expiresAt).toISOString() });
    const rotated = await createKey(server, { merchantId: 'm_timer', scopes: ['audit:read'] });
    const a = await subscribed(server, expiring.secret);
    const b = await subscribed(server, rotated.secret);
    const graceEnds = Date.now() + 1_000;
    await server.gql(ROTATE, { id: rotated.id, s: 1 });
    const first = await closedWithin(a, expiresAt);
    expect(first.code).toBe(4403);
    expect(first.ms).toBeLessThan(1_000);
    expect(b.closeCode).toBeNull();
    const second = await closedWithin(b, graceEnds);
    expect(second.code).toBe(4403);
    expect(second.ms).toBeLessThan(1_000);
  });
});

describe('websocket credentials from one address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { IP_RATE_LIMIT: '3' } });
  });
  afterAll(() => server?.stop());

  it('stops looking keys up for an address that has used up its failures (4429), valid cached keys still pass', async () => {
    const good = await createKey(server, { merchantId: 'm_guess', scopes: ['audit:read'] });
    const ok = await subscribed(server, good.secret);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push(await openFeed(server, generateKey('SECRET', 'TEST')).closed);
    expect(codes).toEqual([4401, 4401, 4401, 4429]);
    const again = await subscribed(server, good.secret);
    expect(again.closeCode).toBeNull();
    await Promise.all([ok.dispose(), again.dispose()]);
  });
});

describe('shutdown and retention', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { AUDIT_RETENTION_DAYS: '1', AUDIT_PRUNE_INTERVAL_MS: '1000' } });
  });
  afterAll(() => server?.stop());

  it('prunes old usage and refusal events in the background and keeps lifecycle events', async () => {
    const em = server.app.services.db.fork();
    const old = new Date(Date.now() - 2 * 86_400_000);
    const types = ['KEY_USED', 'AUTH_FAILED', 'ACCESS_DENIED', 'RATE_LIMITED', 'KEY_CREATED', 'KEY_REVOKED', 'KEY_EXPIRED'] as const;
    for (const type of types) em.persist(em.create(AuditEventEntity, { type, occurredAt: old, merchantId: 'm_retention' }));
    em.persist(em.create(AuditEventEntity, { type: 'KEY_USED', occurredAt: new Date(), merchantId: 'm_retention' }));
    await em.flush();
    const left = async () =>
      (await server.app.services.db.fork().find(AuditEventEntity, { merchantId: 'm_retention' }, { orderBy: { id: 'asc' } })).map((e) => e.type);
    await waitFor(async () => (await left()).length === 4, 5_000, 100);
    expect(await left()).toEqual(['KEY_CREATED', 'KEY_REVOKED', 'KEY_EXPIRED', 'KEY_USED']);
  });

  it('closes open sockets with 1001 on shutdown', async () => {
    const feed = await subscribed(server, server.adminKey);
    await server.stop();
    expect(await feed.closed).toBe(1001);
  });
});
