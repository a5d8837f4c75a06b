import { raw } from '@mikro-orm/core';
import type { Database, Em } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import { columnValues, EVENT_TABLE, insertSql, type EventRow } from './event-columns.js';
import type { BatchWriter, Usage } from './ledger-writer.js';
import { CELL_WIDTH, foldCells, upsertCellsSql, upsertLastUseSql, USAGE_GRAINS, USAGE_LAST_TABLE, type UsageRollup } from './usage-rollup.js';

const asDate = (date: Date) => date;

/**
 * PostgreSQL: in a MikroORM transaction that takes the ledger lock first, one multi-row
 * INSERT … RETURNING, one CASE UPDATE per 300 keys, and the keyUsage rollups as multi-row upserts.
 */
export class PostgresBatchWriter implements BatchWriter {
  constructor(private readonly db: Database) {}

  async close(): Promise<void> {}

  write(rows: readonly EventRow[], usage: Usage, rollup: UsageRollup): Promise<string[]> {
    return this.db.fork().transactional(async (em) => {
      await this.db.lockLedger(em);
      const ids = await this.insert(em, rows);
      await this.addUsage(em, usage);
      await this.addRollup(em, rollup);
      return ids;
    });
  }

  /** The table in the schema the ORM was opened on (the tests give each server its own), quoted. */
  private table(em: Em, name: string): string {
    const schema = em.config.get('schema');
    return em.getPlatform().quoteIdentifier(schema ? `${schema}.${name}` : name);
  }

  /** Adds the batch's counts to every grain's rollup, and its latest uses; in chunks that stay far below PostgreSQL's 65,535 parameters. */
  private async addRollup(em: Em, rollup: UsageRollup): Promise<void> {
    const minutes = rollup.cellValues();
    for (const grain of USAGE_GRAINS) {
      const cells = foldCells(minutes, grain.ms);
      for (let at = 0; at < cells.length; at += 1_000 * CELL_WIDTH) {
        const chunk = cells.slice(at, at + 1_000 * CELL_WIDTH);
        await em.execute(upsertCellsSql('postgresql', this.table(em, grain.table), chunk.length / CELL_WIDTH), chunk);
      }
    }
    const lastUse = rollup.lastUseValues();
    for (let at = 0; at < lastUse.length; at += 3_000) {
      const chunk = lastUse.slice(at, at + 3_000);
      await em.execute(upsertLastUseSql('postgresql', this.table(em, USAGE_LAST_TABLE), chunk.length / 3), chunk);
    }
  }

  private async insert(em: Em, rows: readonly EventRow[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const table = this.table(em, EVENT_TABLE);
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
  }
}
