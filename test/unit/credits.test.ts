import { describe, expect, it } from 'vitest';
import { credits } from '../../src/cli/options.js';
import { creditsAt, creditsProblems, nextRefillAt, periodAt, periodName, periodOfName, type CreditRefill } from '../../src/keys/credits.js';
import { usageOf } from '../../src/audit/ledger-writer.js';
import { unrecordable } from '../../src/audit/event-row.js';

const at = (iso: string) => Date.parse(iso);
const day = (iso: string) => Math.floor(Date.parse(iso) / 86_400_000);
const monthly = (anchorDay: number | null): CreditRefill => ({ amount: 10, interval: 'MONTHLY', anchorDay });

describe('refill periods', () => {
  it('DAILY turns at 00:00 UTC', () => {
    const daily: CreditRefill = { amount: 5, interval: 'DAILY', anchorDay: null };
    expect(periodAt(daily, at('2026-12-02T23:59:59.999Z'))).toBe(day('2026-12-02'));
    expect(periodAt(daily, at('2026-12-03T00:00:00.000Z'))).toBe(day('2026-12-03'));
    expect(nextRefillAt(daily, at('2026-12-31T12:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('MONTHLY on anchorDay, on the last day of a shorter month, default the 1st', () => {
    expect(nextRefillAt(monthly(31), at('2027-04-10T00:00:00Z')).toISOString()).toBe('2027-04-30T00:00:00.000Z');
    expect(nextRefillAt(monthly(31), at('2027-04-30T00:00:00Z')).toISOString()).toBe('2027-05-31T00:00:00.000Z');
    expect(nextRefillAt(monthly(31), at('2027-01-31T00:00:00Z')).toISOString()).toBe('2027-02-28T00:00:00.000Z');
    expect(nextRefillAt(monthly(30), at('2028-02-01T00:00:00Z')).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(periodAt(monthly(31), at('2027-03-30T23:00:00Z'))).toBe(day('2027-02-28'));
    expect(periodAt(monthly(15), at('2027-01-14T23:59:59Z'))).toBe(day('2026-12-15'));
    expect(nextRefillAt(monthly(null), at('2026-12-31T23:59:59Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('a due refill sets remaining to the amount; a current period keeps it', () => {
    const stored = { remaining: 3, period: day('2027-03-15'), refill: monthly(15) };
    expect(creditsAt(stored, at('2027-04-14T00:00:00Z'))).toEqual({ remaining: 3, period: day('2027-03-15') });
    expect(creditsAt(stored, at('2027-04-15T00:00:00Z'))).toEqual({ remaining: 10, period: day('2027-04-15') });
    expect(creditsAt({ remaining: 7, period: null, refill: null }, at('2030-01-01T00:00:00Z'))).toEqual({ remaining: 7, period: null });
  });

  it('names periods as ISO days and back', () => {
    expect(periodName(day('2026-12-02'))).toBe('2026-12-02');
    expect(periodOfName('2026-12-02')).toBe(day('2026-12-02'));
    expect(periodOfName('nonsense')).toBeNull();
  });
});

describe('credits inputs', () => {
  it('lists every problem at its bound', () => {
    expect(creditsProblems({ remaining: 1_000_000_000, refill: { amount: 1, interval: 'MONTHLY', anchorDay: 31 } })).toEqual([]);
    expect(creditsProblems({ remaining: -1, refill: { amount: 0, interval: 'WEEKLY', anchorDay: 0 } }).map((p) => p.field)).toEqual([
      'remaining',
      'refill.amount',
      'refill.interval',
      'refill.anchorDay',
    ]);
    expect(creditsProblems({ remaining: 1, refill: { amount: 1, interval: 'DAILY', anchorDay: 3 } }).map((p) => p.field)).toEqual(['refill.anchorDay']);
  });

  it('the CLI reads N, N/daily, N/monthly and N/monthly:DAY', () => {
    const problems: string[] = [];
    expect(credits('100', problems)).toEqual({ remaining: 100 });
    expect(credits('100/daily', problems)).toEqual({ remaining: 100, refill: { amount: 100, interval: 'DAILY', anchorDay: null } });
    expect(credits('100/MONTHLY:31', problems)).toEqual({ remaining: 100, refill: { amount: 100, interval: 'MONTHLY', anchorDay: 31 } });
    expect(problems).toEqual([]);
    for (const bad of ['', '-1', '100/weekly', '100/daily:3', 'x/monthly']) expect(credits(bad, problems)).toBeNull();
    expect(problems).toHaveLength(5);
  });
});

describe('spends on the ledger', () => {
  it('sums the spends of the latest period per key and ignores earlier periods', () => {
    const row = (keyId: string, metadata: Record<string, unknown> | null) => ({
      type: 'KEY_USED' as const, occurredAt: new Date(), merchantId: 'm', keyId, actorKeyId: null, requestId: null, operationName: null, ip: null, reason: null, metadata,
    });
    const usage = usageOf([
      row('a', { creditsSpent: 3, creditPeriod: '2026-12-02' }),
      row('a', { creditsSpent: 2, creditPeriod: '2026-12-03' }),
      row('a', { creditsSpent: 4, creditPeriod: '2026-12-03' }),
      row('a', { creditsSpent: 9, creditPeriod: '2026-12-02' }),
      row('b', { creditsSpent: 5 }),
      row('b', { creditsSpent: 1 }),
      row('c', null),
      row('c', { creditsSpent: -4 }),
    ]);
    expect(usage.get('a')).toMatchObject({ count: 4, credits: { period: day('2026-12-03'), spent: 6 } });
    expect(usage.get('b')).toMatchObject({ count: 2, credits: { period: null, spent: 6 } });
    expect(usage.get('c')?.credits).toBeUndefined();
  });
});

describe('an event the database refused', () => {
  it('is stored without its free text but keeps the credits it spent', () => {
    const row = {
      type: 'KEY_USED' as const, occurredAt: new Date(), merchantId: 'm', keyId: 'k', actorKeyId: null, requestId: null,
      operationName: 'bad\u0000name', ip: null, reason: null, metadata: { creditsSpent: 3, creditPeriod: '2026-12-02', note: 'x\u0000' },
    };
    expect(unrecordable(row).metadata).toEqual({ creditsSpent: 3, creditPeriod: '2026-12-02' });
    expect(unrecordable({ ...row, metadata: { creditsSpent: 'x', creditPeriod: 'evil' } }).metadata).toBeNull();
    expect(usageOf([unrecordable(row)]).get('k')?.credits).toEqual({ period: day('2026-12-02'), spent: 3 });
  });
});

