import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { compareIds } from '../../src/protocol.js';
import { FEED } from '../helpers/feed.js';
import { eventOf, openRawFeed, type RawFeed } from '../helpers/raw-feed.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const SUBSCRIBERS = 1_000;
const RESUMED = 120;
const ROUNDS = 30;
const SMALL = 'subscription Small($types: [AuditEventType!], $after: String) { auditEvents(types: $types, after: $after) { id type keyId occurredAt } }';
const DISABLE = 'mutation($id: ID!) { disableKey(id: $id, reason: "fan-out") { status } }';
const ENABLE = 'mutation($id: ID!) { enableKey(id: $id) { status } }';

interface Config {
  name: string;
  key: () => string;
  query: string;
  variables: () => Record<string, unknown>;
  /** What the subscriber may see, written out here independently of the feed's selector. */
  wants(row: { type: string; merchantId: string | null; keyId: string | null }): boolean;
}

interface Subscriber {
  config: Config;
  feed: RawFeed;
  /** Resume point (resumed subscribers), or null for live ones. */
  after: string | null;
}

/**
 * The grouped fan-out sends every subscriber exactly what it sent before grouping: 1,000
 * subscribers over eight live filters (admin and merchant keys, two documents, tenancy), and
 * 120 more resuming from a cursor while keys are created, disabled, enabled and used. Each
 * subscriber's frames are compared byte for byte with a reference subscriber of the same
 * filter that replays the same range afterwards (replayed events are executed and serialised
 * per subscriber by graphql-ws, as every event was before), and the reference's ids with the
 * stored rows chosen by the test's own filter.
 */
describe('grouped fan-out of the audit feed', () => {
  let server: TestServer;
  const subscribers: Subscriber[] = [];
  const references: RawFeed[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      env: { FEED_MAX_SUBSCRIPTIONS_PER_KEY: '2000', FEED_MAX_SUBSCRIPTIONS_PER_MERCHANT: '2000', LOG_LEVEL: 'warn' },
    });
  });
  afterAll(async () => {
    for (const { feed } of subscribers) feed.close();
    for (const feed of references) feed.close();
    await server?.stop();
  });

  const maxId = async () => {
    await server.app.services.ledger.flush();
    const [row] = await server.app.services.db.fork().find(AuditEventEntity, {}, { orderBy: { id: 'desc' }, limit: 1, fields: ['id'] });
    return String(row?.id ?? '0');
  };

  it(`sends ${SUBSCRIBERS} live and ${RESUMED} resuming subscribers, in groups, exactly their own events under concurrent writes`, { timeout: 240_000 }, async () => {
    const admin = await createKey(server, { merchantId: 'm_ops', scopes: ['admin'] });
    const readerA = await createKey(server, { merchantId: 'm_fa', scopes: ['audit:read'] });
    const readerA2 = await createKey(server, { merchantId: 'm_fa', scopes: ['audit:read'] });
    const readerB = await createKey(server, { merchantId: 'm_fb', scopes: ['audit:read'] });
    const watchedB = await createKey(server, { merchantId: 'm_fb' });
    const usersA = [await createKey(server, { merchantId: 'm_fa' }), await createKey(server, { merchantId: 'm_fa' })];

    const live: Config[] = [
      { name: 'admin, everything', key: () => admin.secret, query: FEED, variables: () => ({}), wants: () => true },
      { name: 'admin, merchant A', key: () => admin.secret, query: FEED, variables: () => ({ merchantId: 'm_fa' }), wants: (r) => r.merchantId === 'm_fa' },
      {
        name: 'admin, two types, small document',
        key: () => admin.secret,
        query: SMALL,
        variables: () => ({ types: ['KEY_CREATED', 'KEY_DISABLED'] }),
        wants: (r) => r.type === 'KEY_CREATED' || r.type === 'KEY_DISABLED',
      },
      { name: 'merchant A', key: () => readerA.secret, query: FEED, variables: () => ({}), wants: (r) => r.merchantId === 'm_fa' },
      // Another key of the same merchant with the same scopes and filter: the same group as the one above.
      { name: 'merchant A, second key', key: () => readerA2.secret, query: FEED, variables: () => ({}), wants: (r) => r.merchantId === 'm_fa' },
      { name: 'merchant A, KEY_USED', key: () => readerA.secret, query: SMALL, variables: () => ({ types: ['KEY_USED'] }), wants: (r) => r.merchantId === 'm_fa' && r.type === 'KEY_USED' },
      { name: 'merchant B', key: () => readerB.secret, query: FEED, variables: () => ({}), wants: (r) => r.merchantId === 'm_fb' },
      { name: 'merchant B, one key', key: () => readerB.secret, query: FEED, variables: () => ({ keyId: watchedB.id }), wants: (r) => r.merchantId === 'm_fb' && r.keyId === watchedB.id },
    ];
    let liveFrom = '0';
    const resumed: Config[] = [
      { name: 'merchant B, resumed', key: () => readerB.secret, query: SMALL, variables: () => ({ after: liveFrom }), wants: (r) => r.merchantId === 'm_fb' },
      {
        name: 'admin, lifecycle, resumed',
        key: () => admin.secret,
        query: FEED,
        variables: () => ({ after: liveFrom, types: ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED'] }),
        wants: (r) => ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED'].includes(r.type),
      },
    ];

    const open = (config: Config, after: string | null) => {
      subscribers.push({ config, feed: openRawFeed(server.url, config.key(), config.query, config.variables()), after });
    };
    for (let i = 0; i < SUBSCRIBERS; i++) {
      open(live[i % live.length]!, null);
      if (i % 100 === 99) await waitFor(() => server.app.services.feed.stats.subscribers === i + 1, 30_000);
    }
    // Every live subscriber is registered: every event above this id reaches each one that wants it.
    liveFrom = await maxId();
    expect(server.app.services.feed.stats.groups).toBe(live.length - 1);

    // Writes from four clients at once, while the resuming subscribers arrive in waves.
    const writes = (async () => {
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all([
          createKey(server, { merchantId: round % 2 ? 'm_fa' : 'm_fb' }),
          server.gql(round % 2 ? DISABLE : ENABLE, { id: watchedB.id }),
          server.gql('{ viewer { keyId } }', {}, usersA[round % 2]!.secret),
          server.gql('{ viewer { keyId } }', {}, watchedB.secret),
        ]);
      }
    })();
    for (let i = 0; i < RESUMED; i++) {
      open(resumed[i % resumed.length]!, liveFrom);
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await writes;
    const liveTo = await maxId();
    await waitFor(() => server.app.services.feed.stats.subscribers === SUBSCRIBERS + RESUMED, 30_000);
    const rows = (await server.app.services.db.fork().find(AuditEventEntity, { id: { $gt: '0' } }, { orderBy: { id: 'asc' } })).map((row) => ({
      id: String(row.id),
      type: row.type as string,
      merchantId: row.merchantId ?? null,
      keyId: row.keyId ?? null,
    }));
    const byId = new Map(rows.map((row) => [row.id, row]));
    const stored = rows.filter((row) => compareIds(row.id, liveTo) <= 0);
    const inRange = (id: string, from: string) => compareIds(id, from) > 0 && compareIds(id, liveTo) <= 0;

    // One reference per filter and range, replaying after the writes (executed per subscriber by graphql-ws).
    const referenceOf = new Map<Config, Promise<string[]>>();
    const reference = (config: Config, from: string) => {
      let made = referenceOf.get(config);
      if (!made) {
        // Replayed from `from`, the reference's events up to `liveTo` are all in the store by now.
        const expected = stored.filter((row) => inRange(row.id, from) && config.wants(row)).map((row) => row.id);
        const variables = { ...config.variables(), after: from };
        const feed = openRawFeed(server.url, config.key(), config.query, variables);
        references.push(feed);
        made = waitFor(() => feed.payloads.filter((payload) => inRange(eventOf(payload).id, from)).length >= expected.length || feed.other.length > 0, 60_000).then(() => {
          expect(feed.other).toEqual([]);
          const payloads = feed.payloads.filter((payload) => inRange(eventOf(payload).id, from));
          // The reference holds exactly the stored events of its filter, in id order.
          expect(payloads.map((payload) => eventOf(payload).id), config.name).toEqual(expected);
          return payloads;
        });
        referenceOf.set(config, made);
      }
      return made;
    };
    // Live subscribers registered before `liveFrom`, resuming ones asked for `after: liveFrom`: the same range for all.
    for (const config of [...live, ...resumed]) await reference(config, liveFrom);

    let deliveries = 0;
    for (const { config, feed } of subscribers) {
      const expected = await reference(config, liveFrom);
      const last = expected.at(-1);
      if (last) await waitFor(() => feed.payloads.includes(last) || feed.other.length > 0, 30_000);
      expect(feed.other, config.name).toEqual([]);
      const ids = feed.payloads.map((payload) => eventOf(payload).id);
      // One order, no duplicate, nothing outside the filter (events before `liveFrom` included; the
      // references' own subscribes, after `liveTo`, are not in `rows`).
      expect(ids.every((id, index) => index === 0 || BigInt(id) > BigInt(ids[index - 1]!)), config.name).toBe(true);
      expect(ids.every((id) => compareIds(id, liveTo) > 0 || config.wants(byId.get(id)!)), config.name).toBe(true);
      expect(feed.payloads.filter((_, index) => inRange(ids[index]!, liveFrom)), config.name).toEqual(expected);
      deliveries += expected.length;
    }
    // Each event was executed once per group, not once per subscriber.
    expect(deliveries).toBeGreaterThan(20 * SUBSCRIBERS);
    expect(server.app.services.feed.stats.renders).toBeLessThan(deliveries / 20);
  });
});
