import type { FullCapacity } from '../audit/audit-feed.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import { compileAllowlist } from '../keys/ip-allowlist.js';
import type { KeyRecord } from '../keys/key-record.js';
import type { Credits, CreditSpend } from '../throttle/credits.js';
import type { LimitResult } from '../throttle/limiter.js';
import { rateLimitedEvent, requestEvent, type RequestInfo, type Throttle } from '../throttle/throttle.js';
import { authFailedEvent, type RefusalReason } from './auth-failed.js';
import type { Authenticator, KeyCheck } from './authenticator.js';
import { principalOf, type Principal } from './principal.js';

export type Transport = 'http' | 'websocket';

/** What each transport's requests are allowed and what they count. */
const TRANSPORTS: Record<Transport, { anonymous: boolean; countsAdmission: boolean; metadata?: Record<string, unknown> }> = {
  // Without a key, an HTTP request may still introspect (Apollo's plugin refuses anything else); each request counts one.
  http: { anonymous: true, countsAdmission: true },
  // A socket needs a key; opening it counts nothing, each subscribe on it counts one (admitOperation).
  websocket: { anonymous: false, countsAdmission: false, metadata: { transport: 'websocket' } },
};

/** What admission needs of the services. */
export interface AdmissionDeps {
  authenticator: Authenticator;
  throttle: Throttle;
  ledger: Ledger;
  credits: Credits;
}

export interface AdmissionRequest {
  /** As `credentialFrom` gives it: the key, null when none was presented, undefined when unusable. */
  credential: string | null | undefined;
  ip: string;
  requestId: string | null;
  transport: Transport;
  /**
   * Called with a valid key before it is checked once more: a transport that holds on to the
   * key (an open socket) registers it here, so a revocation that lands during the first check
   * is not missed (it has invalidated the cache by the second).
   */
  hold?: (key: KeyRecord) => void;
}

/**
 * The outcome of admission, a value: each edge only turns it into a status and headers or
 * a close code. `rateLimit` holds the figures of whatever was counted: the key once it is
 * known good, otherwise the client address (null when nothing was counted).
 */
export type Admission =
  /** `spend`: the credits the request spent (null: none counted), for its KEY_USED event. */
  | { outcome: 'admitted'; principal: Principal | null; rateLimit: LimitResult | null; spend?: CreditSpend | null }
  | { outcome: 'unauthenticated'; rateLimit: LimitResult }
  | { outcome: 'rate-limited'; rateLimit: LimitResult; retryAfter: number }
  /**
   * A valid key used from an address outside its allowlist (recorded as ACCESS_DENIED, reason
   * IP_NOT_ALLOWED); `rateLimit`: the address's figures, which the refusal was counted against.
   */
  | { outcome: 'ip-not-allowed'; rateLimit: LimitResult }
  /** The key's credits ran out: `retryAfter` (seconds to the next refill) only when one is due. */
  | { outcome: 'usage-exceeded'; rateLimit: LimitResult; retryAfter: number | null }
  /** The audit ledger cannot record anything now (see Ledger.full): nothing is served unrecorded. */
  | { outcome: 'ledger-full' };

/**
 * The outcome for one operation on an admitted connection; `over-capacity`: a feed subscribe
 * past its key's or merchant's cap, refused before it is counted and recorded as a (folded) refusal.
 */
export type OperationAdmission =
  | Exclude<Admission, { outcome: 'unauthenticated' | 'ip-not-allowed' }>
  | { outcome: 'over-capacity'; full: FullCapacity };


/**
 * Decides whether a request (HTTP) or a connection (WebSocket) may proceed, and as whom.
 * A valid key counts against its own limit; anything else counts against the client
 * address, so keys cannot be guessed at speed, and leaves AUTH_FAILED. A key whose digest
 * a stored key has is always looked up, whatever the address has spent, so a valid key is
 * never refused for its address's failures; a key nobody issued costs no database read
 * (beyond a small instance-wide budget), and once the address is out of failures it gets
 * `rate-limited` without even that.
 */
export async function admit(deps: AdmissionDeps, request: AdmissionRequest): Promise<Admission> {
  if (deps.ledger.full) return { outcome: 'ledger-full' };
  const rules = TRANSPORTS[request.transport];
  const info: RequestInfo = { requestId: request.requestId, ip: request.ip, metadata: rules.metadata };
  const { credential } = request;
  if (credential === null && rules.anonymous) {
    const result = await deps.throttle.address(request.ip, info);
    return result.allowed ? { outcome: 'admitted', principal: null, rateLimit: result } : rateLimited(result);
  }
  if (typeof credential !== 'string') return refuse(deps, { status: credential === null ? 'MISSING' : 'MALFORMED' }, request.ip, info);
  const checked = await checkCredential(deps, credential, request.ip, info);
  if ('refused' in checked) return rateLimited(checked.refused);
  let check = checked;
  if (check.status === 'VALID' && request.hold) {
    request.hold(check.record);
    check = await deps.authenticator.check(credential);
  }
  if (check.status !== 'VALID') return refuse(deps, check, request.ip, info);
  // Contract §9.1's order: status and expiry, IP, scopes, rate limit: a refused address costs the key nothing.
  if (!ipAllowed(check.record.allowedIps, request.ip)) {
    // Someone holding the key, from the wrong place: the address pays, as for a bad credential,
    // so a leaked key cannot be replayed from outside at speed (nor its refusals grow without bound).
    const result = await deps.throttle.address(request.ip, info);
    if (!result.allowed) return rateLimited(result);
    deps.ledger.append(ipNotAllowedEvent(check.record, info));
    return { outcome: 'ip-not-allowed', rateLimit: result };
  }
  const principal = principalOf(check.record);
  if (!rules.countsAdmission) return { outcome: 'admitted', principal, rateLimit: null };
  const result = await deps.throttle.key(check.record, info);
  return result.allowed ? spendOne(deps, principal, result, info) : rateLimited(result);
}

/** After the rate limit, the request's one credit (contract §9.1): the last check; a refusal spent nothing. */
async function spendOne(
  deps: AdmissionDeps,
  principal: Principal,
  rateLimit: LimitResult,
  info: RequestInfo,
): Promise<Extract<Admission, { outcome: 'admitted' | 'usage-exceeded' }>> {
  const spend = await deps.credits.spend(principal.key, 1, info);
  if (spend.allowed) return { outcome: 'admitted', principal, rateLimit, spend };
  return { outcome: 'usage-exceeded', rateLimit, retryAfter: deps.credits.secondsToRefill(spend) };
}

/**
 * Admits one operation on an admitted connection (a WebSocket `subscribe`): it counts one
 * against the connection's key.
 */
export async function admitOperation(
  deps: AdmissionDeps,
  principal: Principal,
  request: { requestId: string; ip: string | null; operationName: string | null; transport: Transport },
  /** Requests the operation counts for: its root fields, aliases included (contract §9.5). */
  count = 1,
  /**
   * For a feed subscription: whether the key and its merchant have room for one more (null) or
   * the refusal. Asked before anything is counted: a refused subscribe then costs neither the
   * key's limit nor a KEY_USED event delivered to every live subscriber of the merchant, only a
   * RATE_LIMITED row that the ledger folds per address and minute.
   */
  room?: () => FullCapacity | null,
): Promise<OperationAdmission> {
  if (deps.ledger.full) return { outcome: 'ledger-full' };
  const { metadata } = TRANSPORTS[request.transport];
  const full = room?.() ?? null;
  if (full) {
    const about = { merchantId: principal.merchantId, keyId: principal.keyId, reason: 'feed subscription cap' };
    deps.ledger.append(rateLimitedEvent(about, { ...request, metadata }, { cap: full.scope, limit: full.limit }));
    return { outcome: 'over-capacity', full };
  }
  const info = { requestId: request.requestId, ip: request.ip, operationName: request.operationName, metadata };
  const result = await deps.throttle.key(principal.key, info, count);
  return result.allowed ? spendOne(deps, principal, result, info) : rateLimited(result);
}

const matchers = new WeakMap<readonly string[], (ip: string) => boolean>();

/**
 * The one IP allowlist decision, for HTTP and WebSocket admission, open sockets and verifyKey:
 * whether `ip` may use a key with this (normalised) allowlist. Empty: any address; a missing
 * address is outside any non-empty list. Each list is compiled once (records are immutable).
 */
export function ipAllowed(allowedIps: readonly string[], ip: string | null | undefined): boolean {
  if (allowedIps.length === 0) return true;
  if (!ip) return false;
  let matches = matchers.get(allowedIps);
  if (!matches) matchers.set(allowedIps, (matches = compileAllowlist(allowedIps)));
  return matches(ip);
}

/** The ACCESS_DENIED event of a key used from outside its allowlist. */
export function ipNotAllowedEvent(key: Pick<KeyRecord, 'id' | 'merchantId'>, info: RequestInfo): NewAuditEvent {
  return requestEvent('ACCESS_DENIED', { merchantId: key.merchantId, keyId: key.id, reason: 'IP_NOT_ALLOWED' }, info, info.metadata ?? null);
}

/** Seconds a refused caller should wait: whole seconds, at least one. */
export function retryAfterSeconds(result: LimitResult): number {
  return Math.max(1, Math.ceil(result.retryAfterMs / 1000));
}

/**
 * Checks a presented key, from memory when it can. A key whose digest no stored key has is
 * looked up only while the client address has failures left (and within the instance's
 * budget for such reads); once the address is out of them it is refused, unless one of those
 * budgeted reads finds it after all (a key made where this instance could not hear).
 */
export async function checkCredential(deps: AdmissionDeps, credential: string, ip: string, info: RequestInfo): Promise<KeyCheck | { refused: LimitResult }> {
  const { authenticator } = deps;
  const digest = authenticator.digestOf(credential);
  if (digest === null) return { status: 'MALFORMED' };
  const cached = authenticator.cached(digest);
  if (cached) return cached;
  if (!authenticator.knows(digest)) {
    const open = await deps.throttle.addressOpen(ip, info);
    if (!open.allowed && !(await authenticator.discover(digest))) return { refused: open };
  }
  return authenticator.check(credential);
}

/** A refused credential: the address pays for it; within its budget the answer is `unauthenticated`, with AUTH_FAILED. */
async function refuse(
  deps: AdmissionDeps,
  check: Exclude<KeyCheck, { status: 'VALID' }> | { status: 'MISSING' },
  ip: string,
  info: RequestInfo,
): Promise<Admission> {
  const result = await chargeRefusal(deps, check.status, 'record' in check ? check.record : null, ip, info);
  return result.allowed ? { outcome: 'unauthenticated', rateLimit: result } : rateLimited(result);
}

/**
 * A refused credential of a request without a valid key (any edge: admission, /authz): the
 * client address pays for it. Within the address's budget AUTH_FAILED is recorded (naming the
 * stored key it named, if any) and the figures are allowed; past it they are the address's
 * refusal, recorded by the throttle as RATE_LIMITED.
 */
export async function chargeRefusal(deps: AdmissionDeps, reason: RefusalReason, key: KeyRecord | null, ip: string, info: RequestInfo): Promise<LimitResult> {
  const result = await deps.throttle.address(ip, info);
  if (result.allowed) deps.ledger.append(authFailedEvent(reason, { merchantId: key?.merchantId, keyId: key?.id }, info));
  return result;
}

function rateLimited(result: LimitResult): Admission & { outcome: 'rate-limited' } {
  return { outcome: 'rate-limited', rateLimit: result, retryAfter: retryAfterSeconds(result) };
}
