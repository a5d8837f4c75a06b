import { SYSTEM_ACTOR } from '../auth/principal.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { keyEvent } from './key-events.js';
import { announced, mintKey } from './key-mint.js';
import type { KeyTransaction } from './key-transaction.js';
import { ADMIN_SCOPE } from './scopes.js';

/** Merchant id of the keys the operator's first key belongs to. */
export const PLATFORM_MERCHANT = 'platform';

/**
 * On an empty database, creates the operator's admin key (minted by the system, with the
 * default limit like any key) and returns its value; otherwise null.
 */
export async function ensureAdminKey(
  transaction: KeyTransaction,
  limits: { defaultRateLimit: number; defaultRateWindowSeconds: number },
): Promise<string | null> {
  if ((await transaction.reader().count(ApiKeyEntity, {})) > 0) return null;
  return transaction.commitWithEvents(async (em) => {
    if ((await em.count(ApiKeyEntity, {})) > 0) return { result: null, events: [] };
    const minted = mintKey(em, SYSTEM_ACTOR, {
      merchantId: PLATFORM_MERCHANT,
      name: 'Admin key',
      type: 'SECRET',
      environment: 'LIVE',
      scopes: [ADMIN_SCOPE],
      expiresAt: null,
      rateLimit: limits.defaultRateLimit,
      rateWindowSeconds: limits.defaultRateWindowSeconds,
    });
    return {
      result: minted.secret,
      events: [keyEvent('KEY_CREATED', SYSTEM_ACTOR, minted.entity, { reason: 'first start' })],
      changed: [announced(minted.entity)],
    };
  });
}
