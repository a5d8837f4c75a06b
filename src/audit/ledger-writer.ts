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
 * Writes a batch of high-volume events (rows in order, plus the keys' usage counters) in one
 * transaction of its own and returns the rows' ids in the same order. The hot path writes one
 * row per request, so this is kept off the unit of work (no tracked entities, no change sets).
 */
export interface BatchWriter {
  write(rows: readonly EventRow[], usage: Usage): Promise<string[]>;
}

export function batchWriterFor(db: Database): BatchWriter {
  return db.dialect === 'sqlite' ? new SqliteBatchWriter(db) : new PortableBatchWriter(db);
}

interface Statement {
  run(...params: unknown[]): { lastInsertRowid: number | bigint };
}
interface NativeSqlite {
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  pragma(sql: string, options: { simple: true }): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
}

/**
 * SQLite: one synchronous native transaction per batch, on statements prepared once.
 *
 * - Synchronous, so nothing else can run on the connection in between; it only waits (a turn
 *   at a time) while a MikroORM transaction is open on the connection, which it must not join.
 *   MikroORM would inline every value into a fresh SQL text that SQLite compiles again, and its
 *   async transaction costs more than the batch itself.
 * - Committed with `synchronous = NORMAL` (the connection's FULL is restored at once): in WAL
 *   mode the commit is then durable against a crash of the process at once and against a crash
 *   of the machine from the next synced commit or checkpoint on, without an fsync that stalls
 *   the event loop every batch. Usage events wait up to LEDGER_FLUSH_MS in memory anyway; key
 *   changes and their lifecycle events, which a client is told succeeded, keep FULL.
 * Values are stored as MikroORM stores them: dates as epoch milliseconds, JSON as text.
 */
class SqliteBatchWriter implements BatchWriter {
  private client: NativeSqlite | undefined;
  private run: ((rows: readonly EventRow[], usage: Usage) => string[]) | undefined;

  constructor(private readonly db: Database) {}

  async write(rows: readonly EventRow[], usage: Usage): Promise<string[]> {
    const client = (this.client ??= (await this.db.fork().getConnection().getNativeClient()) as NativeSqlite);
    while (client.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    // Prepared outside any transaction too: SQLite runs a pragma as it compiles it.
    this.run ??= this.prepare(client);
    return this.run(rows, usage);
  }

  private prepare(client: NativeSqlite) {
    const insert = client.prepare(
      'insert into `audit_event` (`type`, `occurred_at`, `merchant_id`, `key_id`, `actor_key_id`, `request_id`, ' +
        '`operation_name`, `ip`, `reason`, `metadata`) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const update = client.prepare('update `api_key` set `usage_count` = `usage_count` + ?, `last_used_at` = ? where `id` = ?');
    const level = Number(client.pragma('synchronous', { simple: true }));
    const relaxed = client.prepare('pragma synchronous = NORMAL');
    const restore = client.prepare(`pragma synchronous = ${level}`);
    const batch = client.transaction((rows: readonly EventRow[], usage: Usage) => {
      const ids = rows.map((row) =>
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
      for (const [id, { count, last }] of usage) update.run(count, last.getTime(), id);
      return ids;
    });
    // SQLite refuses to change the level inside a transaction: around it, in the same synchronous turn.
    const run = (rows: readonly EventRow[], usage: Usage) => {
      relaxed.run();
      try {
        return batch(rows, usage);
      } finally {
        restore.run();
      }
    };
    return run;
  }
}

/**
 * Any other database: in a MikroORM transaction that takes the ledger lock first, one
 * multi-row INSERT … RETURNING and one CASE UPDATE per 300 keys.
 */
class PortableBatchWriter implements BatchWriter {
  constructor(private readonly db: Database) {}

  write(rows: readonly EventRow[], usage: Usage): Promise<string[]> {
    return this.db.fork().transactional(async (em) => {
      await this.db.lockLedger(em);
      const ids = await this.insert(em, rows);
      await this.addUsage(em, usage);
      return ids;
    });
  }

  private async insert(em: Em, rows: readonly EventRow[]): Promise<string[]> {
    // The driver's insert answers every id (RETURNING); em.insertMany() passes on only one.
    const inserted = await em.getDriver().nativeInsertMany(AuditEventEntity, [...rows], { ctx: em.getTransactionContext() });
    // Ids are given in row order; sorted, they pair with the rows whatever order RETURNING used.
    const ids = (inserted.rows ?? []).map((row) => Number(row.id)).sort((a, b) => a - b);
    if (ids.length !== rows.length) throw new Error(`ledger insert returned ${ids.length} ids for ${rows.length} rows`);
    return ids.map(String);
  }

  private async addUsage(em: Em, usage: Usage): Promise<void> {
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
