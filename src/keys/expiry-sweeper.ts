import { SYSTEM_ACTOR } from '../auth/principal.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { keyEvent } from './key-events.js';
import type { KeyTransaction } from './key-transaction.js';

/** Records each key's expiry once, as KEY_EXPIRED, on whichever instance sweeps first. */
export class ExpirySweeper {
  constructor(private readonly transaction: KeyTransaction) {}

  /** Writes KEY_EXPIRED once for each key whose expiry has passed; returns how many. */
  async recordExpiries(limit = 500): Promise<number> {
    const now = new Date();
    const dueWhere = { expiresAt: { $lte: now }, expiryRecordedAt: null };
    // Every instance sweeps several times a second and nearly every sweep finds nothing: ask
    // first, outside a transaction and without the ledger lock.
    if (!(await this.transaction.reader().findOne(ApiKeyEntity, dueWhere, { fields: ['id'] }))) return 0;
    return this.transaction.commitWithEvents(async (em) => {
      const due = await em.find(ApiKeyEntity, dueWhere, { limit, orderBy: { expiresAt: 'asc' } });
      // Claimed row by row with a conditional update: with several instances (or processes on
      // one file) sweeping at once, only the one that set expiry_recorded_at writes the event.
      const claimed: ApiKeyEntity[] = [];
      for (const entity of due) {
        if ((await em.nativeUpdate(ApiKeyEntity, { id: entity.id, expiryRecordedAt: null }, { expiryRecordedAt: now })) === 1) {
          claimed.push(entity);
        }
      }
      return {
        result: claimed.length,
        events: claimed.map((entity) => keyEvent('KEY_EXPIRED', SYSTEM_ACTOR, entity, { reason: 'expired' })),
        changed: claimed.map((entity) => ({ keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: 'EXPIRED' as const })),
      };
    });
  }
}
