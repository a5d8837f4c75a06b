// The SQLite ledger's thread (started by ledger-thread.ts). The tests run it from this TypeScript
// source with Node's own type stripping, so it keeps to erasable syntax, and its relative imports
// carry their `.ts` names (rewritten to `.js` on build).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { creditsUpdateSql, creditsUpdateValues } from './credits-sql.ts';
import { EVENT_COLUMNS, insertSql, quoted } from './event-columns.ts';
import { CELL_WIDTH, foldCells, foldSql, upsertCellsSql, USAGE_GRAINS } from './usage-rollup.ts';

/** What the thread is started with. */
export interface LedgerWorkerData {
  /** The database file (the service's own connection has it open too). */
  file: string;
  busyTimeoutMs: number;
}

/**
 * What the thread is asked to write: the rows in order, as one flat array of column values
 * (EVENT_COLUMNS' order and `columnValues`' encoding, ready to bind; cloning it to the thread
 * costs a fraction of cloning the row objects), the usage per key as (id, count, last use in
 * epoch ms, its address) quadruples, and keyUsage's minute cells (CELL_WIDTH-tuples) with the
 * minute to fold up to (see USAGE_GRAINS).
 */
export interface WriteRequest {
  seq: number;
  values: unknown[];
  usage: unknown[];
  /** Credits spent per key, as (id, period, spent) triples (see credits-sql.ts). */
  credits: unknown[];
  cells: unknown[];
  foldUntil: number;
}

/** The ids of a request's rows in order, or why none was written. */
export type WriteReply = { seq: number; ids: string[] } | { seq: number; error: string };

/** Asks the thread to close its connection and end. */
export interface CloseRequest {
  close: true;
}

// Its own connection to the file, committing each batch in one BEGIN IMMEDIATE transaction on
// statements prepared once, with `synchronous = FULL`: the fsync happens here, off the event loop.
const { file, busyTimeoutMs } = workerData as LedgerWorkerData;
const db = new Database(file);
db.pragma(`busy_timeout = ${Number(busyTimeoutMs)}`);
db.pragma('synchronous = FULL');
const insert = db.prepare(insertSql('sqlite', 1));
const update = db.prepare('update `api_key` set `usage_count` = `usage_count` + ?, `last_used_at` = ?, `last_ip` = ? where `id` = ?');
const spend = db.prepare(`update \`api_key\` set ${creditsUpdateSql('sqlite')} where \`id\` = ?`);
const [minutes, ...coarser] = USAGE_GRAINS.map((grain) => ({ ms: grain.ms, upsert: db.prepare(upsertCellsSql('sqlite', quoted('sqlite', grain.table), 1, grain.ms === 60_000)) }));
const fold = foldSql('sqlite', (name) => quoted('sqlite', name));
const watermark = db.prepare(fold.watermark).pluck();
const advance = db.prepare(fold.advance);
const folds = fold.fold.map((sql) => db.prepare(sql));
const width = EVENT_COLUMNS.length;
const write = db.transaction(({ values, usage, credits, cells, foldUntil }: WriteRequest) => {
  const ids: string[] = [];
  for (let at = 0; at < values.length; at += width) ids.push(String(insert.run(values.slice(at, at + width)).lastInsertRowid));
  for (let at = 0; at < usage.length; at += 4) update.run(usage[at + 1], usage[at + 2], usage[at + 3], usage[at]);
  // The stored credits follow the spends these events record, in the same transaction.
  for (let at = 0; at < credits.length; at += 3) {
    spend.run(...creditsUpdateValues({ period: credits[at + 1] as number | null, spent: credits[at + 2] as number }), credits[at]);
  }
  // The rollups commit with the events they count: they never disagree with the ledger.
  for (let at = 0; at < cells.length; at += CELL_WIDTH) minutes!.upsert.run(cells.slice(at, at + CELL_WIDTH));
  const folded = watermark.get() as number;
  // Late cells (minutes already folded) go to the hours and days at once.
  for (const grain of coarser) {
    const late = foldCells(cells, grain.ms, folded);
    for (let at = 0; at < late.length; at += CELL_WIDTH) grain.upsert.run(late.slice(at, at + CELL_WIDTH));
  }
  if (foldUntil > folded) {
    for (const statement of folds) statement.run(folded, foldUntil);
    advance.run(foldUntil);
  }
  return ids;
});

parentPort!.on('message', (message: WriteRequest | CloseRequest) => {
  if ('close' in message) {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    parentPort!.postMessage({ seq: message.seq, ids: write.immediate(message) } satisfies WriteReply);
  } catch (error) {
    parentPort!.postMessage({ seq: message.seq, error: error instanceof Error ? error.message : String(error) } satisfies WriteReply);
  }
});
