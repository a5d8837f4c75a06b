import type { Database, Em } from '../db/orm.js';
import { creditsUpdateSql, creditsUpdateValues } from './credits-sql.js';
import { columnValues, EVENT_TABLE, insertSql, type EventRow } from './event-columns.js';
import type { BatchWriter, Usage } from './ledger-writer.js';
import { CELL_WIDTH, foldCells, foldSql, upsertCellsSql, USAGE_GRAINS, type UsageRollup } from './usage-rollup.js';

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

  /**
   * Adds the batch's counts to the minutes (late ones to the hours and days too) and folds the
   * closed minutes (see USAGE_GRAINS); in chunks far below PostgreSQL's 65,535 parameters. The
   * ledger lock, taken first, makes one instance's batch at a time read and move the fold.
   */
  private async addRollup(em: Em, rollup: UsageRollup): Promise<void> {
    const [minute, ...coarser] = USAGE_GRAINS;
    const minutes = rollup.cellValues();
    await this.upsertCells(em, minute.table, minutes);
    const sql = foldSql('postgresql', (name) => this.table(em, name));
    const [row] = await em.execute<Array<{ folded_until: string | number }>>(sql.watermark);
    const folded = Number(row!.folded_until);
    for (const grain of coarser) await this.upsertCells(em, grain.table, foldCells(minutes, grain.ms, folded));
    if (rollup.foldUntil <= folded) return;
    for (const statement of sql.fold) await em.execute(statement, [folded, rollup.foldUntil]);
    await em.execute(sql.advance, [rollup.foldUntil]);
  }

  private async upsertCells(em: Em, table: string, cells: readonly unknown[]): Promise<void> {
    for (let at = 0; at < cells.length; at += 1_000 * CELL_WIDTH) {
      const chunk = cells.slice(at, at + 1_000 * CELL_WIDTH);
      await em.execute(upsertCellsSql('postgresql', this.table(em, table), chunk.length / CELL_WIDTH, table === USAGE_GRAINS[0].table), chunk);
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
    const table = this.table(em, 'api_key');
    for (let i = 0; i < entries.length; i += 300) {
      const chunk = entries.slice(i, i + 300);
      // A bare placeholder in CASE is text to PostgreSQL: each is cast to its column's type.
      const cases = (cast: string) => `case "id" ${chunk.map(() => `when ? then cast(? as ${cast})`).join(' ')} end`;
      await em.execute(
        `update ${table} set "usage_count" = "usage_count" + ${cases('int')}, "last_used_at" = ${cases('timestamptz')}, "last_ip" = ${cases('varchar')} where "id" in (${chunk.map(() => '?').join(', ')})`,
        [
          ...chunk.flatMap(([id, { count }]) => [id, count]),
          ...chunk.flatMap(([id, { last }]) => [id, last]),
          ...chunk.flatMap(([id, { ip }]) => [id, ip]),
          ...chunk.map(([id]) => id),
        ],
      );
    }
    // Credits spent: one statement per key that spent any (in the same transaction as the events that say so).
    for (const [id, { credits }] of entries) {
      if (credits) await em.execute(`update ${table} set ${creditsUpdateSql('postgresql')} where "id" = ?`, [...creditsUpdateValues(credits), id]);
    }
  }
}
