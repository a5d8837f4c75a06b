import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { admit, retryAfterSeconds, type AdmissionDeps } from '../auth/admission.js';
import type { Principal } from '../auth/principal.js';
import { ForbiddenError, LedgerFullError, RateLimitedError, UnauthenticatedError, UsageExceededError } from '../errors.js';
import type { RateLimitFigures } from '../graphql/context.js';
import type { LimitResult } from '../throttle/limiter.js';
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

export function rateLimitFiguresOf(result: LimitResult): RateLimitFigures {
  return { limit: result.limit, remaining: result.remaining, resetAt: result.resetAt };
}

/**
 * The HTTP edge of admission (auth/admission.ts): sets the figures of whatever was counted
 * as `RateLimit-*` headers, and turns a refusal into the error the handler answers with
 * (UNAUTHENTICATED 401, FORBIDDEN 403 from outside the key's IP allowlist, RATE_LIMITED 429, or
 * SERVICE_UNAVAILABLE 503 while the ledger is full).
 * Returns the caller (null: no key, introspection only) and its key's figures.
 */
export async function admitHttp(
  deps: AdmissionDeps,
  headers: IncomingHttpHeaders,
  res: ServerResponse,
  requestId: string,
  ip: string,
): Promise<{ principal: Principal | null; rateLimit: RateLimitFigures | null; creditsSpent: Record<string, unknown> | null }> {
  const admission = await admit(deps, { credential: credentialFromHeaders(headers), ip, requestId, transport: 'http' });
  if (admission.outcome === 'ledger-full') throw new LedgerFullError();
  // Over HTTP something is always counted: the key, or the address.
  if (admission.rateLimit) for (const [name, value] of Object.entries(rateLimitHeaders(admission.rateLimit))) res.setHeader(name, value);
  if (admission.outcome === 'rate-limited') throw new RateLimitedError(admission.retryAfter);
  if (admission.outcome === 'usage-exceeded') {
    // Retry-After only when a refill is due: without one, waiting does not help.
    if (admission.retryAfter !== null) res.setHeader('retry-after', String(admission.retryAfter));
    throw new UsageExceededError(admission.retryAfter);
  }
  if (admission.outcome === 'unauthenticated') throw new UnauthenticatedError();
  if (admission.outcome === 'ip-not-allowed') throw new ForbiddenError(403);
  const { principal, rateLimit } = admission;
  return { principal, rateLimit: principal && rateLimit ? rateLimitFiguresOf(rateLimit) : null, creditsSpent: admission.spend?.metadata ?? null };
}
