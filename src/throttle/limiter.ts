/**
 * Where a caller stands against a fixed-window limit. A refusal is a value
 * (`allowed: false` with `retryAfterMs`), never an exception.
 */
export interface LimitResult {
  allowed: boolean;
  limit: number;
  /** Requests left in the current window after this one (never negative). */
  remaining: number;
  /** When the current window ends and the full limit is available again. */
  resetAt: Date;
  /** 0 when allowed; otherwise how long until the window ends. */
  retryAfterMs: number;
  /** True when the shared store could not be asked and the fail-open/closed policy decided. */
  degraded?: boolean;
}

export interface TakeOptions {
  /**
   * While the shared store cannot be reached: true serves by this instance's own count
   * (the limit then holds per instance), false refuses. In-process limiters never fail.
   */
  failOpen?: boolean;
  /** Requests this take stands for (default 1): a request with several root fields counts each (contract §9.5). */
  count?: number;
}

/**
 * Counts requests against `limit` per `windowSeconds` for a key (an API key id or a client
 * address). A window starts with the first request after the previous one ended.
 * The limiter state of one key is separate for each (limit, window) pair, so a changed
 * limit starts a fresh count rather than reusing an old reservoir.
 */
export interface Limiter {
  readonly kind: 'local' | 'redis';
  /** Counts one request (or `options.count`) and says whether it is allowed; an in-process store answers at once, without a promise. */
  take(key: string, limit: number, windowSeconds: number, options?: TakeOptions): LimitResult | Promise<LimitResult>;
  /**
   * Says whether a request would be allowed now, without counting one. While a shared store
   * cannot be reached, this instance's own count answers.
   */
  peek(key: string, limit: number, windowSeconds: number): Promise<LimitResult>;
  /** False while a shared store cannot be reached (for /readyz). */
  healthy(): boolean;
  /**
   * Decisions made without the shared store so far (counted on this instance alone, or refused
   * by the fail-closed policy); always 0 in process. For the metrics.
   */
  degradedTakes(): number;
  /** Waits until a shared store answers, for at most `timeoutMs`; says whether it did. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Applies `then` to a value that may still be coming: at once when it is there, when it comes otherwise. */
export function applyNowOrLater<T, R>(value: T | Promise<T>, then: (value: T) => R): R | Promise<R> {
  return value instanceof Promise ? value.then(then) : then(value);
}

/** Builds a result from the reservoir left after a take (negative when over the limit). */
export function resultOf(left: number, limit: number, resetAtMs: number, now = Date.now()): LimitResult {
  const allowed = left >= 0;
  return {
    allowed,
    limit,
    remaining: Math.max(0, Math.min(limit, left)),
    resetAt: new Date(resetAtMs),
    retryAfterMs: allowed ? 0 : Math.max(1, resetAtMs - now),
  };
}

/** Builds a result from the reservoir as it stands, for `peek`: allowed while one is left. */
export function peekOf(reservoir: number, limit: number, resetAtMs: number, now = Date.now()): LimitResult {
  return { ...resultOf(reservoir - 1, limit, resetAtMs, now), remaining: Math.max(0, Math.min(limit, reservoir)) };
}

/** The refusal while the shared store is unreachable and the policy is to fail closed. */
export function unavailableResult(limit: number, windowMs: number, now = Date.now()): LimitResult {
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAt: new Date(now + windowMs),
    // A closed door during an outage: ask again soon rather than after a whole window.
    retryAfterMs: Math.min(windowMs, 5_000),
    degraded: true,
  };
}
