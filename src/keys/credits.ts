import type { InputProblem } from '../errors.js';

export type RefillInterval = 'DAILY' | 'MONTHLY';
export const REFILL_INTERVALS: readonly RefillInterval[] = ['DAILY', 'MONTHLY'];

/** The most credits a key may hold, and the most one refill or grant may name (contract §9.1). */
export const CREDITS_MAX = 1_000_000_000;
/** The most one verifyKey may spend. */
export const COST_MAX = 1_000;

export interface CreditRefill {
  amount: number;
  interval: RefillInterval;
  /** MONTHLY only: the day of the month (1–31; a shorter month refills on its last day). */
  anchorDay: number | null;
}

/**
 * What a key without a refill was last given, which CREDITS_LOW measures against (with a
 * refill, the refill amount is the grant, once per period).
 */
export interface CreditGrant {
  /** The count the grant started from: the credits a key was made or updated with, or the count just after grantCredits. */
  granted: number;
  /** Which of the key's grants it is (it only grows): each new one may send CREDITS_LOW once more. */
  number: number;
}

/**
 * A key's credits as stored: `remaining` as of the refill period `period` (a UTC day number,
 * days since 1970-01-01, of the period's start; null without a refill). The stored count lags
 * the live one by the spends the ledger has not flushed yet.
 */
export interface StoredCredits {
  remaining: number;
  period: number | null;
  refill: CreditRefill | null;
  /** Without a refill, the current grant; null with one. */
  grant: CreditGrant | null;
}

/** Credits as clients see them: `remaining` now, and when the next refill lands (null without one). */
export interface CreditsView {
  remaining: number;
  refill: CreditRefill | null;
  nextRefillAt: Date | null;
}

const DAY_MS = 86_400_000;

function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

function lastDayOfMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The refill instant of a month (00:00 UTC of its anchor day, or of its last day when shorter). */
function monthlyRefill(year: number, month: number, anchorDay: number): number {
  return Date.UTC(year, month, Math.min(anchorDay, lastDayOfMonth(year, month)));
}

/** The start (UTC day number) of the refill period `now` is in. */
export function periodAt(refill: CreditRefill, now: number): number {
  if (refill.interval === 'DAILY') return dayOf(now);
  const anchor = refill.anchorDay ?? 1;
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const thisMonth = monthlyRefill(year, month, anchor);
  return dayOf(now >= thisMonth ? thisMonth : monthlyRefill(year, month - 1, anchor));
}

/** When the refill after the period `now` is in lands. */
export function nextRefillAt(refill: CreditRefill, now: number): Date {
  if (refill.interval === 'DAILY') return new Date((dayOf(now) + 1) * DAY_MS);
  const start = new Date(periodAt(refill, now) * DAY_MS);
  return new Date(monthlyRefill(start.getUTCFullYear(), start.getUTCMonth() + 1, refill.anchorDay ?? 1));
}

/** The ISO date of a period (the form a KEY_USED event names it by), and back. */
export function periodName(period: number): string {
  return new Date(period * DAY_MS).toISOString().slice(0, 10);
}

export function periodOfName(name: unknown): number | null {
  if (typeof name !== 'string') return null;
  const ms = Date.parse(`${name}T00:00:00.000Z`);
  return Number.isFinite(ms) ? dayOf(ms) : null;
}

/** Stored credits as they stand at `now`: a refill that came due since they were stored has set them to its amount. */
export function creditsAt(stored: Pick<StoredCredits, 'remaining' | 'period' | 'refill'>, now: number): { remaining: number; period: number | null } {
  if (!stored.refill) return { remaining: stored.remaining, period: null };
  const current = periodAt(stored.refill, now);
  if (stored.period === null || stored.period < current) return { remaining: stored.refill.amount, period: current };
  return { remaining: stored.remaining, period: stored.period };
}

/** Credits as a front end (GraphQL, CLI) hands them over. */
export interface CreditsRequest {
  remaining: number;
  refill?: { amount: number; interval: string; anchorDay?: number | null } | null;
}

function isCount(value: unknown, min: number, max: number): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** Every problem with a credits input; field paths relative to it (`remaining`, `refill.anchorDay`). */
export function creditsProblems(input: CreditsRequest): InputProblem[] {
  const problems: InputProblem[] = [];
  if (!isCount(input.remaining, 0, CREDITS_MAX)) problems.push({ field: 'remaining', message: `credits.remaining must be an integer from 0 to ${CREDITS_MAX}.` });
  const refill = input.refill;
  if (refill) {
    if (!isCount(refill.amount, 1, CREDITS_MAX)) problems.push({ field: 'refill.amount', message: `credits.refill.amount must be an integer from 1 to ${CREDITS_MAX}.` });
    if (!REFILL_INTERVALS.includes(refill.interval as RefillInterval)) {
      problems.push({ field: 'refill.interval', message: `credits.refill.interval must be one of ${REFILL_INTERVALS.join(', ')}.` });
    }
    if (refill.anchorDay != null) {
      if (!isCount(refill.anchorDay, 1, 31)) problems.push({ field: 'refill.anchorDay', message: 'credits.refill.anchorDay must be an integer from 1 to 31.' });
      else if (refill.interval === 'DAILY') problems.push({ field: 'refill.anchorDay', message: 'credits.refill.anchorDay applies to MONTHLY refills only.' });
    }
  }
  return problems;
}

/**
 * A credits input known to be valid, as stored at `now`: a grant of `remaining` without a
 * refill, numbered as the first (updateKey numbers it after the key's last; see update-key.ts).
 */
export function storedCreditsOf(input: CreditsRequest, now: number): StoredCredits {
  const refill = input.refill
    ? {
        amount: input.refill.amount,
        interval: input.refill.interval as RefillInterval,
        anchorDay: input.refill.interval === 'MONTHLY' ? (input.refill.anchorDay ?? 1) : null,
      }
    : null;
  return { remaining: input.remaining, period: refill ? periodAt(refill, now) : null, refill, grant: refill ? null : { granted: input.remaining, number: 1 } };
}

export function costProblems(cost: unknown): InputProblem[] {
  return isCount(cost, 0, COST_MAX) ? [] : [{ field: 'cost', message: `cost must be an integer from 0 to ${COST_MAX}.` }];
}

export function grantProblems(amount: unknown): InputProblem[] {
  return isCount(amount, 1, CREDITS_MAX) ? [] : [{ field: 'amount', message: `amount must be an integer from 1 to ${CREDITS_MAX}.` }];
}
