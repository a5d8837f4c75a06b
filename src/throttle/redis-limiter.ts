import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import { redisClass } from '../redis-client.js';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger.js';
import { waitUntil } from '../wait-until.js';
import { peekOf, resultOf, type LimitResult, type Limiter, type TakeOptions, unavailableResult } from './limiter.js';
import { LocalLimiter, policyId } from './local-limiter.js';
import { ioredisConnection, settingsKey, SETTINGS_FIELDS, stopGroupTimer, takeFromShared } from './bottleneck-adapter.js';

export interface RedisLimiterOptions {
  url: string;
  /** Deployment namespace (REDIS_PREFIX): instances with the same prefix share their counts. */
  prefix: string;
  logger?: Logger;
  /** Longest a take may wait for Redis before the fail-open/closed policy answers. */
  timeoutMs?: number;
}

interface Policy {
  groupId: string;
  group: Bottleneck.Group;
  limit: number;
  windowMs: number;
}

// Redis refreshes windows itself inside each script call; the heartbeat only keeps the
// client registered, so it may be slow (one timer per live key, once a minute).
const HEARTBEAT_MS = 60_000;
/** After a failed call, answer by policy for this long instead of piling up timeouts. */
const BACKOFF_MS = 1_000;

/**
 * Shared limiter on Bottleneck's `ioredis` datastore: every instance with the same prefix
 * counts against the same reservoir. One Group per (limit, window) pair, all on one Redis
 * connection pair; reservoir-refresh settings give the fixed window, which Redis applies
 * lazily and exactly at the first call after a window ended. Keys expire in Redis a window
 * after their last use (the Group's `timeout`), and the Group then drops its local limiter.
 */
export class RedisLimiter implements Limiter {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private readonly connection: Bottleneck.IORedisConnection;
  private readonly policies = new Map<string, Policy>();
  /** Known window starts, so resetAt costs a Redis read once per key and window. */
  private readonly starts = new LRUCache<string, number>({ max: 100_000 });
  private readonly timeoutMs: number;
  private failingUntil = 0;
  /** Counts on this instance alone while Redis is out of reach. */
  private readonly fallback = new LocalLimiter();
  private degraded = 0;
  private closed = false;

  constructor(private readonly options: RedisLimiterOptions) {
    this.timeoutMs = options.timeoutMs ?? 500;
    this.client = new (redisClass())(options.url, {
      // Fail at once while disconnected instead of queueing: the fail-open/closed policy answers.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: this.timeoutMs,
      connectTimeout: 2_000,
    });
    let reported = false;
    this.client.on('error', (error: Error) => {
      if (!reported) options.logger?.warn({ err: error }, 'rate limiter cannot reach Redis');
      reported = true;
    });
    this.client.on('ready', () => {
      if (reported) options.logger?.info('rate limiter reached Redis again');
      reported = false;
    });
    this.connection = ioredisConnection(this.client);
    this.connection.on('error', () => {
      // Already reported through the client's own error event.
    });
  }

  async take(key: string, limit: number, windowSeconds: number, options: TakeOptions = {}): Promise<LimitResult> {
    const shared = await this.guarded(() => this.takeShared(key, limit, windowSeconds, options.count));
    if (shared) return shared;
    // Redis is out of reach: this instance counts alone, and the policy says whether that count
    // (fail open: the limit holds per instance) or a refusal (fail closed) answers.
    this.degraded += 1;
    const local = await this.fallback.take(key, limit, windowSeconds, { count: options.count });
    return options.failOpen ?? true ? { ...local, degraded: true } : unavailableResult(limit, windowSeconds * 1000);
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<LimitResult> {
    const shared = await this.guarded(async () => {
      const policy = this.policy(limit, windowSeconds);
      const [reservoir, last] = await this.client.hmget(settingsKey(policy.groupId, key), SETTINGS_FIELDS.reservoir, SETTINGS_FIELDS.lastRefresh);
      const now = Date.now();
      const start = Number(last);
      // No state yet, or a window that ended and will be refreshed by the next take: full.
      if (reservoir === null || !start || now >= start + policy.windowMs) return peekOf(limit, limit, now + policy.windowMs, now);
      return peekOf(Number(reservoir), limit, start + policy.windowMs, now);
    });
    // Out of reach: what this instance counted itself (refused takes included) answers.
    return shared ?? { ...(await this.fallback.peek(key, limit, windowSeconds)), degraded: true };
  }

  degradedTakes(): number {
    return this.degraded;
  }

  healthy(): boolean {
    return !this.closed && this.client.status === 'ready' && Date.now() >= this.failingUntil;
  }

  /** Waits until Redis answers, for at most `timeoutMs`; says whether it did. */
  async ready(timeoutMs: number): Promise<boolean> {
    return waitUntil(() => this.healthy(), timeoutMs, () => this.closed);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const policy of this.policies.values()) stopGroupTimer(policy.group);
    this.policies.clear();
    await this.fallback.close();
    const ready = this.client.status === 'ready';
    await this.connection.disconnect(ready).catch(() => this.connection.disconnect(false));
  }

  /** The shared answer, or null when Redis cannot give one in time. */
  private async guarded(work: () => Promise<LimitResult>): Promise<LimitResult | null> {
    if (!this.healthy()) return null;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('rate limiter timed out')), this.timeoutMs);
        }),
      ]);
    } catch (error) {
      this.failingUntil = Date.now() + BACKOFF_MS;
      this.options.logger?.warn({ err: error }, 'rate limiter call failed; counting on this instance for now');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  private async takeShared(key: string, limit: number, windowSeconds: number, count = 1): Promise<LimitResult> {
    const policy = this.policy(limit, windowSeconds);
    const left = await takeFromShared(policy.group.key(key), limit, count);
    const start = await this.windowStart(policy, key);
    return resultOf(left, limit, start + policy.windowMs);
  }

  private async windowStart(policy: Policy, key: string): Promise<number> {
    const cacheKey = `${policy.groupId}-${key}`;
    const now = Date.now();
    const known = this.starts.get(cacheKey);
    // A window is only ever refreshed after it ended, so a known start holds until then.
    if (known !== undefined && now < known + policy.windowMs) return known;
    const last = Number(await this.client.hget(settingsKey(policy.groupId, key), SETTINGS_FIELDS.lastRefresh));
    const start = last > 0 && now < last + policy.windowMs ? last : now;
    this.starts.set(cacheKey, start);
    return start;
  }

  private policy(limit: number, windowSeconds: number): Policy {
    const groupId = `${this.options.prefix}${policyId(limit, windowSeconds)}`;
    let policy = this.policies.get(groupId);
    if (!policy) {
      const windowMs = windowSeconds * 1000;
      const group = new Bottleneck.Group({
        id: groupId,
        datastore: 'ioredis',
        connection: this.connection,
        reservoir: limit,
        reservoirRefreshAmount: limit,
        reservoirRefreshInterval: windowMs,
        timeout: windowMs,
        heartbeatInterval: HEARTBEAT_MS,
        clientTimeout: 3 * HEARTBEAT_MS,
      } as Bottleneck.ConstructorOptions);
      group.on('error', () => {
        // A failed call is answered by policy in guarded(); Bottleneck's own retries are noise here.
      });
      policy = { groupId, group, limit, windowMs };
      this.policies.set(groupId, policy);
    }
    return policy;
  }
}
