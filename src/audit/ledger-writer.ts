import { raw } from '@mikro-orm/core';
import type { Database, Em } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import { AuditEventEntity } from './audit-event.entity.js';
import { ThreadBatchWriter } from './ledger-thread.js';
import type { AuditEventRecord } from './event-types.js';

/** One audit row as the batched writer stores it: a stored event before the database gives it its id. */
export type EventRow = Omit<AuditEventRecord, 'id'>;

/** Usage to add to one key: how many KEY_USED, and the latest. */
export type Usage = Map<string, { count: number; last: Date }>;

/**
 * Writes a batch of high-volume events (rows in order, plus the keys' usage counters) in one
 * transaction of its own and returns the rows' ids in the same order. The hot path writes one
 * row per request, so this is kept off the unit of work (no tracked entities, no change sets).
 */
export interface BatchWriter {
  write(rows: readonly EventRow[], usage: Usage): Promise<string[]>;
  /** Called once the last batch is written. */
  close(): Promise<void>;
}

export function batchWriterFor(db: Database): BatchWriter {
  if (db.dialect !== 'sqlite') return new PortableBatchWriter(db);
  if (!db.file) throw new Error('the SQLite ledger needs a database file');
  return new ThreadBatchWriter(db.file);
}

/**
 * PostgreSQL: in a MikroORM transaction that takes the ledger lock first, one multi-row
 * INSERT … RETURNING and one CASE UPDATE per 300 keys.
 */
class PortableBatchWriter implements BatchWriter {
  constructor(private readonly db: Database) {}

  async close(): Promise<void> {}

  write(rows: readonly EventRow[], usage: Usage): Promise<string[]> {
    return this.db.fork().transactional(async (em) => {
      await this.db.lockLedger(em);
      const ids = await this.insert(em, rows);
      await this.addUsage(em, usage);
      return ids;
    });
  }

  private async insert(em: Em, rows: readonly EventRow[]): Promise<string[]> {
    if (rows.length === 0) return [];
    // The driver's insert answers every id (RETURNING); em.insertMany() passes on only one.
    const inserted = await em.getDriver().nativeInsertMany(AuditEventEntity, [...rows], { ctx: em.getTransactionContext() });
    // Ids are given in row order; sorted, they pair with the rows whatever order RETURNING used.
    const ids = (inserted.rows ?? []).map((row) => Number(row.id)).sort((a, b) => a - b);
    if (ids.length !== rows.length) throw new Error(`ledger insert returned ${ids.length} ids for ${rows.length} rows`);
    return ids.map(String);
  }

  private async addUsage(em: Em, usage: Usage): Promise<void> {
    const entries = [...usage];
    for (let i = 0; i < entries.length; i += 300) {
      const chunk = entries.slice(i, i + 300);
      const counts = raw(`usage_count + case id ${chunk.map(() => 'when ? then ?').join(' ')} end`, chunk.flatMap(([id, { count }]) => [id, count]));
      // A bare placeholder in CASE is text to PostgreSQL; the column wants a timestamp.
      const lasts = raw(`case id ${chunk.map(() => 'when ? then cast(? as timestamptz)').join(' ')} end`, chunk.flatMap(([id, { last }]) => [id, last]));
      await em
        .createQueryBuilder(ApiKeyEntity)
        .update({ usageCount: counts, lastUsedAt: lasts })
        .where({ id: { $in: chunk.map(([id]) => id) } })
        .execute();
    }
  }
}
