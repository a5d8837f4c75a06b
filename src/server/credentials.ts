import type { IncomingHttpHeaders } from 'node:http';

/**
 * The key a client presented: `Authorization: Bearer <key>` or `X-Api-Key: <key>` over
 * HTTP, `{ authorization: "Bearer <key>" }` or `{ apiKey: "<key>" }` in a WebSocket's
 * connection_init. Returns null when none was presented, undefined when one was presented
 * in an unusable form (another auth scheme, two different keys, not a string).
 */
export function credentialFrom(authorization: unknown, apiKey: unknown): string | null | undefined {
  if (authorization == null && apiKey == null) return null;
  let fromAuthorization: string | undefined;
  if (authorization != null) {
    if (typeof authorization !== 'string') return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!match) return undefined;
    fromAuthorization = match[1];
  }
  if (apiKey != null) {
    if (typeof apiKey !== 'string') return undefined;
    const trimmed = apiKey.trim();
    if (fromAuthorization !== undefined && fromAuthorization !== trimmed) return undefined;
    return trimmed;
  }
  return fromAuthorization;
}

export function credentialFromHeaders(headers: IncomingHttpHeaders): string | null | undefined {
  return credentialFrom(headers.authorization, headers['x-api-key']);
}
