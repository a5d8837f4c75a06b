import { ApiKeyEntity } from '../../src/keys/api-key.entity.js';
import type { TestServer } from './server.js';

export const VERIFY_COST = 'query($key: String!, $cost: Int) { verifyKey(key: $key, cost: $cost) { valid code credits } }';
export const KEY_CREDITS = 'query($id: ID!) { apiKey(id: $id) { credits { remaining nextRefillAt refill { amount interval anchorDay } } } }';
export const GRANT = 'mutation($id: ID!, $amount: Int!, $reason: String) { grantCredits(id: $id, amount: $amount, reason: $reason) { id credits { remaining } } }';

/** One verifyKey of `secret` for `cost`, by `server`'s admin key: its code and the credits left. */
export async function verifyCost(server: TestServer, secret: string, cost?: number, caller = server.adminKey): Promise<{ code: string; credits: number | null }> {
  const result = await server.gql(VERIFY_COST, { key: secret, cost }, caller);
  if (!result.body.data) throw new Error(JSON.stringify(result.body.errors));
  return result.body.data.verifyKey;
}

/** `count` calls made by `clients` clients at once, each client one call after the other. */
export async function concurrently<T>(clients: number, count: number, call: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        next += 1;
        results.push(await call());
      }
    }),
  );
  return results;
}

/** The key's credits as stored in the database, after the ledger has flushed what it holds. */
export async function storedCredits(server: TestServer, id: string): Promise<{ remaining: number | null; period: number | null }> {
  await server.app.services.ledger.flush();
  const entity = await server.app.services.db.fork().findOneOrFail(ApiKeyEntity, { id });
  return { remaining: entity.creditsRemaining ?? null, period: entity.creditPeriod ?? null };
}

/** How many events of `type` the key has, once the ledger has flushed. */
export async function eventCount(server: TestServer, keyId: string, type: string): Promise<number> {
  await server.app.services.ledger.flush();
  const result = await server.gql('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 1) { totalCount } }', { f: { keyId, types: [type] } });
  return result.body.data.auditEvents.totalCount;
}
