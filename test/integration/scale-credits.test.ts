import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concurrently, eventCount, GRANT, KEY_CREDITS, storedCredits, verifyCost } from '../helpers/credits.js';
import { scaleBackendsAvailable, startCluster, type Cluster } from '../helpers/scale.js';
import { createKey, waitFor, type TestServer } from '../helpers/server.js';

/** Credits counted in Redis: two instances on one PostgreSQL schema and one Redis prefix spend from one count. */
const available = await scaleBackendsAvailable('scale-credits');

describe.skipIf(!available)('credits across instances sharing PostgreSQL + Redis', () => {
  let cluster: Cluster;
  let a: TestServer;
  let b: TestServer;
  let clock = Date.UTC(2026, 11, 2, 23, 59, 0);

  beforeAll(async () => {
    cluster = await startCluster({ count: 2, now: () => clock });
    [a, b] = cluster.instances as [TestServer, TestServer];
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves exactly 100 of 100 credits to 50 concurrent clients spread over both instances', async () => {
    const key = await createKey(a, { name: 'shared', credits: { remaining: 100 } }, cluster.adminKey);
    let turn = 0;
    const results = await concurrently(50, 160, () => verifyCost((turn++ % 2 === 0 ? a : b), key.secret, 1, cluster.adminKey));
    expect(results.filter((r) => r.code === 'VALID')).toHaveLength(100);
    expect(results.filter((r) => r.code === 'USAGE_EXCEEDED')).toHaveLength(60);
    await b.app.services.ledger.flush();
    expect(await storedCredits(a, key.id)).toMatchObject({ remaining: 0 });
    await b.app.services.ledger.flush();
    expect(await eventCount(a, key.id, 'USAGE_EXCEEDED')).toBe(60);
  });

  it('serves exactly 100 of the key’s own requests across both instances', async () => {
    const key = await createKey(a, { name: 'own shared', credits: { remaining: 100 } }, cluster.adminKey);
    let turn = 0;
    const results = await concurrently(50, 130, () => (turn++ % 2 === 0 ? a : b).gql('{ viewer { keyId } }', {}, key.secret));
    expect(results.filter((r) => r.status === 200)).toHaveLength(100);
    expect(results.filter((r) => r.status === 429 && r.body.errors![0]!.extensions.code === 'USAGE_EXCEEDED')).toHaveLength(30);
  });

  it('a grant on one instance adds to what the other spends from, and a refill sets the amount', async () => {
    const key = await createKey(a, { name: 'granted', credits: { remaining: 10, refill: { amount: 7, interval: 'DAILY' } } }, cluster.adminKey);
    expect(await verifyCost(b, key.secret, 10, cluster.adminKey)).toMatchObject({ code: 'VALID', credits: 0 });
    const [spends, grants] = await Promise.all([
      concurrently(20, 100, () => verifyCost(b, key.secret, 1, cluster.adminKey)),
      concurrently(4, 8, () => a.gql(GRANT, { id: key.id, amount: 5 }, cluster.adminKey)),
    ]);
    expect(grants.every((r) => r.body.data?.grantCredits)).toBe(true);
    const served = spends.filter((r) => r.code === 'VALID').length;
    const left = (await a.gql(KEY_CREDITS, { id: key.id }, cluster.adminKey)).body.data.apiKey.credits.remaining;
    expect(served + left).toBe(40);
    clock = Date.UTC(2026, 11, 3, 0, 0, 0);
    expect(await verifyCost(b, key.secret, 0, cluster.adminKey)).toMatchObject({ code: 'VALID', credits: 7 });
    expect(await verifyCost(a, key.secret, 2, cluster.adminKey)).toMatchObject({ code: 'VALID', credits: 5 });
    await b.app.services.ledger.flush();
    expect(await storedCredits(a, key.id)).toMatchObject({ remaining: 5 });
  });

  it('updateKey on one instance sets the count the other spends from; null makes it unlimited on both', async () => {
    clock = Date.UTC(2026, 11, 3, 12, 0, 0);
    const key = await createKey(a, { name: 'updated', credits: { remaining: 5 } }, cluster.adminKey);
    // B has met the key (cached record, shared count) before A changes it.
    expect(await verifyCost(b, key.secret, 5, cluster.adminKey)).toMatchObject({ code: 'VALID', credits: 0 });
    const UPDATE = 'mutation($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { id } }';
    expect((await a.gql(UPDATE, { id: key.id, input: { credits: { remaining: 30 } } }, cluster.adminKey)).body.errors).toBeUndefined();
    let turn = 0;
    const results = await concurrently(20, 50, () => verifyCost((turn++ % 2 === 0 ? b : a), key.secret, 1, cluster.adminKey));
    expect(results.filter((r) => r.code === 'VALID')).toHaveLength(30);
    expect((await a.gql(UPDATE, { id: key.id, input: { credits: null } }, cluster.adminKey)).body.errors).toBeUndefined();
    await waitUntilUnlimited(b, key.secret);
    expect(await verifyCost(a, key.secret, 1000, cluster.adminKey)).toEqual({ valid: true, code: 'VALID', credits: null });
  });

  it('CREDITS_LOW is sent once for both instances, by whichever spend crossed the line', async () => {
    clock = Date.UTC(2026, 11, 4, 12, 0, 0);
    const key = await createKey(a, { name: 'low shared', credits: { remaining: 100, refill: { amount: 100, interval: 'DAILY' } } }, cluster.adminKey);
    let turn = 0;
    const results = await concurrently(20, 95, () => verifyCost((turn++ % 2 === 0 ? a : b), key.secret, 1, cluster.adminKey));
    expect(results.filter((r) => r.code === 'VALID')).toHaveLength(95);
    await waitFor(async () => {
      await Promise.all([a.app.services.ledger.flush(), b.app.services.ledger.flush()]);
      return (await eventCount(a, key.id, 'CREDITS_LOW')) === 1;
    });
    // A grant takes it back over the line; the next crossing in the same period sends nothing.
    expect((await b.gql(GRANT, { id: key.id, amount: 20 }, cluster.adminKey)).body.errors).toBeUndefined();
    await concurrently(10, 20, () => verifyCost((turn++ % 2 === 0 ? a : b), key.secret, 1, cluster.adminKey));
    await Promise.all([a.app.services.ledger.flush(), b.app.services.ledger.flush()]);
    expect(await eventCount(a, key.id, 'CREDITS_LOW')).toBe(1);
  });

  it('CREDITS_LOW without a refill: once for both instances per grant, and a grant on one instance re-arms it on both', async () => {
    const key = await createKey(a, { merchantId: 'm_low_shared', name: 'low once shared', credits: { remaining: 100 } }, cluster.adminKey);
    const lows = async () => {
      await Promise.all([a.app.services.ledger.flush(), b.app.services.ledger.flush()]);
      const query = 'query($f: AuditEventFilter) { auditEvents(filter: $f, first: 10) { edges { node { metadata } } } }';
      const result = await a.gql(query, { f: { keyId: key.id, types: ['CREDITS_LOW'] } }, cluster.adminKey);
      return result.body.data.auditEvents.edges.map((edge: { node: { metadata: unknown } }) => edge.node.metadata).reverse();
    };
    let turn = 0;
    const spend = (count: number) => concurrently(20, count, () => verifyCost((turn++ % 2 === 0 ? a : b), key.secret, 1, cluster.adminKey));
    expect((await spend(89)).every((r) => r.code === 'VALID')).toBe(true);
    expect(await lows()).toEqual([]);
    expect((await spend(6)).every((r) => r.code === 'VALID')).toBe(true);
    await waitFor(async () => (await lows()).length === 1);
    // Both instances have met the key; B grants 20 to the 5 left: a grant of 25, low again at 2 (the 23rd spend).
    expect((await b.gql(GRANT, { id: key.id, amount: 20 }, cluster.adminKey)).body.data.grantCredits.credits.remaining).toBe(25);
    expect((await spend(22)).every((r) => r.code === 'VALID')).toBe(true);
    expect(await lows()).toHaveLength(1);
    await spend(1);
    await waitFor(async () => (await lows()).length === 2);
    await spend(10);
    expect(await lows()).toEqual([
      { remaining: 10, granted: 100 },
      { remaining: 2, granted: 25 },
    ]);
  });

  /** B's cached record is refreshed by the key change A published (over Redis: within moments, not per call). */
  async function waitUntilUnlimited(server: TestServer, secret: string): Promise<void> {
    await waitFor(async () => (await verifyCost(server, secret, 0, cluster.adminKey)).credits === null);
    expect(await verifyCost(server, secret, 1000, cluster.adminKey)).toEqual({ valid: true, code: 'VALID', credits: null });
  }
});
