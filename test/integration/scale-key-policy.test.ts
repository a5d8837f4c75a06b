import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedClient } from '../helpers/feed.js';
import { scaleBackendsAvailable, startCluster, subscribedFeed, type Cluster } from '../helpers/scale.js';
import { createKey, type TestServer } from '../helpers/server.js';

/** updateKey on one instance, felt on the other at once: two instances on one PostgreSQL schema and one Redis prefix. */
const available = await scaleBackendsAvailable('scale-key-policy');

const VIEWER = '{ viewer { keyId } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { id } }';
const VERIFY = 'query($key: String!, $ip: String) { verifyKey(key: $key, context: { ip: $ip }) { valid code metadata } }';

describe.skipIf(!available)('updateKey across instances (PostgreSQL + Redis)', () => {
  let cluster: Cluster;
  let a: TestServer;
  let b: TestServer;
  const feeds: FeedClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ count: 2 });
    [a, b] = cluster.instances as [TestServer, TestServer];
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await cluster?.stop();
  });

  it('an allowlist, metadata and rate limit set on A hold on B’s very next request, and B’s open socket closes with 4403', async () => {
    const admin = cluster.adminKey;
    const verifier = (await createKey(a, { merchantId: 'm_x', scopes: ['keys:verify'] }, admin)).secret;
    const key = await createKey(a, { merchantId: 'm_x', scopes: ['audit:read'], metadata: { v: 1 } }, admin);
    // B has the key cached and a socket open for it.
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(200);
    expect((await b.gql(VERIFY, { key: key.secret }, verifier)).body.data.verifyKey).toEqual({ valid: true, code: 'VALID', metadata: { v: 1 } });
    const feed = await subscribedFeed(b, key.secret);
    feeds.push(feed);
    expect(feed.closeCode).toBeNull();

    const changed = await a.gql(UPDATE, { id: key.id, input: { metadata: { v: 2 }, rateLimit: { limit: 7, windowSeconds: 60 } } }, admin);
    expect(changed.body.errors).toBeUndefined();
    const served = await b.gql(VIEWER, {}, key.secret);
    expect(served.headers.get('ratelimit-limit')).toBe('7');
    expect((await b.gql(VERIFY, { key: key.secret }, verifier)).body.data.verifyKey.metadata).toEqual({ v: 2 });
    expect(feed.closeCode).toBeNull();

    await a.gql(UPDATE, { id: key.id, input: { allowedIps: ['203.0.113.0/24'] } }, admin);
    expect((await b.gql(VIEWER, {}, key.secret)).status).toBe(403);
    expect((await b.gql(VERIFY, { key: key.secret, ip: '203.0.113.9' }, verifier)).body.data.verifyKey.code).toBe('VALID');
    expect((await b.gql(VERIFY, { key: key.secret }, verifier)).body.data.verifyKey.code).toBe('IP_NOT_ALLOWED');
    expect(await feed.closed).toBe(4403);
  });
});
