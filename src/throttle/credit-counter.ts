/**
 * Where a key's credits stand now: `remaining` in the refill period `period` (a UTC day
 * number; null for a key without a refill).
 */
export interface CreditState {
  remaining: number;
  period: number | null;
}

/** What a spend is measured against: the period the clock is in, and what a refill sets. */
export interface CreditPlan {
  /** The current refill period, or null without a refill. */
  period: number | null;
  /** The refill amount (null without a refill). */
  amount: number | null;
}

/** A spend's answer: refused spends change nothing. */
export interface SpendResult extends CreditState {
  allowed: boolean;
  /** True when the shared store could not be asked and the outage policy answered. */
  degraded?: boolean;
}

/** Reads a key's stored credits (lazily refilled to `now`'s period), the first time a counter meets the key. */
export type CreditLoader = (keyId: string) => Promise<CreditState | null>;

/**
 * The live count of every key's credits: the hot path's counter, kept where the rate limit is
 * (in process, or in Redis with REDIS_URL) and never written to the database per call. Each
 * operation is atomic per key: refill-if-due, then check, then change; nothing goes below zero.
 * A key the counter has not met yet is read once from storage (`CreditLoader`): the ledger's
 * flushes keep that stored count current (see audit/ledger-writer.ts).
 */
export interface CreditCounter {
  /** Spends `cost` (0 only checks) if that many are left. */
  spend(keyId: string, plan: CreditPlan, cost: number): SpendResult | Promise<SpendResult>;
  /** Adds `amount`; `stored` is the database's count just after the grant, for a counter that has not met the key. */
  grant(keyId: string, plan: CreditPlan, amount: number, stored: CreditState): Promise<CreditState>;
  /** Replaces the count (credits set anew; null: unlimited, forgotten). */
  set(keyId: string, state: CreditState | null): Promise<void>;
  /**
   * True the first time it is asked for this key and occasion (a refill period, or a grant of a
   * key without a refill; see Credits.watchLow), false ever after, on every instance sharing the
   * counter: what makes CREDITS_LOW once per key and period or grant.
   */
  claimLowAlert(keyId: string, occasion: string): Promise<boolean>;
  /** The live count without spending, or null when the counter has not met the key. */
  peek(keyId: string, plan: CreditPlan): Promise<CreditState | null>;
  close(): Promise<void>;
}

/** Refill-if-due: a state from an earlier period starts the current one at the refill amount. */
export function refilled(state: CreditState, plan: CreditPlan): CreditState {
  if (plan.period === null || plan.amount === null) return state;
  if (state.period === null || state.period < plan.period) return { remaining: plan.amount, period: plan.period };
  return state;
}

function added(state: CreditState, amount: number): CreditState {
  return { remaining: state.remaining + amount, period: state.period };
}

/**
 * The in-process counter: one entry per key with credits that this process has met (bounded by
 * the keys that exist, like the map of known keys). A key's first spend waits for its one
 * storage read; every later one answers at once, without a promise.
 */
export class LocalCreditCounter implements CreditCounter {
  private readonly states = new Map<string, CreditState>();
  private readonly loading = new Map<string, Promise<CreditState | null>>();
  /**
   * The occasion each key's CREDITS_LOW was last sent for (one entry per key that ran low). The
   * last one is enough: refill periods only move on and grant numbers only grow (a key whose
   * credits are set anew from a refill to none and back within one period may hear of that period again).
   */
  private readonly lowAlerted = new Map<string, string>();

  constructor(private readonly load: CreditLoader) {}

  spend(keyId: string, plan: CreditPlan, cost: number): SpendResult | Promise<SpendResult> {
    const state = this.states.get(keyId);
    if (state) return this.apply(keyId, state, plan, cost);
    // Stored as unlimited after all (the caller's record predates a change): nothing to count.
    return this.met(keyId).then((loaded) => (loaded ? this.apply(keyId, loaded, plan, cost) : { allowed: true, remaining: 0, period: null }));
  }

  async grant(keyId: string, plan: CreditPlan, amount: number, stored: CreditState): Promise<CreditState> {
    await this.settled(keyId);
    const state = this.states.get(keyId);
    const next = state ? added(refilled(state, plan), amount) : stored;
    this.states.set(keyId, next);
    return next;
  }

  async set(keyId: string, state: CreditState | null): Promise<void> {
    await this.settled(keyId);
    if (state) this.states.set(keyId, state);
    else this.states.delete(keyId);
  }

  async claimLowAlert(keyId: string, occasion: string): Promise<boolean> {
    if (this.lowAlerted.get(keyId) === occasion) return false;
    this.lowAlerted.set(keyId, occasion);
    return true;
  }

  async peek(keyId: string, plan: CreditPlan): Promise<CreditState | null> {
    const state = this.states.get(keyId);
    return state ? refilled(state, plan) : null;
  }

  async close(): Promise<void> {
    this.states.clear();
    this.lowAlerted.clear();
  }

  private apply(keyId: string, state: CreditState, plan: CreditPlan, cost: number): SpendResult {
    const current = refilled(state, plan);
    if (cost > current.remaining) {
      if (current !== state) this.states.set(keyId, current);
      return { allowed: false, ...current };
    }
    const next = { remaining: current.remaining - cost, period: current.period };
    this.states.set(keyId, next);
    return { allowed: true, ...next };
  }

  private async settled(keyId: string): Promise<void> {
    await this.loading.get(keyId)?.catch(() => null);
  }

  /** The key's state once read from storage; concurrent first spends share one read. */
  private met(keyId: string): Promise<CreditState | null> {
    let pending = this.loading.get(keyId);
    if (!pending) {
      pending = this.load(keyId)
        .then((loaded) => {
          // A grant or set that landed while reading wins: it holds the newer count.
          if (loaded && !this.states.has(keyId)) this.states.set(keyId, loaded);
          return this.states.get(keyId) ?? null;
        })
        .finally(() => this.loading.delete(keyId));
      this.loading.set(keyId, pending);
    }
    return pending;
  }
}
