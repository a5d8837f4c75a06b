import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFeed, type FeedClient } from '../helpers/feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const DISABLE = 'mutation($id: ID!, $reason: String) { disableKey(id: $id, reason: $reason) { status } }';
const ENABLE = 'mutation($id: ID!) { enableKey(id: $id) { status } }';

describe('audit feed subscription', () => {
  let server: TestServer;
  const feeds: FeedClient[] = [];
  const open = (...args: Parameters<typeof openFeed>) => {
    const feed = openFeed(...args);
    feeds.push(feed);
    return feed;
  };
  const subscribers = () => server.app.services.feed.stats.subscribers;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(feeds.map((feed) => feed.dispose()));
    await server?.stop();
  });

  it('delivers events in id order, live', async () => {
    const before = subscribers();
    const feed = open(server, server.adminKey, { types: ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED'] });
    await waitFor(() => subscribers() === before + 1);
    const { id } = await createKey(server, { merchantId: 'm_order' });
    await server.gql(DISABLE, { id, reason: 'one' });
    await server.gql(ENABLE, { id });
    await waitFor(() => feed.events.length >= 3);
    expect(feed.events.map((e) => e.type)).toEqual(['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED']);
    const ids = feed.events.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(feed.events.every((e) => e.keyId === id && e.merchantId === 'm_order')).toBe(true);
  });
});
