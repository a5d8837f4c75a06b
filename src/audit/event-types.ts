/** Every kind of event the ledger records. */
export const AuditEventType = {
  KEY_CREATED: 'KEY_CREATED',
  KEY_USED: 'KEY_USED',
  KEY_DISABLED: 'KEY_DISABLED',
  KEY_ENABLED: 'KEY_ENABLED',
  KEY_REVOKED: 'KEY_REVOKED',
  KEY_ROTATED: 'KEY_ROTATED',
  KEY_EXPIRED: 'KEY_EXPIRED',
  KEY_UPDATED: 'KEY_UPDATED',
  AUTH_FAILED: 'AUTH_FAILED',
  ACCESS_DENIED: 'ACCESS_DENIED',
  RATE_LIMITED: 'RATE_LIMITED',
  USAGE_EXCEEDED: 'USAGE_EXCEEDED',
  KEY_LEAKED: 'KEY_LEAKED',
  KEY_EXPIRING: 'KEY_EXPIRING',
  /** A webhook endpoint that kept failing past WEBHOOK_DISABLE_AFTER_MS was disabled. */
  WEBHOOK_DISABLED: 'WEBHOOK_DISABLED',
  /** A key's credits fell to 10 % of its refill amount or less: once per refill period (contract §9.2). */
  CREDITS_LOW: 'CREDITS_LOW',
} as const;
export type AuditEventType = (typeof AuditEventType)[keyof typeof AuditEventType];

/** Events that record a change to a key; retention never prunes them. */
export const LIFECYCLE_EVENTS: readonly AuditEventType[] = [
  'KEY_CREATED',
  'KEY_DISABLED',
  'KEY_ENABLED',
  'KEY_REVOKED',
  'KEY_ROTATED',
  'KEY_EXPIRED',
  'KEY_UPDATED',
  'KEY_LEAKED',
];

/** An event as it is written: everything but the id the database gives it. */
export interface NewAuditEvent {
  type: AuditEventType;
  occurredAt?: Date;
  merchantId?: string | null;
  keyId?: string | null;
  actorKeyId?: string | null;
  requestId?: string | null;
  operationName?: string | null;
  ip?: string | null;
  reason?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** A stored event, as it is published and served. */
export interface AuditEventRecord extends Required<Omit<NewAuditEvent, 'occurredAt'>> {
  id: string;
  occurredAt: Date;
}
