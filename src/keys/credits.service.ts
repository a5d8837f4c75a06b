import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import { BadUserInputError, NotFoundError } from '../errors.js';
import type { CreditLoader } from '../throttle/credit-counter.js';
import type { Credits } from '../throttle/credits.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { CREDITS_MAX, creditsAt, grantProblems } from './credits.js';
import { keyEvent } from './key-events.js';
import { recordGrant, storedCreditsOfEntity, toView, type ApiKeyView } from './key-record.js';
import type { KeyTransaction } from './key-transaction.js';
import type { KeysService } from './keys.service.js';
import type { UpdateKeyRequest } from './update-key.js';
import { isKeyId, reasonProblems } from './validation.js';

/** Reads a key's stored credits as they stand at `now()` (a due refill applied); null: unlimited or no such key. */
export function creditLoader(transaction: KeyTransaction, now: () => number): CreditLoader {
  return async (keyId) => {
    const entity = await transaction.reader().findOne(ApiKeyEntity, { id: keyId });
    const stored = entity ? storedCreditsOfEntity(entity) : null;
    return stored ? creditsAt(stored, now()) : null;
  };
}

/**
 * Granting credits, and the stored count the credit counter starts from when it first meets
 * a key. The live count is the counter's (throttle/credits.ts); the database's is brought up
 * to date by the ledger's flushes, and by each grant here.
 */
export class CreditsService {
  constructor(
    private readonly transaction: KeyTransaction,
    private readonly policy: AccessPolicy,
    private readonly credits: Credits,
    private readonly keys: KeysService,
  ) {}

  /**
   * updateKey, and when it sets the key's credits, the live count too: on this instance's
   * counter, which with REDIS_URL is the one every instance spends from (the key change the
   * commit publishes refreshes every instance's cached record, and with it the refill plan).
   */
  async updateKey(actor: Actor, id: string, input: UpdateKeyRequest): Promise<ApiKeyView> {
    const view = await this.keys.update(actor, id, input);
    if (input.credits !== undefined) {
      await this.credits.counter.set(view.id, view.credits ? creditsAt(view.credits, this.credits.now()) : null);
    }
    return view;
  }

  /**
   * Adds `amount` to the key's credits (after any refill that came due), on the live counter and in
   * storage, with a KEY_UPDATED event (`metadata.changed: ['credits']`, `metadata.granted`).
   * Grants are serialized by the key transaction's lock, so concurrent ones and concurrent spends add exactly.
   */
  async grant(actor: Actor, id: string, amount: number, reason?: string | null): Promise<ApiKeyView> {
    const problems = [...grantProblems(amount), ...reasonProblems(reason)];
    if (problems.length > 0) throw new BadUserInputError(problems);
    let counted: { keyId: string; plan: ReturnType<Credits['plan']> } | null = null;
    try {
      return await this.transaction.commitWithEvents(async (em) => {
        const entity = isKeyId(id) ? await em.findOne(ApiKeyEntity, { id }) : null;
        if (!entity) throw new NotFoundError();
        this.policy.requireMerchant(actor, entity.merchantId, 'grantCredits');
        if (entity.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be granted credits.');
        const stored = storedCreditsOfEntity(entity);
        if (!stored) throw BadUserInputError.at('id', 'This key has unlimited credits; give it credits first.');
        const now = this.credits.now();
        const current = creditsAt(stored, now);
        if (current.remaining + amount > CREDITS_MAX) throw BadUserInputError.at('amount', `A key holds at most ${CREDITS_MAX} credits.`);
        entity.creditsRemaining = current.remaining + amount;
        entity.creditPeriod = current.period;
        entity.updatedAt = new Date(now);
        // The live count moves before the commit: a counter that meets the key meanwhile reads the
        // old stored count and this grant adds to it, or finds this grant's count already there.
        const plan = this.credits.plan(stored, now);
        const live = await this.credits.counter.grant(entity.id, plan, amount, { remaining: entity.creditsRemaining, period: current.period });
        counted = { keyId: entity.id, plan };
        // Without a refill, a new grant of the live count it leaves: CREDITS_LOW measures against it, and may be sent once more.
        if (!stored.refill) recordGrant(entity, live.remaining);
        return {
          result: toView(entity),
          events: [keyEvent('KEY_UPDATED', actor, entity, { reason: reason ?? null, metadata: { changed: ['credits'], granted: amount } })],
          // Every instance's cached record learns the new grant before the next spend there.
          changed: [{ keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: entity.status }],
        };
      });
    } catch (error) {
      // Not stored after all: take the grant back from the live count.
      const undo = counted as { keyId: string; plan: ReturnType<Credits['plan']> } | null;
      if (undo) await this.credits.counter.grant(undo.keyId, undo.plan, -amount, { remaining: 0, period: undo.plan.period });
      throw error;
    }
  }
}
