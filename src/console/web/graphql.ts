/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** DISABLED can return to ACTIVE; REVOKED is final. */
export type ApiKeyStatus =
  | 'ACTIVE'
  | 'DISABLED'
  | 'REVOKED';

/** SECRET keys stay on servers; PUBLIC and TOKENIZATION keys may sit in client code. */
export type ApiKeyType =
  | 'PUBLIC'
  | 'SECRET'
  | 'TOKENIZATION';

/** What an audit event records. */
export type AuditEventType =
  | 'ACCESS_DENIED'
  | 'AUTH_FAILED'
  | 'CREDITS_LOW'
  | 'KEY_CREATED'
  | 'KEY_DISABLED'
  | 'KEY_ENABLED'
  | 'KEY_EXPIRED'
  | 'KEY_EXPIRING'
  | 'KEY_LEAKED'
  | 'KEY_REVOKED'
  | 'KEY_ROTATED'
  | 'KEY_UPDATED'
  | 'KEY_USED'
  | 'RATE_LIMITED'
  | 'USAGE_EXCEEDED'
  | 'WEBHOOK_DISABLED';

export type CreateKeyInput = {
  /** IPv4/IPv6 addresses or CIDR ranges (at most 100) the key's own requests may come from; empty or null: any address. */
  allowedIps?: Array<string> | null | undefined;
  /** Usage credits; absent or null: unlimited. */
  credits?: CreditsInput | null | undefined;
  /** Defaults to TEST; an explicit null means TEST too. */
  environment?: KeyEnvironment | null | undefined;
  expiresAt?: string | null | undefined;
  /** Defaults to the caller's merchant; another one needs admin. */
  merchantId?: string | null | undefined;
  /** Your own data on the key: a JSON object of at most 4 KiB; verifyKey returns it. */
  metadata?: Record<string, unknown> | null | undefined;
  /** 1 to 100 characters, without < or >. */
  name: string;
  /** Defaults to 30 requests per 60 seconds. */
  rateLimit?: RateLimitInput | null | undefined;
  /** Scopes from the catalogue; at most those the caller holds. PUBLIC and TOKENIZATION keys never hold keys:*, audit:read, webhooks:*, leaks:report or admin. */
  scopes: Array<string>;
  type: ApiKeyType;
};

export type CreateWebhookInput = {
  description?: string | null | undefined;
  /** Defaults to the caller's merchant (for admin: every merchant's events). */
  merchantId?: string | null | undefined;
  /** The event types to deliver; at least one. */
  types: Array<AuditEventType>;
  /** https:// (http:// only with WEBHOOK_ALLOW_HTTP); a public address unless WEBHOOK_ALLOW_PRIVATE. */
  url: string;
};

export type CreditRefillInput = {
  /** What a refill sets remaining to (it does not add): 1 to 1000000000. */
  amount: number;
  /** MONTHLY only: 1 to 31, default 1. */
  anchorDay?: number | null | undefined;
  interval: RefillInterval;
};

export type CreditsInput = {
  refill?: CreditRefillInput | null | undefined;
  /** 0 to 1000000000. */
  remaining: number;
};

export type KeyEnvironment =
  | 'LIVE'
  | 'TEST';

export type RateLimitInput = {
  /** 1 to 100000 requests. */
  limit: number;
  /** 1 to 86400 seconds. */
  windowSeconds: number;
};

/** When credits refill, at 00:00 UTC. */
export type RefillInterval =
  /** Every day at 00:00 UTC. */
  | 'DAILY'
  /** On anchorDay (1–31, default 1; a shorter month refills on its last day) at 00:00 UTC. */
  | 'MONTHLY';

/** A field left out stays as it is; an explicit null clears metadata, expiresAt, allowedIps (any address) and credits (unlimited). */
export type UpdateKeyInput = {
  /** At most 100 addresses or CIDR ranges; null or empty: any address. */
  allowedIps?: Array<string> | null | undefined;
  /** Sets the credits anew (remaining now, and the refill); null: unlimited. */
  credits?: CreditsInput | null | undefined;
  /** In the future, and within the caller's own bounds; null: never expires. */
  expiresAt?: string | null | undefined;
  /** A JSON object of at most 4 KiB; null clears it. */
  metadata?: Record<string, unknown> | null | undefined;
  /** 1 to 100 characters, without < or >. */
  name?: string | null | undefined;
  /** Within the caller's own bounds. */
  rateLimit?: RateLimitInput | null | undefined;
  /** At most the scopes the caller can grant. */
  scopes?: Array<string> | null | undefined;
};

/** The step of keyUsage buckets, aligned to UTC. */
export type UsageGranularity =
  | 'DAY'
  | 'HOUR'
  | 'MINUTE';

/** FAILING: an event is being retried (later ones wait). DISABLED: by updateWebhook, or after WEBHOOK_DISABLE_AFTER_MS of failures. */
export type WebhookStatus =
  | 'ACTIVE'
  | 'DISABLED'
  | 'FAILING';

export type KeyFieldsFragment = { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null };

export type EventFieldsFragment = { id: string, type: AuditEventType, occurredAt: string, merchantId: string | null, keyId: string | null, actorKeyId: string | null, operationName: string | null, ip: string | null, reason: string | null, metadata: Record<string, unknown> | null };

export type ConsoleConnectQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleConnectQuery = { viewer: { keyId: string, merchantId: string, name: string, admin: boolean, scopes: Array<string>, environment: KeyEnvironment } };

export type ConsoleSnapshotQueryVariables = Exact<{
  since: string;
  keys: boolean;
  events: boolean;
  keyLimit: number;
  historyLimit: number;
}>;


export type ConsoleSnapshotQuery = { apiKeys?: { totalCount: number, edges: Array<{ node: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } }> }, recent?: { edges: Array<{ node: { id: string, type: AuditEventType, occurredAt: string, merchantId: string | null, keyId: string | null, actorKeyId: string | null, operationName: string | null, ip: string | null, reason: string | null, metadata: Record<string, unknown> | null } }> }, uses?: { edges: Array<{ node: { id: string, keyId: string | null, occurredAt: string } }>, pageInfo: { hasNextPage: boolean } } };

export type ConsoleKeysQueryVariables = Exact<{
  keyLimit: number;
}>;


export type ConsoleKeysQuery = { apiKeys: { totalCount: number, edges: Array<{ node: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } }> } };

export type ConsoleFeedSubscriptionVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ConsoleFeedSubscription = { auditEvents: { id: string, type: AuditEventType, occurredAt: string, merchantId: string | null, keyId: string | null, actorKeyId: string | null, operationName: string | null, ip: string | null, reason: string | null, metadata: Record<string, unknown> | null } };

export type ConsoleScopesQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleScopesQuery = { scopes: Array<{ name: string, description: string }> };

export type ConsoleCreateKeyMutationVariables = Exact<{
  input: CreateKeyInput;
}>;


export type ConsoleCreateKeyMutation = { createKey: { secret: string, key: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } } };

export type ConsoleDisableKeyMutationVariables = Exact<{
  id: string | number;
  reason?: string | null | undefined;
}>;


export type ConsoleDisableKeyMutation = { disableKey: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } };

export type ConsoleEnableKeyMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleEnableKeyMutation = { enableKey: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } };

export type ConsoleRevokeKeyMutationVariables = Exact<{
  id: string | number;
  reason?: string | null | undefined;
}>;


export type ConsoleRevokeKeyMutation = { revokeKey: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } };

export type ConsoleRotateKeyMutationVariables = Exact<{
  id: string | number;
  grace?: number | null | undefined;
}>;


export type ConsoleRotateKeyMutation = { rotateKey: { secret: string, key: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } } };

export type ConsoleUpdateKeyMutationVariables = Exact<{
  id: string | number;
  input: UpdateKeyInput;
}>;


export type ConsoleUpdateKeyMutation = { updateKey: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } };

export type ConsoleGrantCreditsMutationVariables = Exact<{
  id: string | number;
  amount: number;
}>;


export type ConsoleGrantCreditsMutation = { grantCredits: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } };

export type ConsoleKeyPageQueryVariables = Exact<{
  id: string | number;
  from: string;
  to: string;
  granularity: UsageGranularity;
  events: boolean;
  eventLimit: number;
}>;


export type ConsoleKeyPageQuery = { apiKey: { id: string, merchantId: string, name: string, type: ApiKeyType, environment: KeyEnvironment, status: ApiKeyStatus, scopes: Array<string>, prefix: string, last4: string, expired: boolean, expiresAt: string | null, lastUsedAt: string | null, usageCount: number, statusReason: string | null, createdAt: string, allowedIps: Array<string>, metadata: Record<string, unknown> | null, rateLimit: { limit: number, windowSeconds: number }, credits: { remaining: number, nextRefillAt: string | null, refill: { amount: number, interval: RefillInterval, anchorDay: number | null } | null } | null } | null, keyUsage: Array<{ buckets: Array<{ start: string, counts: { valid: number, rateLimited: number, usageExceeded: number, denied: number, creditsSpent: number } }>, total: { valid: number, rateLimited: number, usageExceeded: number, denied: number, creditsSpent: number } }>, auditEvents?: { edges: Array<{ node: { id: string, type: AuditEventType, occurredAt: string, merchantId: string | null, keyId: string | null, actorKeyId: string | null, operationName: string | null, ip: string | null, reason: string | null, metadata: Record<string, unknown> | null } }> } };

export type WebhookFieldsFragment = { id: string, url: string, types: Array<AuditEventType>, status: WebhookStatus, description: string | null, lastDeliveredEventId: string | null, lastError: string | null, createdAt: string, deliveries: { totalCount: number, edges: Array<{ node: { id: string, at: string, attempt: number, eventId: string, httpStatus: number | null, error: string | null, durationMs: number } }> } };

export type ConsoleWebhooksQueryVariables = Exact<{
  first: number;
  deliveryLimit: number;
}>;


export type ConsoleWebhooksQuery = { webhooks: { totalCount: number, edges: Array<{ node: { id: string, url: string, types: Array<AuditEventType>, status: WebhookStatus, description: string | null, lastDeliveredEventId: string | null, lastError: string | null, createdAt: string, deliveries: { totalCount: number, edges: Array<{ node: { id: string, at: string, attempt: number, eventId: string, httpStatus: number | null, error: string | null, durationMs: number } }> } } }> } };

export type ConsoleCreateWebhookMutationVariables = Exact<{
  input: CreateWebhookInput;
  deliveryLimit: number;
}>;


export type ConsoleCreateWebhookMutation = { createWebhook: { secret: string, webhook: { id: string, url: string, types: Array<AuditEventType>, status: WebhookStatus, description: string | null, lastDeliveredEventId: string | null, lastError: string | null, createdAt: string, deliveries: { totalCount: number, edges: Array<{ node: { id: string, at: string, attempt: number, eventId: string, httpStatus: number | null, error: string | null, durationMs: number } }> } } } };

export type ConsoleUpdateWebhookMutationVariables = Exact<{
  id: string | number;
  enabled: boolean;
  deliveryLimit: number;
}>;


export type ConsoleUpdateWebhookMutation = { updateWebhook: { id: string, url: string, types: Array<AuditEventType>, status: WebhookStatus, description: string | null, lastDeliveredEventId: string | null, lastError: string | null, createdAt: string, deliveries: { totalCount: number, edges: Array<{ node: { id: string, at: string, attempt: number, eventId: string, httpStatus: number | null, error: string | null, durationMs: number } }> } } };

export type ConsoleDeleteWebhookMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleDeleteWebhookMutation = { deleteWebhook: boolean };
