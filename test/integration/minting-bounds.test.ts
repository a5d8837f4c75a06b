import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import { printSdl } from '../../src/graphql/emit-schema.js';
import { CREATE_KEY, createKey, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * CONTRACT §9.5: a key mints (creates, rotates into) only keys within its own bounds. Every
 * minter (TEST or LIVE, expiring or not, and an `admin` key that is exempt) × every new key
 * (environment × type × rate limit × expiry), by createKey and by rotateKey: the exact answer
 * of each cell, that a refusal created and changed nothing, and that it left ACCESS_DENIED.
 */
const MERCHANT = 'm_mint';
const HOUR = 3_600_000;
/** The restricted minters' own limit, and what the server gives a key that names none. */
const MINTER_LIMIT = { limit: 10_000, windowSeconds: 60 };
const DEFAULT_LIMIT = { limit: 100_000, windowSeconds: 60 };

type Env = 'TEST' | 'LIVE';
type Bound = 'environment' | 'rateLimit' | 'expiresAt';
type Outcome = 'OK' | 'FORBIDDEN' | 'BAD_USER_INPUT';

interface Minter {
  name: string;
  environment: Env;
  expires: boolean;
  admin: boolean;
}
const MINTERS: Minter[] = [
  { name: 'test-forever', environment: 'TEST', expires: false, admin: false },
  { name: 'test-expiring', environment: 'TEST', expires: true, admin: false },
  { name: 'live-forever', environment: 'LIVE', expires: false, admin: false },
  { name: 'live-expiring', environment: 'LIVE', expires: true, admin: false },
  // Exempt from every bound, though itself TEST, limited and expiring.
  { name: 'admin-test-expiring', environment: 'TEST', expires: true, admin: true },
];

/** Rate limits of the new key, relative to MINTER_LIMIT, and whether each stays within it. */
const LIMITS: Record<string, { value: { limit: number; windowSeconds: number } | null; within: boolean }> = {
  same: { value: MINTER_LIMIT, within: true },
  lower: { value: { limit: 5_000, windowSeconds: 60 }, within: true },
  longerWindowSameRate: { value: { limit: 20_000, windowSeconds: 120 }, within: true },
  faster: { value: { limit: 10_001, windowSeconds: 60 }, within: false },
  shorterWindowSameRate: { value: { limit: 5_000, windowSeconds: 30 }, within: false },
  // Left out: the server's default (DEFAULT_LIMIT), above the minters' own.
  omitted: { value: null, within: false },
};
/** Expiry of the new key, against a minter that expires in one hour. */
const EXPIRIES = { none: null, beforeMinter: HOUR / 2, afterMinter: 2 * HOUR } as const;
type Expiry = keyof typeof EXPIRIES;
const TYPES = ['SECRET', 'PUBLIC', 'TOKENIZATION'] as const;
const ENVS: Env[] = ['TEST', 'LIVE'];

/** The bounds a new key exceeds, written out from the contract rather than from the code under test. */
function exceeds(minter: Minter, environment: Env, limitWithin: boolean, expiry: Expiry): Bound[] {
  if (minter.admin) return [];
  const bounds: Bound[] = [];
  if (minter.environment === 'TEST' && environment === 'LIVE') bounds.push('environment');
  if (!limitWithin) bounds.push('rateLimit');
  if (minter.expires && expiry !== 'beforeMinter') bounds.push('expiresAt');
  return bounds;
}

const CREATE_CELLS = MINTERS.flatMap((minter) =>
  ENVS.flatMap((environment) =>
    TYPES.flatMap((type) =>
      Object.entries(LIMITS).flatMap(([limit, { within }]) =>
        (Object.keys(EXPIRIES) as Expiry[]).map((expiry) => {
          const bounds = exceeds(minter, environment, within, expiry);
          const outcome: Outcome = bounds.length > 0 ? 'FORBIDDEN' : 'OK';
          return { op: 'create', minter, environment, type, limit, expiry, bounds, outcome };
        }),
      ),
    ),
  ),
).map((cell, index) => ({ ...cell, id: `mint-create-${index}` }));

/** Rotation copies the old key: its limits are all named (rotation has no default to fall back on). */
const ROTATE_LIMITS = ['same', 'lower', 'faster', 'shorterWindowSameRate'] as const;
const ROTATE_CELLS = MINTERS.flatMap((minter) =>
  ENVS.flatMap((environment) =>
    TYPES.flatMap((type) =>
      ROTATE_LIMITS.flatMap((limit) =>
        (Object.keys(EXPIRIES) as Expiry[]).map((expiry) => {
          const bounds = exceeds(minter, environment, LIMITS[limit]!.within, expiry);
          const outcome: Outcome = bounds.length > 0 ? 'FORBIDDEN' : 'OK';
          return { op: 'rotate', minter, environment, type, limit, expiry, bounds, outcome };
        }),
      ),
    ),
  ),
).map((cell, index) => ({ ...cell, id: `mint-rotate-${index}` }));

const ROTATE = 'mutation Rotate($id: ID!) { rotateKey(id: $id) { secret key { id environment type expiresAt rateLimit { limit windowSeconds } } } }';
const TARGET = 'query($id: ID!) { apiKey(id: $id) { status expired expiresAt } }';

describe('minting within bounds (CONTRACT §9.5)', () => {
  let server: TestServer;
  const secrets = new Map<string, string>();
  const minterExpiry = new Date(Date.now() + HOUR);
  const expiryOf = (expiry: Expiry) => (EXPIRIES[expiry] === null ? null : new Date(Date.now() + EXPIRIES[expiry]!));
  const countKeys = (where: Record<string, unknown>) => server.app.services.db.fork().count(ApiKeyEntity, where);

  beforeAll(async () => {
    server = await startTestServer({ env: { RATE_LIMIT: String(DEFAULT_LIMIT.limit), RATE_WINDOW_SECONDS: String(DEFAULT_LIMIT.windowSeconds) } });
    for (const minter of MINTERS) {
      const created = await createKey(server, {
        merchantId: MERCHANT,
        name: `minter ${minter.name}`,
        environment: minter.environment,
        scopes: minter.admin ? ['admin'] : ['keys:read', 'keys:write'],
        rateLimit: MINTER_LIMIT,
        expiresAt: minter.expires ? minterExpiry.toISOString() : null,
      });
      secrets.set(minter.name, created.secret);
    }
  });
  afterAll(() => server?.stop());

  it.each(CREATE_CELLS)('createKey by $minter.name: $environment $type, limit $limit, expiry $expiry → $outcome', async (cell) => {
    const expiresAt = expiryOf(cell.expiry);
    const input = {
      name: cell.id,
      type: cell.type,
      environment: cell.environment,
      scopes: cell.type === 'SECRET' ? ['keys:read'] : [],
      expiresAt: expiresAt?.toISOString() ?? null,
      rateLimit: LIMITS[cell.limit]!.value,
    };
    const result = await server.gql(CREATE_KEY, { input }, secrets.get(cell.minter.name), { 'x-request-id': cell.id });
    if (cell.outcome === 'OK') {
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data.createKey.key).toMatchObject({
        merchantId: MERCHANT,
        environment: cell.environment,
        type: cell.type,
        rateLimit: LIMITS[cell.limit]!.value ?? DEFAULT_LIMIT,
        expiresAt: expiresAt?.toISOString() ?? null,
      });
      expect(await countKeys({ name: cell.id })).toBe(1);
    } else {
      expect(result.status).toBe(200);
      expect(result.body.errors![0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN', requestId: cell.id } });
      expect(result.body.data?.createKey ?? null).toBeNull();
      expect(JSON.stringify(result.body)).not.toMatch(/(sk|pk|tk)_(live|test)_/);
      expect(await countKeys({ name: cell.id })).toBe(0);
    }
  });

  it.each(ROTATE_CELLS)('rotateKey by $minter.name of a $environment $type key, limit $limit, expiry $expiry → $outcome', async (cell) => {
    const expiresAt = expiryOf(cell.expiry);
    const target = await createKey(server, {
      merchantId: MERCHANT,
      name: cell.id,
      type: cell.type,
      environment: cell.environment,
      rateLimit: LIMITS[cell.limit]!.value,
      expiresAt: expiresAt?.toISOString() ?? null,
    });
    const result = await server.gql(ROTATE, { id: target.id }, secrets.get(cell.minter.name), { 'x-request-id': cell.id });
    if (cell.outcome === 'OK') {
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data.rotateKey.key).toMatchObject({
        environment: cell.environment,
        type: cell.type,
        rateLimit: LIMITS[cell.limit]!.value,
        expiresAt: expiresAt?.toISOString() ?? null,
      });
      expect(await countKeys({ rotatedFromId: target.id })).toBe(1);
      return;
    }
    expect(result.status).toBe(200);
    expect(result.body.errors![0]).toMatchObject({ message: 'This action is unauthorized.', extensions: { code: 'FORBIDDEN', requestId: cell.id } });
    expect(result.body.data?.rotateKey ?? null).toBeNull();
    // No secret of any kind went back to the refused minter.
    expect(JSON.stringify(result.body)).not.toMatch(/(sk|pk|tk)_(live|test)_/);
    expect(await countKeys({ rotatedFromId: target.id })).toBe(0);
    const after = await server.gql(TARGET, { id: target.id });
    expect(after.body.data.apiKey).toEqual({ status: 'ACTIVE', expired: false, expiresAt: expiresAt?.toISOString() ?? null });
    expect((await server.gql('{ viewer { keyId } }', {}, target.secret)).status).toBe(200);
  });

  it('every refusal left one ACCESS_DENIED naming the exceeded bounds; nothing else did', async () => {
    await server.app.services.ledger.flush();
    const denied = await server.app.services.db.fork().find(AuditEventEntity, { type: 'ACCESS_DENIED' });
    const byRequest = new Map(denied.map((event) => [event.requestId, event]));
    expect(denied).toHaveLength(byRequest.size);
    for (const cell of [...CREATE_CELLS, ...ROTATE_CELLS]) {
      const event = byRequest.get(cell.id);
      if (cell.outcome === 'OK') {
        expect(event, cell.id).toBeUndefined();
        continue;
      }
      expect(event, cell.id).toBeDefined();
      expect(event, cell.id).toMatchObject({ reason: 'minting bounds', merchantId: MERCHANT, operationName: cell.op === 'create' ? 'Create' : 'Rotate' });
      expect([...(event!.metadata!.bounds as string[])].sort(), cell.id).toEqual([...cell.bounds].sort());
    }
  });
});

describe('keys that live in client code (CONTRACT §9.5)', () => {
  let server: TestServer;
  const EXTRA = 'webhooks:write=Manage webhooks,leaks:report=Report leaked keys,orders.read=Read orders';
  const SERVER_ONLY = ['keys:read', 'keys:write', 'keys:verify', 'audit:read', 'webhooks:write', 'leaks:report', 'admin'];

  beforeAll(async () => {
    server = await startTestServer({ env: { KEYRING_SCOPES: EXTRA } });
  });
  afterAll(() => server?.stop());

  it.each((['PUBLIC', 'TOKENIZATION'] as const).flatMap((type) => SERVER_ONLY.map((scope) => ({ type, scope }))))(
    'a $type key never holds $scope, even from admin: BAD_USER_INPUT, nothing created',
    async ({ type, scope }) => {
      const name = `client ${type} ${scope}`;
      const result = await server.gql(CREATE_KEY, { input: { merchantId: MERCHANT, name, type, scopes: ['orders.read', scope] } });
      expect(result.body.errors![0]!.extensions.code).toBe('BAD_USER_INPUT');
      expect(result.body.errors![0]!.message).toContain(scope);
      expect(await server.app.services.db.fork().count(ApiKeyEntity, { name })).toBe(0);
    },
  );

  it('a SECRET key may hold them all; a client key may hold the merchant’s own scopes', async () => {
    const secret = await server.gql(CREATE_KEY, { input: { merchantId: MERCHANT, name: 'server', type: 'SECRET', scopes: SERVER_ONLY } });
    expect(secret.body.errors).toBeUndefined();
    for (const type of ['PUBLIC', 'TOKENIZATION']) {
      const client = await server.gql(CREATE_KEY, { input: { merchantId: MERCHANT, name: `client ${type}`, type, scopes: ['orders.read'] } });
      expect(client.body.errors).toBeUndefined();
      expect(client.body.data.createKey.key.scopes).toEqual(['orders.read']);
    }
  });
});

describe('CreateKeyInput.environment', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('is KeyEnvironment = TEST in the schema: nullable, with a default', async () => {
    expect(await printSdl()).toMatch(/\n\s+environment: KeyEnvironment = TEST\n/);
  });

  it.each([
    ['left out', {}, 'TEST'],
    ['explicit null', { environment: null }, 'TEST'],
    ['LIVE', { environment: 'LIVE' }, 'LIVE'],
  ])('%s → %s', async (_label, environment, expected) => {
    const result = await server.gql(CREATE_KEY, { input: { merchantId: MERCHANT, name: 'env', type: 'SECRET', scopes: [], ...environment } });
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.createKey.key.environment).toBe(expected);
    expect(result.body.data.createKey.secret.startsWith(expected === 'LIVE' ? 'sk_live_' : 'sk_test_')).toBe(true);
  });

  it('explicit null in the document itself means TEST too', async () => {
    const result = await server.gql(`mutation { createKey(input: { merchantId: "${MERCHANT}", name: "inline", type: SECRET, scopes: [], environment: null }) { key { environment } } }`);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.createKey.key.environment).toBe('TEST');
  });
});
