import type { EventRow } from './event-columns.js';
import { UsageRollup } from './usage-rollup.js';

/** Usage to add to one key: how many KEY_USED, and the latest (its time and address). */
export type Usage = Map<string, { count: number; last: Date; ip: string | null }>;

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

/** KEY_USED counts and latest use per key, for the keys' usage counters. */
export function usageOf(batch: readonly EventRow[]): Usage {
  const usage: Usage = new Map();
  for (const row of batch) {
    if (row.type !== 'KEY_USED' || !row.keyId) continue;
    const entry = usage.get(row.keyId);
    if (entry) {
      entry.count += 1;
      if (row.occurredAt >= entry.last) {
        entry.last = row.occurredAt;
        entry.ip = row.ip;
      }
    } else usage.set(row.keyId, { count: 1, last: row.occurredAt, ip: row.ip });
  }
  return usage;
}

/** The keyUsage counts of a batch's rows, plus `also` (refusals folded away since the last batch). */
export function rollupOf(batch: readonly EventRow[], also: UsageRollup | null): UsageRollup {
  const rollup = new UsageRollup();
  for (const row of batch) rollup.count(row, row.occurredAt.getTime());
  if (also) rollup.merge(also);
  return rollup;
}
