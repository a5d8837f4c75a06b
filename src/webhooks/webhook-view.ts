import type { WebhookDeliveryEntity, WebhookEntity, WebhookStatus } from './webhook.entity.js';
import type { AuditEventType } from '../audit/event-types.js';

/** A webhook endpoint as it is served: never its secret, its lease or its retry bookkeeping. */
export interface WebhookView {
  id: string;
  merchantId: string | null;
  url: string;
  types: AuditEventType[];
  description: string | null;
  status: WebhookStatus;
  createdAt: Date;
  updatedAt: Date;
  lastDeliveredEventId: string | null;
  lastError: string | null;
}

export function toWebhookView(entity: WebhookEntity): WebhookView {
  return {
    id: entity.id,
    merchantId: entity.merchantId ?? null,
    url: entity.url,
    types: [...entity.types],
    description: entity.description ?? null,
    status: entity.status,
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
    lastDeliveredEventId: entity.lastDeliveredEventId == null ? null : String(entity.lastDeliveredEventId),
    lastError: entity.lastError ?? null,
  };
}

/** One delivery attempt as it is served. */
export interface DeliveryView {
  id: string;
  eventId: string;
  attempt: number;
  at: Date;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

export function toDeliveryView(entity: WebhookDeliveryEntity): DeliveryView {
  return {
    id: String(entity.id),
    eventId: String(entity.eventId),
    attempt: entity.attempt,
    at: entity.at,
    httpStatus: entity.httpStatus ?? null,
    error: entity.error ?? null,
    durationMs: entity.durationMs,
  };
}
