import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { RateLimitedError, UnauthenticatedError } from '../errors.js';
import type { RateLimitFigures, Services } from '../graphql/context.js';
import { principalOf, type Principal } from '../auth/principal.js';
import type { KeyCheck } from '../auth/authenticator.js';
import type { LimitResult } from '../throttle/limiter.js';
import type { RequestInfo } from '../throttle/throttle.js';
import { credentialFromHeaders } from './credentials.js';

/** `RateLimit-*` headers (seconds until the window resets), and `Retry-After` on a refusal. */
export function rateLimitHeaders(result: LimitResult, now = Date.now()): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(result.limit),
    'ratelimit-remaining': String(result.remaining),
    'ratelimit-reset': String(Math.max(0, Math.ceil((result.resetAt.getTime() - now) / 1000))),
  };
  if (!result.allowed) headers['retry-after'] = String(retryAfterSeconds(result));
  return headers;
}

export function retryAfterSeconds(result: LimitResult): number {
  return Math.max(1, Math.ceil(result.retryAfterMs / 1000));
}

export function figuresOf(result: LimitResult): RateLimitFigures {
  return { limit: result.limit, remaining: result.remaining, resetAt: result.resetAt };
}

export interface Admitted {
  principal: Principal | null;
  /** The figures of whatever was counted: the key, or the client address. */
  rateLimit: LimitResult;
}

/**
 * Decides whether an HTTP GraphQL request may proceed, and as whom. Every request counts
 * one: against its key once the key is known good, otherwise against the client address,
 * so keys cannot be guessed at speed. An unknown key is only looked up (a database read)
 * while the address has failures left; after that the address gets 429s until its window ends.
 * Throws UNAUTHENTICATED or RATE_LIMITED with the headers already set on `res`.
 */
export async function admit(services: Services, headers: IncomingHttpHeaders, res: ServerResponse, requestId: string, ip: string): Promise<Admitted> {
  const { throttle } = services;
  const request = { requestId, ip };
  const credential = credentialFromHeaders(headers);
  if (credential === null) {
    // No key: the address pays; Apollo then allows introspection only.
    return { principal: null, rateLimit: enforce(res, await throttle.address(ip, request)) };
  }
  const checked = typeof credential === 'string' ? await checkPresented(services, credential, ip, request) : ({ status: 'MALFORMED' } as const);
  // Out of failures: enforce() sets the address's headers and throws RATE_LIMITED.
  if ('refused' in checked) enforce(res, checked.refused);
  const check = checked as KeyCheck;
  if (check.status !== 'VALID') {
    enforce(res, await throttle.address(ip, request));
    const record = 'record' in check ? check.record : null;
    services.ledger.append({
      type: 'AUTH_FAILED',
      merchantId: record?.merchantId ?? null,
      keyId: record?.id ?? null,
      requestId,
      ip,
      reason: check.status,
    });
    throw new UnauthenticatedError();
  }
  const rateLimit = enforce(res, await throttle.key(check.record, request));
  return { principal: principalOf(check.record), rateLimit };
}

/**
 * Checks a presented key, from memory when it can. A key not in the cache is only looked up
 * (a database read) while the client address has failures left; otherwise the address's
 * refusal is the answer, so keys cannot be guessed at speed. Shared by HTTP and WebSocket.
 */
export async function checkPresented(
  services: Services,
  credential: string,
  ip: string,
  request: RequestInfo,
): Promise<KeyCheck | { refused: LimitResult }> {
  const cached = services.authenticator.checkCached(credential);
  if (cached) return cached;
  const open = await services.throttle.addressOpen(ip, request);
  if (!open.allowed) return { refused: open };
  return services.authenticator.check(credential);
}

/** Sets the limit headers; throws RATE_LIMITED when the request was refused. */
function enforce(res: ServerResponse, result: LimitResult): LimitResult {
  for (const [name, value] of Object.entries(rateLimitHeaders(result))) res.setHeader(name, value);
  if (!result.allowed) throw new RateLimitedError(retryAfterSeconds(result));
  return result;
}

/**
 * Counts one WebSocket `subscribe` against the socket's key. Returns the error to answer
 * the subscribe with when the key is over its limit (the refusal is already recorded), or null.
 */
export async function countSubscribe(
  services: Services,
  principal: Principal,
  request: { requestId?: string | null; ip?: string | null; operationName?: string | null },
): Promise<RateLimitedError | null> {
  const result = await services.throttle.key(principal.key, { ...request, metadata: { transport: 'websocket' } });
  return result.allowed ? null : new RateLimitedError(retryAfterSeconds(result));
}
