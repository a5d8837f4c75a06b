// Every GraphQL document the console sends. Each literal carries the /* GraphQL */ marker so
// GraphQL Code Generator finds it (codegen.yml) and types it into graphql.ts. Fragments are
// separate literals: a document that spreads one is sent with it appended (see withFragments).

export const KEY_FIELDS = /* GraphQL */ `
  fragment KeyFields on ApiKey {
    id merchantId name type environment status scopes prefix last4 expired expiresAt
    lastUsedAt usageCount statusReason createdAt rateLimit { limit windowSeconds }
    allowedIps metadata credits { remaining nextRefillAt refill { amount interval anchorDay } }
  }
`;

export const EVENT_FIELDS = /* GraphQL */ `
  fragment EventFields on AuditEvent {
    id type occurredAt merchantId keyId actorKeyId operationName ip reason metadata
  }
`;

const withFragments = (document: string): string =>
  document + (document.includes('...KeyFields') ? KEY_FIELDS : '') + (document.includes('...EventFields') ? EVENT_FIELDS : '');

export const CONNECT = /* GraphQL */ `
  query ConsoleConnect { viewer { keyId merchantId name admin scopes environment } }
`;

/**
 * The keys, the recent history and the recent uses in one request, so the keys' use counts and
 * the history the feed resumes from are read together (each part only when the key may read it).
 */
export const SNAPSHOT = withFragments(/* GraphQL */ `
  query ConsoleSnapshot($since: DateTime!, $keys: Boolean!, $events: Boolean!, $keyLimit: Int!, $historyLimit: Int!) {
    apiKeys(first: $keyLimit) @include(if: $keys) { totalCount edges { node { ...KeyFields } } }
    recent: auditEvents(first: $historyLimit) @include(if: $events) { edges { node { ...EventFields } } }
    uses: auditEvents(first: 100, filter: { types: [KEY_USED], from: $since }) @include(if: $events) {
      edges { node { id keyId occurredAt } }
      pageInfo { hasNextPage }
    }
  }
`);

export const KEYS = withFragments(/* GraphQL */ `
  query ConsoleKeys($keyLimit: Int!) { apiKeys(first: $keyLimit) { totalCount edges { node { ...KeyFields } } } }
`);

export const FEED = withFragments(/* GraphQL */ `
  subscription ConsoleFeed($after: String) { auditEvents(after: $after) { ...EventFields } }
`);

export const SCOPES = /* GraphQL */ `
  query ConsoleScopes { scopes { name description } }
`;

export const CREATE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleCreateKey($input: CreateKeyInput!) { createKey(input: $input) { secret key { ...KeyFields } } }
`);

export const DISABLE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleDisableKey($id: ID!, $reason: String) { disableKey(id: $id, reason: $reason) { ...KeyFields } }
`);

export const ENABLE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleEnableKey($id: ID!) { enableKey(id: $id) { ...KeyFields } }
`);

export const REVOKE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleRevokeKey($id: ID!, $reason: String) { revokeKey(id: $id, reason: $reason) { ...KeyFields } }
`);

export const ROTATE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleRotateKey($id: ID!, $grace: Int) { rotateKey(id: $id, expireOldAfterSeconds: $grace) { secret key { ...KeyFields } } }
`);

export const UPDATE_KEY = withFragments(/* GraphQL */ `
  mutation ConsoleUpdateKey($id: ID!, $input: UpdateKeyInput!) { updateKey(id: $id, input: $input) { ...KeyFields } }
`);

export const GRANT_CREDITS = withFragments(/* GraphQL */ `
  mutation ConsoleGrantCredits($id: ID!, $amount: Int!) { grantCredits(id: $id, amount: $amount) { ...KeyFields } }
`);

/** One key's page: the key, its usage by outcome per bucket, and its recent events. */
export const KEY_PAGE = withFragments(/* GraphQL */ `
  query ConsoleKeyPage($id: ID!, $from: DateTime!, $to: DateTime!, $granularity: UsageGranularity!, $events: Boolean!, $eventLimit: Int!) {
    apiKey(id: $id) { ...KeyFields }
    keyUsage(keyIds: [$id], from: $from, to: $to, granularity: $granularity) {
      buckets { start counts { valid rateLimited usageExceeded denied creditsSpent } }
      total { valid rateLimited usageExceeded denied creditsSpent }
    }
    auditEvents(first: $eventLimit, filter: { keyId: $id }) @include(if: $events) { edges { node { ...EventFields } } }
  }
`);

export const WEBHOOK_FIELDS = /* GraphQL */ `
  fragment WebhookFields on Webhook {
    id url types status description lastDeliveredEventId lastError createdAt
    deliveries(first: $deliveryLimit) { totalCount edges { node { id at attempt eventId httpStatus error durationMs } } }
  }
`;

const withWebhookFields = (document: string): string => document + WEBHOOK_FIELDS;

export const WEBHOOKS = withWebhookFields(/* GraphQL */ `
  query ConsoleWebhooks($first: Int!, $deliveryLimit: Int!) { webhooks(first: $first) { totalCount edges { node { ...WebhookFields } } } }
`);

export const CREATE_WEBHOOK = withWebhookFields(/* GraphQL */ `
  mutation ConsoleCreateWebhook($input: CreateWebhookInput!, $deliveryLimit: Int!) { createWebhook(input: $input) { secret webhook { ...WebhookFields } } }
`);

export const UPDATE_WEBHOOK = withWebhookFields(/* GraphQL */ `
  mutation ConsoleUpdateWebhook($id: ID!, $enabled: Boolean!, $deliveryLimit: Int!) { updateWebhook(id: $id, input: { enabled: $enabled }) { ...WebhookFields } }
`);

export const DELETE_WEBHOOK = /* GraphQL */ `
  mutation ConsoleDeleteWebhook($id: ID!) { deleteWebhook(id: $id) }
`;
