import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import { creditsAt, nextRefillAt, periodAt, periodName, type CreditsView, type StoredCredits } from '../keys/credits.js';
import type { KeyRecord } from '../keys/key-record.js';
import { applyNowOrLater } from './limiter.js';
import type { CreditCounter, CreditPlan, CreditState } from './credit-counter.js';
import { requestEvent, type RequestInfo } from './throttle.js';

export type CreditedKey = Pick<KeyRecord, 'id' | 'merchantId' | 'credits'>;

/** A spend's outcome: `remaining` null for a key without credits (unlimited). */
export interface CreditSpend {
  allowed: boolean;
  remaining: number | null;
  /** When the next refill lands; null without one (a refusal then has nothing to wait for). */
  nextRefillAt: Date | null;
  /** What the KEY_USED event of an allowed spend carries, so the ledger's flushes store the count (null: nothing spent). */
  metadata: Record<string, unknown> | null;
}

const UNLIMITED: CreditSpend = Object.freeze({ allowed: true, remaining: null, nextRefillAt: null, metadata: null });

/**
 * The service's credit rules on a counter: a key with credits spends its cost on each call,
 * refills come due by the injected clock, and every refusal leaves a USAGE_EXCEEDED event
 * (one per refusal, never folded: only a valid key can cause one). The spend itself is durable
 * through the KEY_USED event it rides on (`metadata.creditsSpent`, `metadata.creditPeriod`).
 */
export class Credits {
  constructor(
    readonly counter: CreditCounter,
    private readonly ledger: Ledger,
    readonly now: () => number = Date.now,
  ) {}

  /** The refill period the clock is in and what a refill sets, for a key's stored credits. */
  plan(stored: StoredCredits, now = this.now()): CreditPlan {
    return stored.refill ? { period: periodAt(stored.refill, now), amount: stored.refill.amount } : { period: null, amount: null };
  }

  /** Spends `cost` of the key's credits, at once on the in-process counter; a key without credits spends nothing. */
  spend(key: CreditedKey, cost: number, request: RequestInfo): CreditSpend | Promise<CreditSpend> {
    const stored = key.credits;
    if (!stored) return UNLIMITED;
    const now = this.now();
    const next = stored.refill ? nextRefillAt(stored.refill, now) : null;
    return applyNowOrLater(this.counter.spend(key.id, this.plan(stored, now), cost), (result) => {
      if (!result.allowed) {
        this.ledger.append(usageExceededEvent(key, request, { cost, remaining: result.remaining, nextRefillAt: next?.toISOString() ?? null, degraded: result.degraded }));
        return { allowed: false, remaining: result.remaining, nextRefillAt: next, metadata: null };
      }
      if (cost > 0 && !result.degraded) {
        if (stored.refill && result.period !== null) this.watchLow(key, stored.refill.amount, String(result.period), result.remaining, cost, request);
        else if (stored.grant) this.watchLow(key, stored.grant.granted, `grant-${stored.grant.number}`, result.remaining, cost, request);
      }
      const metadata = cost > 0 ? { creditsSpent: cost, ...(result.period !== null ? { creditPeriod: periodName(result.period) } : {}) } : null;
      return { allowed: true, remaining: result.remaining, nextRefillAt: next, metadata };
    });
  }

  /**
   * CREDITS_LOW (contract §9.2) when this spend took the count to 10 % of the grant or below:
   * with a refill, its amount, once per key and refill period (`occasion`: the period's day
   * number); without one, the key's current grant, once per grant (`grant-<number>`). Once on
   * every instance: the counter's claim. Only a spend that crosses the line asks, so a key
   * running low costs no extra call per request.
   */
  private watchLow(key: CreditedKey, granted: number, occasion: string, remaining: number, cost: number, request: RequestInfo): void {
    const line = granted * LOW_FRACTION;
    if (remaining > line || remaining + cost <= line) return;
    this.counter
      .claimLowAlert(key.id, occasion)
      .then((claimed) => {
        if (claimed) this.ledger.append(creditsLowEvent(key, request, { remaining, granted }));
      })
      .catch(() => undefined);
  }

  /** Seconds until a refused spend's key refills (at least one); null when no refill is due. */
  secondsToRefill(spend: CreditSpend): number | null {
    return spend.nextRefillAt ? Math.max(1, Math.ceil((spend.nextRefillAt.getTime() - this.now()) / 1000)) : null;
  }

  /** Credits as they stand now: the counter's live count, or the stored one (refilled if due) when it has not met the key. */
  async view(keyId: string, stored: StoredCredits | null): Promise<CreditsView | null> {
    if (!stored) return null;
    const now = this.now();
    const live: CreditState = (await this.counter.peek(keyId, this.plan(stored, now))) ?? creditsAt(stored, now);
    return { remaining: live.remaining, refill: stored.refill, nextRefillAt: stored.refill ? nextRefillAt(stored.refill, now) : null };
  }
}

/** The share of the grant (a refill's amount, or what a key without one was given) at or below which credits are low. */
const LOW_FRACTION = 0.1;

/** The CREDITS_LOW alert: an ordinary event of the key (feed, query, `keys tail`). */
function creditsLowEvent(key: CreditedKey, request: RequestInfo, figures: { remaining: number; granted: number }): NewAuditEvent {
  return requestEvent('CREDITS_LOW', { merchantId: key.merchantId, keyId: key.id, reason: 'credits low' }, request, figures);
}

/** The USAGE_EXCEEDED event of a refused spend. */
function usageExceededEvent(key: CreditedKey, request: RequestInfo, figures: Record<string, unknown>): NewAuditEvent {
  return requestEvent('USAGE_EXCEEDED', { merchantId: key.merchantId, keyId: key.id, reason: 'usage exceeded' }, request, { ...figures, ...request.metadata });
}
