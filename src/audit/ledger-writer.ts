import { raw } from '@mikro-orm/core';
import type { Database, Em } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import { AuditEventEntity } from './audit-event.entity.js';
import type { AuditEventType } from './event-types.js';

/** One audit row as the batched writer stores it. */
export interface EventRow {
  type: AuditEventType;
  occurredAt: Date;
  merchantId: string | null;
  keyId: string | null;
  actorKeyId: string | null;
  requestId: string | null;
  operationName: string | null;
  ip: string | null;
  reason: string | null;
  metadata: Record<string, unknown> | null;
}

/** Usage to add to one key: how many KEY_USED, and the latest. */
export type Usage = Map<string, { count: number; last: Date }>;

/**
 * Writes a batch of high-volume events inside the ledger's transaction. The hot path writes
 * one row per request, so this is kept off the unit of work (no tracked entities, no change sets).
 */
export interface BatchWriter {
  /** Inserts the rows in order and returns their ids, in the same order. */
  insert(em: Em, rows: readonly EventRow[]): Promise<string[]>;
  addUsage(em: Em, usage: Usage): Promise<void>;
}

export function batchWriterFor(db: Database): BatchWriter {
  return db.dialect === 'sqlite' ? new SqliteBatchWriter() : new PortableBatchWriter(db);
}

interface Statement {
  run(...params: unknown[]): { lastInsertRowid: number | bigint };
}
interface NativeSqlite {
  prepare(sql: string): Statement;
}

/**
 * SQLite: statements prepared once and run on the transaction's own connection (SQLite
 * has one, held by the transaction until it commits). MikroORM would inline every value
 * into a fresh SQL text that SQLite then compiles again, which cost more than the insert itself.
 * Values are stored as MikroORM stores them: dates as epoch milliseconds, JSON as text.
 */
class SqliteBatchWriter implements BatchWriter {
  private statements: { insert: Statement; usage: Statement } | undefined;

  async insert(em: Em, rows: readonly EventRow[]): Promise<string[]> {
    const { insert } = await this.prepared(em);
    return rows.map((row) =>
      String(
        insert.run(
          row.type,
          row.occurredAt.getTime(),
          row.merchantId,
          row.keyId,
          row.actorKeyId,
          row.requestId,
          row.operationName,
          row.ip,
          row.reason,
          row.metadata ? JSON.stringify(row.metadata) : null,
        ).lastInsertRowid,
      ),
    );
  }

  async addUsage(em: Em, usage: Usage): Promise<void> {
    const { usage: update } = await this.prepared(em);
    for (const [id, { count, last }] of usage) update.run(count, last.getTime(), id);
  }

  private async prepared(em: Em) {
    if (!this.statements) {
      const native = (await em.getConnection().getNativeClient()) as NativeSqlite;
      this.statements = {
        insert: native.prepare(
          'insert into `audit_event` (`type`, `occurred_at`, `merchant_id`, `key_id`, `actor_key_id`, `request_id`, ' +
            '`operation_name`, `ip`, `reason`, `metadata`) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ),
        usage: native.prepare('update `api_key` set `usage_count` = `usage_count` + ?, `last_used_at` = ? where `id` = ?'),
      };
    }
    return this.statements;
  }
}

/** Any other database: one multi-row INSERT … RETURNING and one CASE UPDATE per 300 keys. */
class PortableBatchWriter implements BatchWriter {
  constructor(private readonly db: Database) {}

  async insert(em: Em, rows: readonly EventRow[]): Promise<string[]> {
    // The driver's insert answers every id (RETURNING); em.insertMany() passes on only one.
    const inserted = await em.getDriver().nativeInsertMany(AuditEventEntity, [...rows], { ctx: em.getTransactionContext() });
    // Ids are given in row order; sorted, they pair with the rows whatever order RETURNING used.
    const ids = (inserted.rows ?? []).map((row) => Number(row.id)).sort((a, b) => a - b);
    if (ids.length !== rows.length) throw new Error(`ledger insert returned ${ids.length} ids for ${rows.length} rows`);
    return ids.map(String);
  }

  async addUsage(em: Em, usage: Usage): Promise<void> {
    const entries = [...usage];
    // A bare placeholder in CASE is text to PostgreSQL; the column wants a timestamp.
    const at = this.db.dialect === 'postgresql' ? 'cast(? as timestamptz)' : '?';
    for (let i = 0; i < entries.length; i += 300) {
      const chunk = entries.slice(i, i + 300);
      const counts = raw(`usage_count + case id ${chunk.map(() => 'when ? then ?').join(' ')} end`, chunk.flatMap(([id, { count }]) => [id, count]));
      const lasts = raw(`case id ${chunk.map(() => `when ? then ${at}`).join(' ')} end`, chunk.flatMap(([id, { last }]) => [id, last]));
      await em
        .createQueryBuilder(ApiKeyEntity)
        .update({ usageCount: counts, lastUsedAt: lasts })
        .where({ id: { $in: chunk.map(([id]) => id) } })
        .execute();
    }
  }
}
