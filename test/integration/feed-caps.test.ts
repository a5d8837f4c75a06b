import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { openFeed, type FeedClient } from '../helpers/feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

/** Every subscription receives every event of its merchant, so their number is bounded per key and per merchant. */
describe('audit feed subscription caps', () => {
  let server: TestServer;
  const open: FeedClient[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { FEED_MAX_SUBSCRIPTIONS_PER_KEY: '3', FEED_MAX_SUBSCRIPTIONS_PER_MERCHANT: '5' } });
  });
  afterAll(async () => {
    await Promise.all(open.map((feed) => feed.dispose()));
    await server?.stop();
  });

  const key = (merchantId: string) => createKey(server, { merchantId, scopes: ['audit:read'], rateLimit: { limit: 1_000, windowSeconds: 60 } });
  /** Opens a feed and waits until the subscribe was either refused or is live (its own KEY_USED arrives). */
  const subscribe = async (secret: string) => {
    const feed = openFeed(server, secret, { types: ['KEY_USED'] });
    open.push(feed);
    await waitFor(() => feed.errors.length > 0 || feed.events.length > 0 || feed.completed);
    return feed;
  };
  const refusal = (feed: FeedClient) => feed.errors[0]?.extensions;
  const rows = async (where: Record<string, unknown>) => {
    await server.app.services.ledger.flush();
    return server.app.services.db.fork().find(AuditEventEntity, where);
  };

  it('refuses a key its fourth live subscription with TOO_MANY_SUBSCRIPTIONS, keeps the socket, and makes room when one ends', async () => {
    const { id, secret } = await key('m_caps_key');
    const live = [await subscribe(secret), await subscribe(secret), await subscribe(secret)];
    expect(live.every((feed) => feed.errors.length === 0)).toBe(true);

    const usedBefore = await rows({ type: 'KEY_USED', keyId: id });
    const fourth = await subscribe(secret);
    expect(refusal(fourth)).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', scope: 'key', limit: 3 });
    // Refused before it was counted: no KEY_USED for every subscriber to receive, one (folded) refusal row.
    expect(await rows({ type: 'KEY_USED', keyId: id })).toHaveLength(usedBefore.length);
    expect(await rows({ type: 'RATE_LIMITED', keyId: id, reason: 'feed subscription cap' })).toHaveLength(1);
    // Refused on a socket that holds a live subscription: the socket stays, and so does that subscription.
    const onSameSocket = await new Promise<unknown>((resolve) => {
      // Refused before it is counted: graphql-ws answers with an `error` message.
      live[2]!.client.subscribe(
        { query: 'subscription { auditEvents { id } }' },
        { next: (result) => resolve(result.errors?.[0]), error: (errors) => resolve(Array.isArray(errors) ? errors[0] : errors), complete: () => undefined },
      );
    });
    expect(onSameSocket).toMatchObject({ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } });
    expect(live[2]!.closeCode).toBeNull();
    const seen = live[2]!.events.length;
    await server.gql('{ viewer { keyId } }', {}, secret);
    await waitFor(() => live[2]!.events.length > seen);

    await live[0]!.dispose();
    await waitFor(() => server.app.services.feed.stats.subscribers === 2);
    const again = await subscribe(secret);
    expect(again.errors).toEqual([]);
    expect(server.app.services.feed.stats.subscribers).toBe(3);
    await Promise.all([live[1]!.dispose(), live[2]!.dispose(), again.dispose(), fourth.dispose()]);
    await waitFor(() => server.app.services.feed.stats.subscribers === 0);
  });

  it("caps one merchant's keys together, and leaves other merchants and admin keys alone", async () => {
    const keys = await Promise.all([key('m_caps_merchant'), key('m_caps_merchant')]);
    const feeds: FeedClient[] = [];
    for (const secret of [keys[0]!.secret, keys[0]!.secret, keys[0]!.secret, keys[1]!.secret, keys[1]!.secret]) feeds.push(await subscribe(secret));
    expect(feeds.every((feed) => feed.errors.length === 0)).toBe(true);
    const sixth = await subscribe(keys[1]!.secret);
    expect(refusal(sixth)).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', scope: 'merchant', limit: 5 });

    const other = await subscribe((await key('m_caps_other')).secret);
    expect(other.errors).toEqual([]);
    const admins = await Promise.all(Array.from({ length: 6 }, () => subscribe(server.adminKey)));
    expect(admins.every((feed) => feed.errors.length === 0)).toBe(true);
  });
});
