import { authFailedEvent } from '../auth/auth-failed.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { AccessPolicy } from '../auth/access-policy.js';
import { actorKeyIdOf, type Actor } from '../auth/principal.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import { BadUserInputError } from '../errors.js';
import type { Credits } from '../throttle/credits.js';
import type { LimitResult } from '../throttle/limiter.js';
import type { RequestInfo, Throttle } from '../throttle/throttle.js';
import { costProblems } from './credits.js';
import { grants, type ScopeCatalogue } from './scopes.js';
import { scopeProblems } from './validation.js';

export type VerificationCode =
  | 'VALID'
  | 'NOT_FOUND'
  | 'MALFORMED'
  | 'DISABLED'
  | 'REVOKED'
  | 'EXPIRED'
  | 'INSUFFICIENT_SCOPE'
  | 'RATE_LIMITED'
  | 'USAGE_EXCEEDED';

/** The answer to "is this key good for these scopes right now?". A value, never an exception. */
export interface Verification {
  valid: boolean;
  code: VerificationCode;
  /** The verified key; null when it is unknown to the caller (not found, another merchant's) or malformed. */
  keyId: string | null;
  /** The verified key's own limit figures, after this verification counted; null when none was counted. */
  rateLimit: LimitResult | null;
  /** The verified key's credits left after this verification; null when it has none (unlimited) or none was asked. */
  credits: number | null;
}

/** More required scopes than any real check needs: refused as input. */
const MAX_REQUIRED_SCOPES = 50;

/**
 * verifyKey for the merchants' own services: the hottest path of the service. A key seen
 * recently is answered from the key cache with no database read; the verified key's own
 * limit is applied and counted, and the outcome leaves an event for the verified key.
 * It knows nothing of GraphQL or HTTP.
 */
export class VerifyService {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly throttle: Throttle,
    private readonly ledger: Ledger,
    private readonly catalogue: ScopeCatalogue,
    private readonly policy: AccessPolicy,
    private readonly credits: Credits,
  ) {}

  /**
   * Checks in the contract's order (§9.1): status and expiry, scopes, rate limit, credits; a
   * refused verification spends no credits. `cost` (0–1,000, default 1; 0 only checks) is spent
   * from the verified key's credits.
   */
  async verify(actor: Actor, presented: string, requiredScopes?: readonly string[] | null, cost: number | null = 1): Promise<Verification> {
    const scopes = requiredScopes ?? [];
    const spend = cost ?? 1;
    const problems = [
      ...(scopes.length > MAX_REQUIRED_SCOPES
        ? [{ field: 'requiredScopes', message: `requiredScopes may list at most ${MAX_REQUIRED_SCOPES} scopes.` }]
        : scopeProblems(scopes, this.catalogue, 'requiredScopes')),
      ...costProblems(spend),
    ];
    if (problems.length > 0) throw new BadUserInputError(problems);

    // A caller confined to its merchant is told of another merchant's key by the path of a missing
    // one (same answer, event, timing and reads), so existence does not leak; the system and admin see every key.
    const confinedTo = this.policy.confinedTo(actor);
    const check = await (confinedTo === null ? this.authenticator.check(presented) : this.authenticator.checkFor(presented, confinedTo));
    if (check.status === 'MALFORMED' || check.status === 'NOT_FOUND') return this.unknown(actor, check.status);
    const key = check.record;
    // checkFor reads a digest two merchants' keys share like the caller's own: the record tells.
    if (confinedTo !== null && key.merchantId !== confinedTo) return this.unknown(actor, 'NOT_FOUND');

    const about = { merchantId: key.merchantId, keyId: key.id };
    if (check.status !== 'VALID') {
      this.ledger.append(authFailedEvent(check.status, about, this.requestOf(actor)));
      return { valid: false, code: check.status, keyId: key.id, rateLimit: null, credits: null };
    }
    const missing = scopes.filter((scope) => !grants(key.scopes, scope));
    if (missing.length > 0) {
      this.record(actor, { type: 'ACCESS_DENIED', ...about, reason: 'missing scope', metadata: { scopes: missing } });
      return { valid: false, code: 'INSUFFICIENT_SCOPE', keyId: key.id, rateLimit: null, credits: null };
    }
    const rateLimit = await this.throttle.key(key, this.requestOf(actor));
    if (!rateLimit.allowed) return { valid: false, code: 'RATE_LIMITED', keyId: key.id, rateLimit, credits: null };
    const credits = await this.credits.spend(key, spend, { ...this.requestOf(actor), metadata: { ...this.via(actor), cost: spend } });
    if (!credits.allowed) return { valid: false, code: 'USAGE_EXCEEDED', keyId: key.id, rateLimit, credits: credits.remaining };
    this.record(actor, { type: 'KEY_USED', ...about, metadata: credits.metadata ?? undefined });
    return { valid: true, code: 'VALID', keyId: key.id, rateLimit, credits: credits.remaining };
  }

  /** Not found or malformed: recorded for the caller's merchant, with no key to name. */
  private unknown(actor: Actor, code: 'MALFORMED' | 'NOT_FOUND'): Verification {
    this.ledger.append(authFailedEvent(code, { merchantId: actor.principal?.merchantId }, this.requestOf(actor)));
    return { valid: false, code, keyId: null, rateLimit: null, credits: null };
  }

  /** Where the verification came from, for its events: the caller's request, marked as a verifyKey. */
  private requestOf(actor: Actor): RequestInfo {
    return {
      actorKeyId: actorKeyIdOf(actor),
      requestId: actor.requestId,
      ip: actor.ip,
      operationName: actor.operationName,
      metadata: this.via(actor),
    };
  }

  private via(actor: Actor): Record<string, unknown> {
    return { via: 'verifyKey', verifiedBy: actorKeyIdOf(actor) };
  }

  private record(actor: Actor, event: NewAuditEvent): void {
    this.ledger.append({
      actorKeyId: actorKeyIdOf(actor),
      requestId: actor.requestId ?? null,
      ip: actor.ip ?? null,
      operationName: actor.operationName ?? null,
      ...event,
      metadata: { ...this.via(actor), ...event.metadata },
    });
  }
}
