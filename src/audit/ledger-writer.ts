import { periodOfName } from '../keys/credits.js';
import type { CreditsSpent } from './credits-sql.js';
import type { EventRow } from './event-columns.js';
import { UsageRollup } from './usage-rollup.js';

/** Usage to add to one key: how many KEY_USED, the latest (its time and address), and the credits they spent. */
export type Usage = Map<string, { count: number; last: Date; ip: string | null; credits?: CreditsSpent }>;

/**
 * Writes a batch of high-volume events (rows in order, plus the keys' usage counters and the
 * keyUsage rollups) in one transaction of its own and returns the rows' ids in the same order.
 * The hot path writes one row per request, so this is kept off the unit of work (no tracked
 * entities, no change sets).
 */
export interface BatchWriter {
  write(rows: readonly EventRow[], usage: Usage, rollup: UsageRollup): Promise<string[]>;
  /** Called once the last batch is written. */
  close(): Promise<void>;
}

/** KEY_USED counts, latest use and credits spent per key, for the keys' usage counters and stored credits. */
export function usageOf(batch: readonly EventRow[]): Usage {
  const usage: Usage = new Map();
  for (const row of batch) {
    if (row.type !== 'KEY_USED' || !row.keyId) continue;
    let entry = usage.get(row.keyId);
    if (entry) {
      entry.count += 1;
      if (row.occurredAt >= entry.last) {
        entry.last = row.occurredAt;
        entry.ip = row.ip;
      }
    } else usage.set(row.keyId, (entry = { count: 1, last: row.occurredAt, ip: row.ip }));
    const spend = spendOf(row);
    if (spend) entry.credits = latest(entry.credits, spend);
  }
  return usage;
}

/** The credits a KEY_USED event spent (see throttle/credits.ts), or null. */
function spendOf(row: EventRow): CreditsSpent | null {
  const spent = row.metadata?.creditsSpent;
  if (!Number.isInteger(spent) || (spent as number) <= 0) return null;
  return { period: periodOfName(row.metadata?.creditPeriod), spent: spent as number };
}

function latest(sum: CreditsSpent | undefined, spend: CreditsSpent): CreditsSpent {
  if (!sum) return { ...spend };
  const [a, b] = [sum.period ?? -1, spend.period ?? -1];
  if (b > a) return { ...spend };
  if (b === a) sum.spent += spend.spent;
  return sum;
}

/** The keyUsage counts of a batch's rows, plus `also` (refusals folded away since the last batch). */
export function rollupOf(batch: readonly EventRow[], also: UsageRollup | null): UsageRollup {
  const rollup = new UsageRollup();
  for (const row of batch) rollup.count(row, row.occurredAt.getTime());
  if (also) rollup.merge(also);
  return rollup;
}
