import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import type { Logger } from '../logger.js';
import type { KeyRecord } from '../keys/key-record.js';
import { addressGroup } from './address-group.js';
import { applyNowOrLater, type LimitResult, type Limiter } from './limiter.js';
import { LocalLimiter } from './local-limiter.js';
import { RedisLimiter } from './redis-limiter.js';

export interface ThrottleOptions {
  /** Requests per window for callers without a valid key, per client address. */
  ipLimit: number;
  ipWindowSeconds: number;
  /** While the shared store is unreachable: serve known keys (true) or refuse them. */
  failOpenForKeys: boolean;
  /** While the shared store is unreachable: serve callers without a valid key (true) or refuse them. */
  failOpenForAnonymous: boolean;
}

/** Where a counted request came from, for the RATE_LIMITED event of a refusal. */
export interface RequestInfo {
  requestId?: string | null;
  ip?: string | null;
  operationName?: string | null;
  /** The key that made the request, when it is not the key being counted (verifyKey). */
  actorKeyId?: string | null;
  metadata?: Record<string, unknown>;
}

export type LimitedKey = Pick<KeyRecord, 'id' | 'merchantId' | 'rateLimit' | 'rateWindowSeconds'>;

/** Picks the shared Redis limiter when REDIS_URL is set, the in-process one otherwise. */
export function createLimiter(config: { redisUrl: string | undefined; redisPrefix: string; limiterMaxKeys?: number }, logger?: Logger): Limiter {
  if (config.redisUrl) return new RedisLimiter({ url: config.redisUrl, prefix: config.redisPrefix, logger });
  return new LocalLimiter(undefined, config.limiterMaxKeys);
}

/**
 * The service's throttling rules on top of a limiter: each key has its own limit, callers
 * without a valid key share one limit per client address, and every refusal is recorded
 * as a RATE_LIMITED event. Refusals are values; the HTTP and WebSocket edges turn them into 429s.
 */
export class Throttle {
  constructor(
    readonly limiter: Limiter,
    private readonly ledger: Ledger,
    private readonly options: ThrottleOptions,
  ) {}

  /**
   * Counts one request (or `count`: the further root fields of a request) against the key's own
   * limit, at once, without a promise, on the in-process limiter.
   */
  key(key: LimitedKey, request: RequestInfo, count = 1): LimitResult | Promise<LimitResult> {
    const taken = this.limiter.take(`key:${key.id}`, key.rateLimit, key.rateWindowSeconds, { failOpen: this.options.failOpenForKeys, count });
    return applyNowOrLater(taken, (result) => {
      if (!result.allowed) {
        this.refused(result, key.rateWindowSeconds, request, { merchantId: key.merchantId, keyId: key.id, reason: 'key rate limit' });
      }
      return result;
    });
  }

  /** Counts one request without a valid key against the client address. */
  address(ip: string, request: RequestInfo): LimitResult | Promise<LimitResult> {
    const taken = this.limiter.take(`ip:${addressGroup(ip)}`, this.options.ipLimit, this.options.ipWindowSeconds, {
      failOpen: this.options.failOpenForAnonymous,
    });
    return applyNowOrLater(taken, (result) => {
      if (!result.allowed) this.refused(result, this.options.ipWindowSeconds, request, { reason: 'address rate limit' });
      return result;
    });
  }

  /**
   * Whether the client address may still present unknown keys, without counting: asked
   * before a key is looked up, so an address that has used up its failures is refused
   * without touching the database. During a limiter outage this instance's own count of
   * the address's failures answers, so valid keys are still looked up and guessing is still slowed.
   */
  async addressOpen(ip: string, request: RequestInfo): Promise<LimitResult> {
    const result = await this.limiter.peek(`ip:${addressGroup(ip)}`, this.options.ipLimit, this.options.ipWindowSeconds);
    if (!result.allowed) this.refused(result, this.options.ipWindowSeconds, request, { reason: 'address rate limit' });
    return result;
  }

  healthy(): boolean {
    return this.limiter.healthy();
  }

  private refused(
    result: LimitResult,
    windowSeconds: number,
    request: RequestInfo,
    subject: { merchantId?: string; keyId?: string; reason: string },
  ): void {
    this.ledger.append(
      rateLimitedEvent(result.degraded ? { ...subject, reason: 'rate limiter unavailable' } : subject, request, {
        limit: result.limit,
        windowSeconds,
        retryAfterSeconds: Math.ceil(result.retryAfterMs / 1000),
      }),
    );
  }
}

/** The RATE_LIMITED event of a refusal over any limit: what was refused, why, and where the request came from. */
export function rateLimitedEvent(
  subject: { merchantId?: string | null; keyId?: string | null; reason: string },
  request: RequestInfo,
  figures: Record<string, unknown>,
): NewAuditEvent {
  return requestEvent('RATE_LIMITED', subject, request, { ...figures, ...request.metadata });
}

/**
 * An event about a key (or a merchant) caused by a request: where the request came from, and
 * the key itself as the actor unless another key made the request (verifyKey). Every refusal
 * and alert of the request path is built here.
 */
export function requestEvent(
  type: NewAuditEvent['type'],
  subject: { merchantId?: string | null; keyId?: string | null; reason: string },
  request: RequestInfo,
  metadata: Record<string, unknown> | null,
): NewAuditEvent {
  return {
    type,
    merchantId: subject.merchantId ?? null,
    keyId: subject.keyId ?? null,
    actorKeyId: request.actorKeyId ?? subject.keyId ?? null,
    requestId: request.requestId ?? null,
    ip: request.ip ?? null,
    operationName: request.operationName ?? null,
    reason: subject.reason,
    metadata,
  };
}
