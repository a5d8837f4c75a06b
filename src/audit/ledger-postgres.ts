import { raw } from '@mikro-orm/core';
import type { Database, Em } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import { creditsUpdateSql, creditsUpdateValues } from './credits-sql.js';
import { columnValues, EVENT_TABLE, insertSql, type EventRow } from './event-columns.js';
import type { BatchWriter, Usage } from './ledger-writer.js';

const asDate = (date: Date) => date;

/**
 * PostgreSQL: in a MikroORM transaction that takes the ledger lock first, one multi-row
 * INSERT … RETURNING and one CASE UPDATE per 300 keys.
 */
export class PostgresBatchWriter implements BatchWriter {
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
    // The table in the schema the ORM was opened on (the tests give each server its own).
    const schema = em.config.get('schema');
    const table = em.getPlatform().quoteIdentifier(schema ? `${schema}.${EVENT_TABLE}` : EVENT_TABLE);
    const values: unknown[] = [];
    for (const row of rows) columnValues(row, asDate, values);
    const inserted = await em.execute<Array<{ id: string | number }>>(`${insertSql('postgresql', rows.length, table)} returning "id"`, values);
    // Ids are given in row order; sorted, they pair with the rows whatever order RETURNING used.
    const ids = inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
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
    // Credits spent: one statement per key that spent any (in the same transaction as the events that say so).
    const schema = em.config.get('schema');
    const table = em.getPlatform().quoteIdentifier(schema ? `${schema}.api_key` : 'api_key');
    for (const [id, { credits }] of entries) {
      if (credits) await em.execute(`update ${table} set ${creditsUpdateSql('postgresql')} where "id" = ?`, [...creditsUpdateValues(credits), id]);
    }
  }
}
