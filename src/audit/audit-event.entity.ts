import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, type PropertyOptions } from '@mikro-orm/core';
import { EVENT_TABLE, eventColumn, type EventRow } from './event-columns.js';
import type { AuditEventType } from './event-types.js';

/** A property's options, from the column that holds it (event-columns.ts describes the row once). */
function column(field: keyof EventRow): PropertyOptions<AuditEventEntity> {
  const { name, type, length, nullable } = eventColumn(field);
  return { fieldName: name, type, ...(length ? { length } : {}), ...(nullable ? { nullable } : {}) };
}

/** One row of the append-only ledger. `id` comes from the database, so it never repeats or goes back. */
@Entity({ tableName: EVENT_TABLE })
@Index({ properties: ['merchantId', 'id'] })
@Index({ properties: ['keyId', 'id'] })
@Index({ properties: ['type', 'occurredAt'] })
export class AuditEventEntity {
  [OptionalProps]?: 'id';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property(column('type'))
  type!: AuditEventType;

  @Property(column('occurredAt'))
  occurredAt!: Date;

  @Property(column('merchantId'))
  merchantId?: string | null;

  @Property(column('keyId'))
  keyId?: string | null;

  @Property(column('actorKeyId'))
  actorKeyId?: string | null;

  @Property(column('requestId'))
  requestId?: string | null;

  @Property(column('operationName'))
  operationName?: string | null;

  @Property(column('ip'))
  ip?: string | null;

  @Property(column('reason'))
  reason?: string | null;

  @Property(column('metadata'))
  metadata?: Record<string, unknown> | null;
}
