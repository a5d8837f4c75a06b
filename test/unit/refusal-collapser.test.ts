import { afterEach, describe, expect, it } from 'vitest';
import type { NewAuditEvent } from '../../src/audit/event-types.js';
import { RefusalCollapser } from '../../src/audit/refusal-collapser.js';

describe('RefusalCollapser', () => {
  let clock = 1_800_000_000_000;
  const recorded: NewAuditEvent[] = [];
  let collapser: RefusalCollapser | undefined;
  const make = (maxGroups = 100) => {
    recorded.length = 0;
    collapser = new RefusalCollapser((event) => recorded.push(event), { windowMs: 60_000, maxGroups, now: () => clock });
    return collapser;
  };
  afterEach(() => collapser?.stop());
  const refused = (ip: string, reason = 'NOT_FOUND', type: NewAuditEvent['type'] = 'AUTH_FAILED'): NewAuditEvent => ({
    type,
    ip,
    reason,
    requestId: `r-${Math.random()}`,
  });

  it('records the first refusal per address and reason at once, and one summary with the count of the rest', () => {
    const c = make();
    for (let i = 0; i < 1_000; i++) c.offer(refused('10.0.0.1'));
    c.offer(refused('10.0.0.1', 'MALFORMED'));
    c.offer(refused('10.0.0.2'));
    expect(recorded.map((e) => [e.ip, e.reason])).toEqual([
      ['10.0.0.1', 'NOT_FOUND'],
      ['10.0.0.1', 'MALFORMED'],
      ['10.0.0.2', 'NOT_FOUND'],
    ]);
    clock += 60_000;
    c.offer(refused('10.0.0.3'));
    const summary = recorded.find((e) => e.metadata?.summary);
    expect(summary).toMatchObject({ type: 'AUTH_FAILED', ip: '10.0.0.1', reason: 'NOT_FOUND', requestId: null, metadata: { count: 999 } });
    // groups with nothing folded write no summary
    expect(recorded.filter((e) => e.metadata?.summary)).toHaveLength(1);
    expect(recorded).toHaveLength(5);
  });

  it('a new window starts a new first row', () => {
    const c = make();
    c.offer(refused('10.0.0.1'));
    clock += 60_001;
    c.offer(refused('10.0.0.1'));
    expect(recorded).toHaveLength(2);
    expect(recorded.every((e) => !e.metadata?.summary)).toBe(true);
  });

  it('keeps RATE_LIMITED of different keys apart, and passes every other event through', () => {
    const c = make();
    c.offer({ ...refused('10.0.0.1', 'key rate limit', 'RATE_LIMITED'), keyId: 'key_a' });
    c.offer({ ...refused('10.0.0.1', 'key rate limit', 'RATE_LIMITED'), keyId: 'key_b' });
    c.offer({ ...refused('10.0.0.1', 'key rate limit', 'RATE_LIMITED'), keyId: 'key_b' });
    for (let i = 0; i < 3; i++) c.offer({ type: 'KEY_USED', ip: '10.0.0.1', keyId: 'key_a' });
    c.offer({ type: 'ACCESS_DENIED', ip: '10.0.0.1', keyId: 'key_a', reason: 'missing scope' });
    c.offer({ type: 'ACCESS_DENIED', ip: '10.0.0.1', keyId: 'key_a', reason: 'missing scope' });
    expect(recorded.map((e) => e.type)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'KEY_USED', 'KEY_USED', 'KEY_USED', 'ACCESS_DENIED', 'ACCESS_DENIED']);
    c.flush();
    expect(recorded.at(-1)).toMatchObject({ type: 'RATE_LIMITED', keyId: 'key_b', metadata: { summary: true, count: 1 } });
  });

  it('tracks at most maxGroups addresses; the oldest group is closed early with its summary, nothing lost', () => {
    const c = make(10);
    for (let round = 0; round < 3; round++) for (let i = 0; i < 50; i++) c.offer(refused(`10.0.1.${i}`));
    expect(c.size).toBeLessThanOrEqual(10);
    c.flush();
    const total = recorded.reduce((sum, e) => sum + (e.metadata?.summary ? (e.metadata.count as number) : 1), 0);
    expect(total).toBe(150);
  });

  it('writes due summaries on its own when no refusal follows', async () => {
    recorded.length = 0;
    collapser = new RefusalCollapser((event) => recorded.push(event), { windowMs: 200, maxGroups: 10 });
    collapser.offer(refused('10.0.0.9'));
    collapser.offer(refused('10.0.0.9'));
    expect(recorded).toHaveLength(1);
    await expect.poll(() => recorded.length, { timeout: 3_000 }).toBe(2);
    expect(recorded[1]).toMatchObject({ metadata: { summary: true, count: 1 } });
  });
});
