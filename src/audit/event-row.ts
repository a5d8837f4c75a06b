import type { AuditEventEntity } from './audit-event.entity.js';
import { EVENT_COLUMNS, type EventColumn, type EventRow } from './event-columns.js';
import type { AuditEventRecord, NewAuditEvent } from './event-types.js';
import { storable, storableJson } from './storable.js';

/** The columns of one event, as every writer stores them (see EventColumn.freeText). */
export function toRow(event: NewAuditEvent): EventRow {
  const row: Record<string, unknown> = {};
  for (const column of EVENT_COLUMNS) row[column.field] = fromEvent(column, event[column.field]);
  return row as EventRow;
}

function fromEvent(column: EventColumn, value: unknown): unknown {
  // The one required date is the time of the event: now, unless the caller knows better.
  if (value == null) return column.type === 'datetime' && !column.nullable ? new Date() : null;
  if (!column.freeText) return value;
  return column.type === 'json' ? storableJson(value) : storable((value as string).slice(0, column.length));
}

/** A stored event as it is published and served. */
export function toRecord(entity: AuditEventEntity): AuditEventRecord {
  const record: Record<string, unknown> = { id: String(entity.id) };
  for (const column of EVENT_COLUMNS) record[column.field] = entity[column.field] ?? null;
  return record as unknown as AuditEventRecord;
}

/** The reason an event the database refused is stored with. */
export const UNRECORDABLE_REASON = 'stored without its details: the database refused the event as recorded';

/** The columns of an event the database refused, without the free text that may be why. */
export function unrecordable(row: EventRow): EventRow {
  const bare: Record<string, unknown> = { ...row };
  for (const column of EVENT_COLUMNS) if (column.freeText) bare[column.field] = null;
  // A spend of credits is the service's own figure and the stored count depends on it: it stays.
  const { creditsSpent, creditPeriod } = row.metadata ?? {};
  const spend = Number.isInteger(creditsSpent) ? { creditsSpent, ...(typeof creditPeriod === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(creditPeriod) ? { creditPeriod } : {}) } : null;
  return { ...(bare as EventRow), reason: UNRECORDABLE_REASON, metadata: spend };
}
