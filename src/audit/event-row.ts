import type { AuditEventEntity } from './audit-event.entity.js';
import { EVENT_COLUMNS, eventColumn, type EventRow } from './event-columns.js';
import type { AuditEventRecord, NewAuditEvent } from './event-types.js';
import { storable, storableJson } from './storable.js';

// The free-text columns' lengths (see EventColumn.freeText), read once from the one description of the row.
const OPERATION_NAME_LENGTH = eventColumn('operationName').length!;
const IP_LENGTH = eventColumn('ip').length!;
const REASON_LENGTH = eventColumn('reason').length!;

/**
 * The columns of one event, as every writer stores them (see EventColumn.freeText): one object
 * literal (a fixed shape, built once per event on the request path), its fields as EVENT_COLUMNS
 * says: the free text cut to its column and made storable, the time of the event now unless the
 * caller knows better, and every other column as given. The test of this module checks it
 * against EVENT_COLUMNS column by column.
 */
export function toRow(event: NewAuditEvent): EventRow {
  return {
    type: event.type,
    occurredAt: event.occurredAt ?? new Date(),
    merchantId: event.merchantId ?? null,
    keyId: event.keyId ?? null,
    actorKeyId: event.actorKeyId ?? null,
    requestId: event.requestId ?? null,
    operationName: event.operationName == null ? null : storable(event.operationName.slice(0, OPERATION_NAME_LENGTH)),
    ip: event.ip == null ? null : storable(event.ip.slice(0, IP_LENGTH)),
    reason: event.reason == null ? null : storable(event.reason.slice(0, REASON_LENGTH)),
    metadata: event.metadata == null ? null : storableJson(event.metadata),
  };
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
