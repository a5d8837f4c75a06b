import type { Logger } from 'pino';
import type { Database } from '../db/orm.js';
import { AuditEventEntity } from './audit-event.entity.js';
import { quoted } from './event-columns.js';
import { AuditEventType, LIFECYCLE_EVENTS } from './event-types.js';
import { USAGE_GRAINS, USAGE_RETENTION_DAYS } from './usage-rollup.js';

/**
 * Events that age out after AUDIT_RETENTION_DAYS: everything but the lifecycle events.
 *
 * KEY_USED is one row per request, and AUTH_FAILED, ACCESS_DENIED and RATE_LIMITED can be
 * produced at will by anyone who can reach the port (a guessing client writes one per
 * attempt), so keeping them forever would let traffic, or an attacker, grow the ledger
 * without bound. They are kept for the same retention window as KEY_USED, which is the
 * window an operator has to investigate abuse. The lifecycle events (created, disabled,
 * enabled, revoked, rotated, expired) are few and are the history of every key: never pruned.
 */
export const PRUNABLE_EVENTS: readonly AuditEventType[] = Object.values(AuditEventType).filter(
  (type) => !LIFECYCLE_EVENTS.includes(type),
);

export interface PruneOptions {
  retentionDays: number;
  /** Rows per delete, so the single SQLite writer is never held for long. */
  batchSize?: number;
}

/** Deletes prunable events older than the retention window, in batches; returns how many. */
export async function pruneAuditEvents(db: Database, options: PruneOptions, now = new Date()): Promise<number> {
  const batchSize = options.batchSize ?? 1_000;
  const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000);
  let deleted = 0;
  for (;;) {
    const em = db.fork();
    const rows = await em.find(
      AuditEventEntity,
      { type: { $in: [...PRUNABLE_EVENTS] }, occurredAt: { $lt: cutoff } },
      { fields: ['id'], orderBy: { id: 'asc' }, limit: batchSize },
    );
    if (rows.length === 0) return deleted;
    deleted += await em.nativeDelete(AuditEventEntity, { id: { $in: rows.map((row) => row.id) } });
    if (rows.length < batchSize) return deleted;
    // Let requests and the ledger's own writes through between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Deletes keyUsage rollups whose bucket started more than USAGE_RETENTION_DAYS ago (kept that
 * long whatever AUDIT_RETENTION_DAYS does to the raw events); returns how many rows.
 */
export async function pruneUsageRollups(db: Database, now = new Date()): Promise<number> {
  const cutoff = now.getTime() - USAGE_RETENTION_DAYS * 86_400_000;
  const em = db.fork();
  const schema = db.dialect === 'postgresql' ? em.config.get('schema') : undefined;
  let deleted = 0;
  for (const grain of USAGE_GRAINS) {
    const table = em.getPlatform().quoteIdentifier(schema ? `${schema}.${grain.table}` : grain.table);
    const result = await em.execute<{ affectedRows?: number }>(`delete from ${table} where ${quoted(db.dialect, 'bucket')} < ?`, [cutoff], 'run');
    deleted += result.affectedRows ?? 0;
  }
  return deleted;
}

/**
 * Runs the pruning in the background: once shortly after start, then every `intervalMs`.
 * The returned disposer stops the timer and waits for a run in progress.
 */
export function startRetention(db: Database, logger: Logger, options: PruneOptions & { intervalMs: number; firstRunMs?: number }): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    const started = Date.now();
    running = pruneAuditEvents(db, options)
      .then(async (deleted) => {
        if (deleted > 0) logger.info({ deleted, durationMs: Date.now() - started, retentionDays: options.retentionDays }, 'audit events pruned');
        const rollups = await pruneUsageRollups(db);
        if (rollups > 0) logger.info({ deleted: rollups, retentionDays: USAGE_RETENTION_DAYS }, 'usage rollups pruned');
      })
      .catch((error) => logger.error({ err: error }, 'audit retention run failed'))
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(run, options.firstRunMs ?? 5_000);
  const every = setInterval(run, options.intervalMs);
  first.unref();
  every.unref();
  return async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(every);
    await running;
  };
}
