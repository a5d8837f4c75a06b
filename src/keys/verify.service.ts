import { chargeRefusal, checkCredential, ipAllowed, ipNotAllowedEvent, type AdmissionDeps } from '../auth/admission.js';
import { authFailedEvent } from '../auth/auth-failed.js';
import type { Authenticator, KeyCheck } from '../auth/authenticator.js';
import type { AccessPolicy } from '../auth/access-policy.js';
import { actorKeyIdOf, type Actor } from '../auth/principal.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import { BadUserInputError, type InputProblem } from '../errors.js';
import type { Credits } from '../throttle/credits.js';
import type { LimitResult } from '../throttle/limiter.js';
import type { RequestInfo, Throttle } from '../throttle/throttle.js';
import { costProblems } from './credits.js';
import { normalizeAddress } from './ip-allowlist.js';
import type { KeyRecord } from './key-record.js';
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
  | 'IP_NOT_ALLOWED'
  | 'USAGE_EXCEEDED'
  /** No key presented: only through a gateway (verifyKey's key argument is required). */
  | 'MISSING';

/** The answer to "is this key good for these scopes right now?". A value, never an exception. */
export interface Verification {
  valid: boolean;
  code: VerificationCode;
  /** The verified key; null when it is unknown to the caller (not found, another merchant's) or malformed. */
  keyId: string | null;
  /** The verified key's own limit figures, after this verification counted; null when none was counted. */
  rateLimit: LimitResult | null;
  /** The verified key's merchant and scopes, when keyId names it (for the edges' headers; never the record itself). */
  merchantId: string | null;
  scopes: readonly string[] | null;
  /** The verified key's metadata, from its cached record (no database read); null when the key is not identified or has none. */
  metadata: Readonly<Record<string, unknown>> | null;
  /** The verified key's credits left after this verification; null when it has none (unlimited) or none was asked. */
  credits: number | null;
  /** USAGE_EXCEEDED only: seconds until the key's next refill; absent or null when none is due. */
  refillInSeconds?: number | null;
}

/** More required scopes than any real check needs: refused as input. */
const MAX_REQUIRED_SCOPES = 50;

/** What is to be judged: the same for every edge (GraphQL verifyKey, /authz). */
export interface VerifyRequest {
  /** The presented key; null when none was presented (a gateway's request). */
  key: string | null;
  requiredScopes?: readonly string[] | null;
  /** What this verification costs the key (an integer 0–1,000, default 1): validated here for every edge. */
  cost?: number;
  /** The end client's address as the asker saw it (for the key's IP allowlist, contract §9.1). */
  clientIp?: string | null;
}

/**
 * Who asks for a verification. `caller`: a key over GraphQL verifyKey, already admitted and
 * counted against its own limit; it learns of its own merchant's keys only (unless it sees
 * every merchant) and is the actor of the events. `gateway`: forward authentication (/authz).
 * A gateway is no key: the presented key asks for itself, so it may be any merchant's key, it
 * is counted against its own limit and is the actor of its own KEY_USED and ACCESS_DENIED; and
 * as a request without a valid key, a refused credential is paid for by the client address
 * (contract §5), which also gates database reads for keys no one issued.
 */
export type Asker = { kind: 'caller'; actor: Actor } | { kind: 'gateway'; requestId: string; ip: string };

/**
 * verifyKey for the merchants' own services and /authz for their gateways: the hottest path of
 * the service. A key seen recently is answered from the key cache with no database read; the
 * verified key's own limit is applied and counted, and the outcome leaves an event for the
 * verified key. It knows nothing of GraphQL or HTTP.
 */
export class VerifyService {
  /** What admission's rules (a gateway's unknown digests and refusals) need. */
  private readonly admission: AdmissionDeps;

  constructor(
    private readonly authenticator: Authenticator,
    private readonly throttle: Throttle,
    private readonly ledger: Ledger,
    private readonly catalogue: ScopeCatalogue,
    private readonly policy: AccessPolicy,
    private readonly credits: Credits,
  ) {
    this.admission = { authenticator, throttle, ledger, credits };
  }

  /** verifyKey: `actor` asks about a presented key. */
  verify(actor: Actor, request: VerifyRequest): Promise<Verification> {
    return this.decide({ kind: 'caller', actor }, request);
  }

  /**
   * The one decision, for every asker: input, then the key's status and expiry, scopes and the
   * key's own limit, each refusal a value with its event. Throws BAD_USER_INPUT only.
   */
  async decide(asker: Asker, request: VerifyRequest): Promise<Verification> {
    const scopes = request.requiredScopes ?? [];
    const problems = inputProblems(scopes, request.cost, this.catalogue);
    const clientIp = request.clientIp == null ? null : normalizeAddress(request.clientIp);
    if (request.clientIp != null && clientIp === null) problems.push({ field: 'context.ip', message: 'context.ip must be an IPv4 or IPv6 address.' });
    if (problems.length > 0) throw new BadUserInputError(problems);

    const info = this.requestOf(asker);
    if (request.key === null) return this.refuse(asker, 'MISSING', null, info);
    const check = await this.check(asker, request.key, info);
    if ('refused' in check) return refusal('RATE_LIMITED', null, check.refused);
    if (check.status === 'MALFORMED' || check.status === 'NOT_FOUND') return this.refuse(asker, check.status, null, info);
    const key = check.record;
    if (check.status !== 'VALID') return this.refuse(asker, check.status, key, info);

    const about = { merchantId: key.merchantId, keyId: key.id };
    // Contract §9.1's order: status and expiry, IP, scopes, rate limit. The end client's address
    // (context.ip, or the gateway's client), not the caller's: the allowlist is about where the key is used from.
    if (!ipAllowed(key.allowedIps, clientIp)) {
      // A gateway's request names no actor key, so the event's actor is the key itself (requestEvent's rule).
      this.ledger.append(ipNotAllowedEvent(key, { ...info, metadata: { ...info.metadata, clientIp } }));
      return refusal('IP_NOT_ALLOWED', key, null);
    }
    const missing = scopes.filter((scope) => !grants(key.scopes, scope));
    if (missing.length > 0) {
      this.record(asker, key, info, { type: 'ACCESS_DENIED', ...about, reason: 'missing scope', metadata: { scopes: missing } });
      return refusal('INSUFFICIENT_SCOPE', key, null);
    }
    const rateLimit = await this.throttle.key(key, info);
    if (!rateLimit.allowed) return refusal('RATE_LIMITED', key, rateLimit);
    // Last, so a refused call spends nothing (§9.1).
    const cost = request.cost ?? 1;
    const spent = await this.credits.spend(key, cost, { ...info, metadata: { ...info.metadata, cost } });
    if (!spent.allowed) {
      return { ...refusal('USAGE_EXCEEDED', key, rateLimit), credits: spent.remaining, refillInSeconds: this.credits.secondsToRefill(spent) };
    }
    this.record(asker, key, info, { type: 'KEY_USED', ...about, metadata: spent.metadata ?? undefined });
    return {
      valid: true,
      code: 'VALID',
      keyId: key.id,
      rateLimit,
      merchantId: key.merchantId,
      scopes: key.scopes,
      metadata: key.metadata,
      credits: spent.remaining,
    };
  }

  /**
   * The presented key's check. A caller confined to its merchant is told of another merchant's
   * key by the path of a missing one (same answer, event, timing and reads), so existence does
   * not leak; the system and admin see every key. A gateway's unknown digests are read only
   * while the client address has failures left (admission's rule).
   */
  private async check(asker: Asker, presented: string, info: RequestInfo): Promise<KeyCheck | { refused: LimitResult }> {
    if (asker.kind === 'gateway') return checkCredential(this.admission, presented, asker.ip, info);
    const confinedTo = this.policy.confinedTo(asker.actor);
    const check = await (confinedTo === null ? this.authenticator.check(presented) : this.authenticator.checkFor(presented, confinedTo));
    // checkFor reads a digest two merchants' keys share like the caller's own: the record tells.
    if (confinedTo !== null && 'record' in check && check.record.merchantId !== confinedTo) return { status: 'NOT_FOUND' };
    return check;
  }

  /**
   * A refused key, with AUTH_FAILED (for the caller's merchant when no key is named). A
   * gateway's client address pays for it, and past its budget the answer is RATE_LIMITED.
   */
  private async refuse(asker: Asker, code: RefusalCode, key: KeyRecord | null, info: RequestInfo): Promise<Verification> {
    if (asker.kind === 'gateway') {
      const address = await chargeRefusal(this.admission, code, key, asker.ip, info);
      if (!address.allowed) return refusal('RATE_LIMITED', null, address);
    } else {
      const merchantId = key?.merchantId ?? asker.actor.principal?.merchantId;
      this.ledger.append(authFailedEvent(code, { merchantId, keyId: key?.id }, info));
    }
    return refusal(code, key, null);
  }

  /** Where the verification came from, for its events: the caller's request (a verifyKey), or the gateway's (an authz). */
  private requestOf(asker: Asker): RequestInfo {
    if (asker.kind === 'gateway') return { requestId: asker.requestId, ip: asker.ip, operationName: 'authz', metadata: { via: 'authz' } };
    const { actor } = asker;
    return {
      actorKeyId: actorKeyIdOf(actor),
      requestId: actor.requestId,
      ip: actor.ip,
      operationName: actor.operationName,
      metadata: { via: 'verifyKey', verifiedBy: actorKeyIdOf(actor) },
    };
  }

  /** An event of a usable key: its actor is the caller, or, through a gateway, the key itself. */
  private record(asker: Asker, key: KeyRecord, info: RequestInfo, event: NewAuditEvent): void {
    this.ledger.append({
      actorKeyId: asker.kind === 'gateway' ? key.id : (info.actorKeyId ?? null),
      requestId: info.requestId ?? null,
      ip: info.ip ?? null,
      operationName: info.operationName ?? null,
      ...event,
      metadata: { ...info.metadata, ...event.metadata },
    });
  }
}

type RefusalCode = Exclude<KeyCheck['status'], 'VALID'> | 'MISSING';

function refusal(code: Exclude<VerificationCode, 'VALID'>, key: KeyRecord | null, rateLimit: LimitResult | null): Verification {
  return {
    valid: false,
    code,
    keyId: key?.id ?? null,
    rateLimit,
    merchantId: key?.merchantId ?? null,
    scopes: key?.scopes ?? null,
    metadata: key?.metadata ?? null,
    credits: null,
  };
}

function inputProblems(scopes: readonly string[], cost: number | undefined, catalogue: ScopeCatalogue): InputProblem[] {
  const problems =
    scopes.length > MAX_REQUIRED_SCOPES
      ? [{ field: 'requiredScopes', message: `requiredScopes may list at most ${MAX_REQUIRED_SCOPES} scopes.` }]
      : scopeProblems(scopes, catalogue, 'requiredScopes');
  if (cost !== undefined) problems.push(...costProblems(cost));
  return problems;
}
