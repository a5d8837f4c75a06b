import type { ApiKeyEntity, KeyStatus } from './api-key.entity.js';
import type { StoredCredits } from './credits.js';
import type { KeyEnvironment, KeyType } from './key-material.js';

/**
 * What the hot path needs to know of a key, as a plain immutable snapshot: the cache
 * holds these, never entities bound to an EntityManager.
 */
export interface KeyRecord {
  readonly id: string;
  readonly merchantId: string;
  readonly name: string;
  readonly type: KeyType;
  readonly environment: KeyEnvironment;
  readonly status: KeyStatus;
  readonly scopes: readonly string[];
  readonly digest: string;
  readonly rateLimit: number;
  readonly rateWindowSeconds: number;
  readonly expiresAt: Date | null;
  /** Returned by verifyKey from this record, with no database read. */
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** Normalised addresses and ranges; empty: any address (the decision is auth/admission.ts's ipAllowed). */
  readonly allowedIps: readonly string[];
  /** The key's credits as stored when the record was read (null: unlimited); the live count is the credit counter's. */
  readonly credits: Readonly<StoredCredits> | null;
}

export function toKeyRecord(entity: ApiKeyEntity): KeyRecord {
  return Object.freeze({
    id: entity.id,
    merchantId: entity.merchantId,
    name: entity.name,
    type: entity.type,
    environment: entity.environment,
    status: entity.status,
    scopes: Object.freeze([...entity.scopes]),
    digest: entity.digest,
    rateLimit: entity.rateLimit,
    rateWindowSeconds: entity.rateWindowSeconds,
    expiresAt: entity.expiresAt ?? null,
    metadata: entity.metadata ? deepFreeze(structuredClone(entity.metadata)) : null,
    allowedIps: Object.freeze([...(entity.allowedIps ?? [])]),
    credits: storedCreditsOfEntity(entity),
  });
}

/** The credits columns of a key, together; null when it has none (unlimited). */
export function storedCreditsOfEntity(entity: ApiKeyEntity): StoredCredits | null {
  if (entity.creditsRemaining == null) return null;
  const interval = entity.creditRefillInterval ?? null;
  const refill =
    interval && entity.creditRefillAmount != null
      ? Object.freeze({ amount: entity.creditRefillAmount, interval, anchorDay: entity.creditRefillAnchorDay ?? null })
      : null;
  return Object.freeze({
    remaining: entity.creditsRemaining,
    period: entity.creditPeriod ?? null,
    refill,
    grant: !refill && entity.creditsGranted != null ? Object.freeze({ granted: entity.creditsGranted, number: entity.creditGrant ?? 0 }) : null,
  });
}

/**
 * The credits columns that hold a key's stored credits (all null: unlimited), as
 * storedCreditsOfEntity reads them back. The grant's number is not among them: it only grows
 * (see recordGrant), and a rotated key carries its predecessor's on.
 */
export function creditColumns(credits: StoredCredits | null) {
  return {
    creditsRemaining: credits?.remaining ?? null,
    creditPeriod: credits?.period ?? null,
    creditRefillAmount: credits?.refill?.amount ?? null,
    creditRefillInterval: credits?.refill?.interval ?? null,
    creditRefillAnchorDay: credits?.refill?.anchorDay ?? null,
    creditsGranted: credits?.grant?.granted ?? null,
  } satisfies Partial<ApiKeyEntity>;
}

/**
 * A new grant on the key: `granted` is what CREDITS_LOW measures a key without a refill against
 * (null with a refill), and the next number lets the alert be sent once more. Numbers only grow,
 * kept while the key is unlimited, so a claim for an earlier grant never matches a later one.
 */
export function recordGrant(entity: ApiKeyEntity, granted: number | null): void {
  entity.creditsGranted = granted;
  entity.creditGrant = (entity.creditGrant ?? 0) + 1;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export function isExpired(record: { expiresAt?: Date | null }, now = Date.now()): boolean {
  return !!record.expiresAt && record.expiresAt.getTime() <= now;
}

/** A key as clients see it: no digest, and no value for SECRET keys. */
export interface ApiKeyView {
  id: string;
  merchantId: string;
  name: string;
  type: KeyType;
  environment: KeyEnvironment;
  status: KeyStatus;
  scopes: string[];
  prefix: string;
  last4: string;
  value: string | null;
  rateLimit: { limit: number; windowSeconds: number };
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  expired: boolean;
  lastUsedAt: Date | null;
  usageCount: number;
  disabledAt: Date | null;
  revokedAt: Date | null;
  statusReason: string | null;
  createdById: string | null;
  rotatedFromId: string | null;
  metadata: Record<string, unknown> | null;
  allowedIps: string[];
  /** As stored: the credits field's resolver asks the credit counter for the live count. */
  credits: StoredCredits | null;
}

export function toView(entity: ApiKeyEntity): ApiKeyView {
  return {
    id: entity.id,
    merchantId: entity.merchantId,
    name: entity.name,
    type: entity.type,
    environment: entity.environment,
    status: entity.status,
    scopes: [...entity.scopes],
    prefix: entity.prefix,
    last4: entity.last4,
    value: entity.type === 'SECRET' ? null : (entity.value ?? null),
    rateLimit: { limit: entity.rateLimit, windowSeconds: entity.rateWindowSeconds },
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
    expiresAt: entity.expiresAt ?? null,
    expired: isExpired(entity),
    lastUsedAt: entity.lastUsedAt ?? null,
    usageCount: entity.usageCount,
    disabledAt: entity.disabledAt ?? null,
    revokedAt: entity.revokedAt ?? null,
    statusReason: entity.statusReason ?? null,
    createdById: entity.createdById ?? null,
    rotatedFromId: entity.rotatedFromId ?? null,
    metadata: entity.metadata ?? null,
    allowedIps: [...(entity.allowedIps ?? [])],
    credits: storedCreditsOfEntity(entity),
  };
}
