// This module is also loaded by the SQLite ledger's worker, which the tests run from this
// TypeScript source with Node's own type stripping: it keeps to erasable syntax and imports
// nothing at run time (a relative import would need its `.ts` name, rewritten on build).
import type { AuditEventRecord } from './event-types.ts';

/** One audit row as the ledger writes it: a stored event before the database gives it its id. */
export type EventRow = Omit<AuditEventRecord, 'id'>;

/** The kinds of column a row has, as MikroORM names them. */
type EventColumnType = 'string' | 'datetime' | 'json';

/** One column of the `audit_event` table, besides the id the database assigns. */
export interface EventColumn {
  /** The property of an event (and of the entity and the GraphQL type) it holds. */
  readonly field: keyof EventRow;
  /** Its name in the table. */
  readonly name: string;
  readonly type: EventColumnType;
  /** The longest text it holds (string columns). */
  readonly length?: number;
  readonly nullable: boolean;
  /**
   * Text the client can choose (an operation name, an address, a reason, metadata). On the way
   * in it is cut to the column's length and made storable; a row the database refuses is
   * stored without these (see `unrecordable`). Every other column is the service's own value,
   * validated before it becomes an event, and is stored as given.
   */
  readonly freeText: boolean;
}

/** The audit event table. */
export const EVENT_TABLE = 'audit_event';

/**
 * The columns of an audit row, in the order every writer binds them. The one description of the
 * row: the entity takes its properties' options from it, both batch writers build their INSERT
 * and value arrays from it, and the mapping from an event (event-row.ts) follows it.
 */
export const EVENT_COLUMNS = [
  { field: 'type', name: 'type', type: 'string', length: 32, nullable: false, freeText: false },
  { field: 'occurredAt', name: 'occurred_at', type: 'datetime', nullable: false, freeText: false },
  { field: 'merchantId', name: 'merchant_id', type: 'string', length: 64, nullable: true, freeText: false },
  { field: 'keyId', name: 'key_id', type: 'string', length: 40, nullable: true, freeText: false },
  { field: 'actorKeyId', name: 'actor_key_id', type: 'string', length: 40, nullable: true, freeText: false },
  { field: 'requestId', name: 'request_id', type: 'string', length: 64, nullable: true, freeText: false },
  { field: 'operationName', name: 'operation_name', type: 'string', length: 200, nullable: true, freeText: true },
  { field: 'ip', name: 'ip', type: 'string', length: 64, nullable: true, freeText: true },
  { field: 'reason', name: 'reason', type: 'string', length: 500, nullable: true, freeText: true },
  { field: 'metadata', name: 'metadata', type: 'json', nullable: true, freeText: true },
] as const satisfies readonly EventColumn[];

// A field of an event with no column fails the build here, not at the first write.
type Uncolumned = Exclude<keyof EventRow, (typeof EVENT_COLUMNS)[number]['field']>;
const everyFieldHasAColumn: [Uncolumned] extends [never] ? true : Uncolumned = true;
void everyFieldHasAColumn;

/** The column that holds a field. */
export function eventColumn(field: keyof EventRow): EventColumn {
  const column = EVENT_COLUMNS.find((candidate) => candidate.field === field);
  if (!column) throw new Error(`no audit_event column holds ${field}`);
  return column;
}

/** The SQL dialects the ledger writes. */
export type EventDialect = 'sqlite' | 'postgresql';

/**
 * `insert into <table> (<every column>) values (?, …), …` for `rows` rows, placeholders in
 * column order. `table` is the quoted, schema-qualified name where the writer needs one.
 */
export function insertSql(dialect: EventDialect, rows: number, table = quoted(dialect, EVENT_TABLE)): string {
  const names = EVENT_COLUMNS.map((column) => quoted(dialect, column.name)).join(', ');
  const row = `(${EVENT_COLUMNS.map(() => '?').join(', ')})`;
  return `insert into ${table} (${names}) values ${Array.from({ length: rows }, () => row).join(', ')}`;
}

/** A table or column name quoted for the dialect. */
export function quoted(dialect: EventDialect, name: string): string {
  return dialect === 'sqlite' ? `\`${name}\`` : `"${name}"`;
}

/**
 * A row's values in column order, as a writer binds them: dates as `date` makes them (epoch
 * milliseconds on SQLite, as MikroORM stores them there), JSON as text.
 */
export function columnValues(row: EventRow, date: (value: Date) => unknown, into: unknown[] = []): unknown[] {
  for (const column of EVENT_COLUMNS) {
    const value = row[column.field];
    if (value == null) into.push(null);
    else if (column.type === 'datetime') into.push(date(value as Date));
    else if (column.type === 'json') into.push(JSON.stringify(value));
    else into.push(value);
  }
  return into;
}
