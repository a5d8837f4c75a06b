import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { digestKey, generateKey } from '../../src/keys/key-material.js';
import type { KnownKeys } from '../../src/keys/known-keys.js';
import { scaleBackendsAvailable, startCluster, type Cluster } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const VERIFY = 'query($key: String!) { verifyKey(key: $key) { valid code key { id } rateLimit { limit } } }';
const NOT_FOUND = { valid: false, code: 'NOT_FOUND', key: null, rateLimit: null };

/** The instance's map of known digests (with their merchants), behind its authenticator. */
const knownKeysOf = (server: TestServer) => (server.app.services.authenticator as unknown as { known: KnownKeys }).known;

/** Verifies `key` as `caller`, with the database reads of keys it cost. */
async function verifyCounting(server: TestServer, key: string, caller: string) {
  const { authenticator } = server.app.services;
  const before = authenticator.lookups;
  const result = await server.gql(VERIFY, { key }, caller);
  if (!result.body.data) throw new Error(JSON.stringify(result.body.errors));
  return { answer: result.body.data.verifyKey, reads: authenticator.lookups - before };
}

describe('verifyKey by a merchant-confined caller: another merchant’s real key takes the unknown key’s path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-verify-foreign-'));
  // Every refusal its own row, so the two refusals' rows can be compared.
  const env = { AUDIT_REFUSAL_WINDOW_SECONDS: '0' };
  let server: TestServer;
  let admin: string;
  let verifier: { id: string; secret: string };
  let foreign: { id: string; secret: string };
  let own: { id: string; secret: string };

  beforeAll(async () => {
    const first = await startTestServer({ dir, keepDir: true, env });
    admin = first.adminKey;
    verifier = await createKey(first, { merchantId: 'm_a', scopes: ['keys:verify'] });
    foreign = await createKey(first, { merchantId: 'm_b', scopes: [] });
    own = await createKey(first, { merchantId: 'm_a', scopes: [] });
    // Cached on the first instance, as an attacker probing it would leave it.
    await first.gql(VERIFY, { key: foreign.secret }, verifier.secret);
    await first.stop();
    // A restart: nothing cached, the map of known digests read from the database.
    server = await startTestServer({ dir, keepDir: true, env });
    // The verifier's own key, read once, so that later counts are the verified keys' alone.
    expect((await server.gql(VERIFY, { key: own.secret }, verifier.secret)).body.data.verifyKey).toMatchObject({ valid: true, code: 'VALID' });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const refusals = async () => {
    await server.app.services.ledger.flush();
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { type: 'AUTH_FAILED', actorKeyId: verifier.id }, { orderBy: { id: 'asc' } });
    return rows.map(({ type, merchantId, keyId, actorKeyId, reason, ip, operationName, metadata }) => ({ type, merchantId, keyId, actorKeyId, reason, ip, operationName, metadata }));
  };

  it('with the unknown-key budget spent: the same answer and event as an unknown key, and no database read for either', async () => {
    const known = knownKeysOf(server);
    expect(known.merchantOf(digestKey(foreign.secret))).toBe('m_b');
    const spent = vi.spyOn(known, 'mayLookUp').mockReturnValue(false);
    const before = (await refusals()).length;
    const unknown = await verifyCounting(server, generateKey('SECRET', 'TEST'), verifier.secret);
    const other = await verifyCounting(server, foreign.secret, verifier.secret);
    spent.mockRestore();
    expect(unknown).toEqual({ answer: NOT_FOUND, reads: 0 });
    expect(other).toEqual({ answer: NOT_FOUND, reads: 0 });
    const rows = (await refusals()).slice(before);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual(rows[1]);
    expect(rows[0]).toMatchObject({ merchantId: 'm_a', keyId: null, reason: 'NOT_FOUND' });
  });

  it('with budget left: one read each, every time (another merchant’s key is never answered from the cache)', async () => {
    const results = [];
    for (let i = 0; i < 2; i++) {
      results.push(await verifyCounting(server, generateKey('SECRET', 'TEST'), verifier.secret));
      results.push(await verifyCounting(server, foreign.secret, verifier.secret));
    }
    expect(results).toEqual(Array.from({ length: 4 }, () => ({ answer: NOT_FOUND, reads: 1 })));
  });

  it('still serves the caller’s own keys, and every key to admin', async () => {
    const mine = await verifyCounting(server, own.secret, verifier.secret);
    expect(mine.answer).toMatchObject({ valid: true, code: 'VALID', key: { id: own.id } });
    const asAdmin = await server.gql(VERIFY, { key: foreign.secret }, admin);
    expect(asAdmin.body.data.verifyKey).toMatchObject({ valid: true, code: 'VALID', key: { id: foreign.id } });
    expect(await refusals()).not.toContainEqual(expect.objectContaining({ keyId: foreign.id }));
  });
});

const available = await scaleBackendsAvailable('verify-foreign-key');

describe.skipIf(!available)('the map of known keys learns a key made on another instance, with its merchant', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ count: 2 });
  });
  afterAll(() => cluster?.stop());

  it('tells B of a key minted on A after start: its merchant’s verifier is served, another merchant’s is told NOT_FOUND without a read', async () => {
    const [a, b] = cluster.instances as [TestServer, TestServer];
    const verifierA = await createKey(b, { merchantId: 'm_a', scopes: ['keys:verify'] }, cluster.adminKey);
    const verifierB = await createKey(b, { merchantId: 'm_b', scopes: ['keys:verify'] }, cluster.adminKey);
    await b.gql(VERIFY, { key: verifierA.secret }, verifierA.secret);
    const minted = await createKey(a, { merchantId: 'm_b', scopes: [] }, cluster.adminKey);
    await waitFor(() => knownKeysOf(b).merchantOf(digestKey(minted.secret)) === 'm_b');

    const spent = vi.spyOn(knownKeysOf(b), 'mayLookUp').mockReturnValue(false);
    try {
      expect(await verifyCounting(b, minted.secret, verifierA.secret)).toEqual({ answer: NOT_FOUND, reads: 0 });
      const served = await verifyCounting(b, minted.secret, verifierB.secret);
      expect(served.answer).toMatchObject({ valid: true, code: 'VALID', key: { id: minted.id } });
    } finally {
      spent.mockRestore();
    }
  });
});
