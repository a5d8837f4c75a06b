import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import type { AuditEventType } from '../audit/event-types.js';

export type WebhookStatus = 'ACTIVE' | 'FAILING' | 'DISABLED';

/**
 * A webhook endpoint. `secretCipher` is the signing secret encrypted (webhook-secret.ts), never
 * the secret itself. `cursorEventId` is where delivery stands: every event the endpoint wants up
 * to it has been acknowledged (or it is the ledger's end when the endpoint was created). The
 * lease columns say which instance delivers it, until when. Never exposed through GraphQL as is.
 */
@Entity({ tableName: 'webhook' })
@Index({ properties: ['merchantId', 'createdAt'] })
export class WebhookEntity {
  [OptionalProps]?: 'status' | 'attempts' | 'lastDeliveredEventId' | 'lastError' | 'failingSince' | 'nextAttemptAt' | 'leaseOwner' | 'leaseExpiresAt' | 'description';

  @PrimaryKey({ type: 'string', length: 40 })
  id!: string;

  /** Null: an admin's endpoint, which receives every merchant's events. */
  @Property({ type: 'string', length: 64, nullable: true })
  merchantId!: string | null;

  @Property({ type: 'string', length: 2048 })
  url!: string;

  @Property({ type: 'json' })
  types!: AuditEventType[];

  @Property({ type: 'string', length: 500, nullable: true })
  description: string | null = null;

  @Property({ type: 'string', length: 16 })
  status: WebhookStatus = 'ACTIVE';

  @Property({ type: 'string', length: 200 })
  secretCipher!: string;

  @Property({ type: 'datetime' })
  createdAt!: Date;

  @Property({ type: 'datetime' })
  updatedAt!: Date;

  @Property({ type: 'bigint' })
  cursorEventId!: string;

  @Property({ type: 'bigint', nullable: true })
  lastDeliveredEventId: string | null = null;

  @Property({ type: 'string', length: 500, nullable: true })
  lastError: string | null = null;

  /** Failed attempts at the event after the cursor. */
  @Property({ type: 'integer' })
  attempts = 0;

  @Property({ type: 'datetime', nullable: true })
  failingSince: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  nextAttemptAt: Date | null = null;

  @Property({ type: 'string', length: 40, nullable: true })
  leaseOwner: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  leaseExpiresAt: Date | null = null;
}

/** One attempt to deliver one event to one endpoint; the newest WEBHOOK_DELIVERIES_KEPT per endpoint are kept. */
@Entity({ tableName: 'webhook_delivery' })
@Index({ properties: ['webhookId', 'id'] })
export class WebhookDeliveryEntity {
  [OptionalProps]?: 'id';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'string', length: 40 })
  webhookId!: string;

  @Property({ type: 'bigint' })
  eventId!: string;

  @Property({ type: 'integer' })
  attempt!: number;

  @Property({ type: 'datetime' })
  at!: Date;

  @Property({ type: 'integer', nullable: true })
  httpStatus: number | null = null;

  @Property({ type: 'string', length: 500, nullable: true })
  error: string | null = null;

  @Property({ type: 'integer' })
  durationMs!: number;
}
