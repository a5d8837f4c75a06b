import { describe, expect, it } from 'vitest';
import type { EventSelector } from '../../src/audit/event-filter.js';
import type { AuditEventRecord } from '../../src/audit/event-types.js';
import { RecentEvents } from '../../src/audit/recent-events.js';
import { keyUsedRecord } from '../helpers/event-record.js';

const event = keyUsedRecord;
const all: EventSelector = { types: null, keyId: null, merchantId: null };
const m2: EventSelector = { ...all, merchantId: 'm2' };
const ids = (page: { rows: AuditEventRecord[] } | null) => page?.rows.map((row) => row.id);

describe('RecentEvents', () => {
  it('serves the selected events after a point it holds, a page at most, and says how far it read', () => {
    const recent = new RecentEvents({ maxEvents: 1_000, maxAgeMs: 60_000 });
    recent.reset('9');
    recent.append(Array.from({ length: 30 }, (_, i) => event(10 + i, i % 3 === 0 ? 'm2' : 'm1')));
    expect(recent.range(all, '8', '39', 100, 1_000)).toBeNull();
    expect(ids(recent.range(all, '9', '14', 100, 1_000))).toEqual(['10', '11', '12', '13', '14']);
    expect(recent.range(all, '9', '39', 3, 1_000)).toEqual({ rows: expect.any(Array), reached: '12' });
    expect(ids(recent.range(m2, '10', '39', 100, 1_000))).toEqual(['13', '16', '19', '22', '25', '28', '31', '34', '37']);
    // At most `scanLimit` events are looked at: the page ends where the scan stopped.
    expect(recent.range(m2, '10', '39', 100, 4)).toEqual({ rows: [expect.objectContaining({ id: '13' })], reached: '14' });
    expect(recent.range(m2, '37', '39', 100, 1_000)).toEqual({ rows: [], reached: '39' });
  });

  it('takes each id once, in order, and starts again after a reset (a hole stepped over)', () => {
    const recent = new RecentEvents({ maxEvents: 1_000, maxAgeMs: 60_000 });
    recent.reset('0');
    recent.append([event(1), event(2)]);
    recent.append([event(2), event(3)]);
    expect(ids(recent.range(all, '0', '3', 100, 1_000))).toEqual(['1', '2', '3']);
    recent.reset('5');
    recent.append([event(4), event(6)]);
    expect(recent.range(all, '3', '6', 100, 1_000)).toBeNull();
    expect(ids(recent.range(all, '5', '6', 100, 1_000))).toEqual(['6']);
  });

  it('lets the oldest go by number and by age, and then sends older replays to the store', () => {
    let now = 0;
    const recent = new RecentEvents({ maxEvents: 1_500, maxAgeMs: 1_000, now: () => now });
    recent.reset('0');
    recent.append(Array.from({ length: 2_000 }, (_, i) => event(i + 1)));
    expect(recent.size).toBe(1_500);
    expect(recent.range(all, '499', '2000', 10, 100)).toBeNull();
    expect(ids(recent.range(all, '500', '2000', 2, 100))).toEqual(['501', '502']);
    now = 600;
    recent.append([event(2_001)]);
    now = 1_200;
    expect(recent.range(all, '500', '2001', 10, 100)).toBeNull();
    expect(recent.size).toBe(1);
    expect(ids(recent.range(all, '2000', '2001', 10, 100))).toEqual(['2001']);
  });
});
