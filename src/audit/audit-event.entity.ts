import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import type { AuditEventType } from './event-types.js';

/** One row of the append-only ledger. `id` comes from the database, so it never repeats or goes back. */
@Entity({ tableName: 'audit_event' })
@Index({ properties: ['merchantId', 'id'] })
@Index({ properties: ['keyId', 'id'] })
@Index({ properties: ['type', 'occurredAt'] })
export class AuditEventEntity {
  [OptionalProps]?: 'id';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'string', length: 32 })
  type!: AuditEventType;

  @Property({ type: 'datetime' })
  occurredAt!: Date;

  @Property({ type: 'string', length: 64, nullable: true })
  merchantId?: string | null;

  @Property({ type: 'string', length: 40, nullable: true })
  keyId?: string | null;

  @Property({ type: 'string', length: 40, nullable: true })
  actorKeyId?: string | null;

  @Property({ type: 'string', length: 64, nullable: true })
  requestId?: string | null;

  @Property({ type: 'string', length: 200, nullable: true })
  operationName?: string | null;

  @Property({ type: 'string', length: 64, nullable: true })
  ip?: string | null;

  @Property({ type: 'string', length: 500, nullable: true })
  reason?: string | null;

  @Property({ type: 'json', nullable: true })
  metadata?: Record<string, unknown> | null;
}
