import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';

/** Example operations Apollo Sandbox opens with: pick one from the operation list and run it. */
export const SANDBOX_DOCUMENT = /* GraphQL */ `# Paste your key into the Authorization header below ("Bearer sk_…"), then run an operation.

query WhoAmI {
  viewer { keyId merchantId scopes admin rateLimit { limit remaining resetAt } }
}

mutation CreateKey($input: CreateKeyInput!) {
  createKey(input: $input) {
    secret # shown once: store it now
    key { id name type environment status scopes prefix last4 rateLimit { limit windowSeconds } }
  }
}

query ListKeys($first: Int = 20, $after: String) {
  apiKeys(first: $first, after: $after) {
    totalCount
    edges { cursor node { id name status type environment lastUsedAt usageCount } }
    pageInfo { hasNextPage endCursor }
  }
}

mutation RevokeKey($id: ID!, $reason: String) {
  revokeKey(id: $id, reason: $reason) { id status revokedAt statusReason }
}

query VerifyKey($key: String!, $requiredScopes: [String!]) {
  verifyKey(key: $key, requiredScopes: $requiredScopes) { valid code rateLimit { limit remaining resetAt } }
}

subscription AuditFeed($after: String) {
  auditEvents(after: $after) { id type occurredAt merchantId keyId actorKeyId operationName ip reason }
}
`;

export function sandboxLandingPage() {
  return ApolloServerPluginLandingPageLocalDefault({
    embed: { endpointIsEditable: false, initialState: { pollForSchemaUpdates: false } },
    footer: false,
    includeCookies: false,
    document: SANDBOX_DOCUMENT,
    variables: { input: { name: 'My backend', type: 'SECRET', environment: 'TEST', scopes: ['keys:read'] }, id: 'key_…', key: 'sk_test_…' },
    headers: { Authorization: 'Bearer <paste your API key here>' },
  });
}
