import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/keys/key-material.js';
import { openFeed, type FeedClient } from '../helpers/feed.js';
import { scaleBackendsAvailable, startCluster, type Cluster } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId } }';
/** Reads a second of digests the set does not hold (KnownKeys' default), and as many at once. */
const UNKNOWN_LOOKUPS_PER_SECOND = 10;

/** Opens a feed and waits until the server registered its subscription or closed the socket. */
async function subscribed(server: TestServer, key: string): Promise<FeedClient> {
  const before = server.app.services.feed.stats.opened;
  const feed = openFeed(server, key);
  await waitFor(() => server.app.services.feed.stats.opened > before || feed.closeCode !== null || feed.errors.length > 0);
  return feed;
}

/** Spends the address's failed-credential budget (IP_RATE_LIMIT=3) with garbage and with well-formed unknown keys, until it gets 429. */
async function exhaust(server: TestServer, headers: Record<string, string> = {}): Promise<void> {
  const garbage = await server.gql(VIEWER, {}, 'sk_live_garbage', headers);
  expect(garbage.status).toBe(401);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await server.gql(VIEWER, {}, generateKey('SECRET', 'LIVE'), headers)).status);
  expect(statuses).toEqual([401, 401, 429]);
  expect((await server.gql(VIEWER, {}, 'sk_live_garbage', headers)).status).toBe(429);
}

describe('a valid key is never refused for its address’s failures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-lockout-'));
  const env = { IP_RATE_LIMIT: '3', IP_RATE_WINDOW_SECONDS: '60' };
  let server: TestServer;
  /** The admin key printed by the first start: after the restart, uncached like every key. */
  let admin: string;
  let beforeRestart: { id: string; secret: string };
  let beforeRestartWs: { id: string; secret: string };
  beforeAll(async () => {
    const first = await startTestServer({ dir, keepDir: true, env });
    admin = first.adminKey;
    beforeRestart = await createKey(first, { merchantId: 'm_lock', scopes: ['audit:read'] });
    beforeRestartWs = await createKey(first, { merchantId: 'm_lock', scopes: ['audit:read'] });
    await first.stop();
    // A restart: nothing is cached, every key must be looked up.
    server = await startTestServer({ dir, keepDir: true, env });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves, over HTTP and WebSocket, a key made before the restart and a fresh one, from an address out of its budget', async () => {
    await exhaust(server);
    const fresh = await createKey(server, { merchantId: 'm_lock', scopes: ['audit:read'] }, admin);
    const freshWs = await createKey(server, { merchantId: 'm_lock', scopes: ['audit:read'] }, admin);

    for (const key of [beforeRestart, fresh]) {
      const served = await server.gql(VIEWER, {}, key.secret);
      expect(served.status).toBe(200);
      expect(served.body.data.viewer.keyId).toBe(key.id);
    }
    for (const key of [beforeRestartWs, freshWs]) {
      const feed = await subscribed(server, key.secret);
      expect(feed.closeCode).toBeNull();
      await feed.dispose();
    }
    // The address is still out of its budget for anything else.
    expect((await server.gql(VIEWER, {}, generateKey('SECRET', 'LIVE'))).status).toBe(429);
    expect(await openFeed(server, generateKey('SECRET', 'TEST')).closed).toBe(4429);
  });

  it('answers well-formed unknown keys from many addresses with at most the budgeted database reads', async () => {
    const proxied = await startTestServer({ env: { ...env, TRUST_PROXY: 'true' } });
    try {
      const { authenticator } = proxied.app.services;
      const sent = 300;
      const before = authenticator.lookups;
      const started = Date.now();
      // Each from an address of its own, so no address's budget stops them: only the set and the read budget do.
      const statuses = await Promise.all(
        Array.from({ length: sent }, (_, i) =>
          proxied.gql(VIEWER, {}, generateKey('SECRET', 'LIVE'), { 'x-forwarded-for': `10.0.${i >> 8}.${i & 255}` }).then((r) => r.status),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      const reads = authenticator.lookups - before;
      expect(statuses).toEqual(Array(sent).fill(401));
      const bound = UNKNOWN_LOOKUPS_PER_SECOND * (1 + Math.ceil(seconds));
      console.info(`[lockout] ${sent} unknown keys in ${seconds.toFixed(2)} s cost ${reads} key reads (bound ${bound})`);
      expect(reads).toBeLessThanOrEqual(bound);
      expect(reads).toBeLessThan(sent);
    } finally {
      await proxied.stop();
    }
  });
});

describe('a key made on one instance is served on another from an address out of its budget', async () => {
  const available = await scaleBackendsAvailable('valid-key-lockout');
  let cluster: Cluster;
  beforeAll(async () => {
    if (available) cluster = await startCluster({ env: { IP_RATE_LIMIT: '3', IP_RATE_WINDOW_SECONDS: '60' } });
  });
  afterAll(() => cluster?.stop());

  it.runIf(available)('learns the new key over the bus, without a read for it', async () => {
    const [a, b] = cluster.instances as [TestServer, TestServer];
    await exhaust(b);
    const http = await createKey(a, { merchantId: 'm_lock2', scopes: ['audit:read'] }, cluster.adminKey);
    const ws = await createKey(a, { merchantId: 'm_lock2', scopes: ['audit:read'] }, cluster.adminKey);
    // A answered once Redis took the change: B knows both digests already.
    expect(b.app.services.authenticator.isKnown(http.secret)).toBe(true);
    expect(b.app.services.authenticator.isKnown(ws.secret)).toBe(true);
    const served = await b.gql(VIEWER, {}, http.secret);
    expect(served.status).toBe(200);
    expect(served.body.data.viewer.keyId).toBe(http.id);
    const feed = await subscribed(b, ws.secret);
    expect(feed.closeCode).toBeNull();
    await feed.dispose();
  });
});
