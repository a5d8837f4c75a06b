import { randomUUID } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { redisClass } from '../redis-client.js';
import type { Logger } from '../logger.js';
import type { KeyChange } from '../keys/key-change.js';
import { merchantIdProblem } from '../keys/validation.js';
import { waitUntil } from '../wait-until.js';
import { BusFanout, LocalEventBus, type EventBus } from './event-bus.js';
import type { AuditEventRecord } from './event-types.js';

export interface RedisEventBusOptions {
  url: string;
  /** Deployment namespace (REDIS_PREFIX): only instances with the same prefix hear each other. */
  prefix: string;
  logger?: Logger;
  /** How often an instance sends itself a heartbeat through Redis; also the store polling period while Redis is away. */
  heartbeatMs?: number;
  /** No heartbeat back for this long and the bus counts as down. */
  staleMs?: number;
}

const STATUSES: ReadonlySet<string> = new Set(['ACTIVE', 'DISABLED', 'REVOKED', 'EXPIRED']);
const DIGEST = /^[0-9a-f]{64}$/;
/**
 * Longest a key change waits for Redis to take it before the changing request answers anyway.
 * Generous: a revocation is rare, and answering before Redis took it lets the next request on
 * another instance still pass (seen once with 250 ms on a machine loaded by the whole test suite).
 */
const PUBLISH_WAIT_MS = 1_000;

/** Picks the Redis bus when REDIS_URL is set, the in-process one otherwise. */
export function createEventBus(config: { redisUrl: string | undefined; redisPrefix: string }, logger?: Logger): EventBus {
  if (config.redisUrl) return new RedisEventBus({ url: config.redisUrl, prefix: config.redisPrefix, logger });
  return new LocalEventBus();
}

/**
 * The bus shared by every instance with the same REDIS_URL and REDIS_PREFIX, on Redis pub/sub
 * (one publishing and one subscribed ioredis connection per instance).
 *
 * - This instance's own publications reach its own listeners at once, as on the local bus.
 * - Another instance's audit events arrive as wake-ups (an empty batch): the feed's sequencer
 *   then reads them from the store in id order. Listeners with content (the metrics) thus see
 *   this instance's commits only, and nothing depends on Redis delivering every message.
 * - Another instance's key changes arrive as key changes: caches drop the key, sockets close.
 * - Health is a heartbeat each instance sends itself through Redis: it proves the whole round
 *   trip (publish, subscription, delivery), not only that a socket is open. While the bus is
 *   down, listeners get a wake-up every heartbeat period (the feed polls the store); when it
 *   is back, `onResync` listeners re-check what key changes may have been missed.
 * Both connections reconnect by themselves; nothing is queued while Redis is away.
 */
export class RedisEventBus implements EventBus {
  readonly instanceId = randomUUID();
  private readonly fanout = new BusFanout();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channels: { events: string; keys: string; beat: string };
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly timer: NodeJS.Timeout;
  private up = false;
  private everUp = false;
  private lastBeat = 0;
  private closed = false;
  private reportedError = false;

  constructor(private readonly options: RedisEventBusOptions) {
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    this.staleMs = options.staleMs ?? 3 * this.heartbeatMs;
    this.channels = {
      events: `${options.prefix}bus:events`,
      keys: `${options.prefix}bus:keys`,
      beat: `${options.prefix}bus:beat:${this.instanceId}`,
    };
    const common: RedisOptions = {
      // Nothing waits for Redis: a publication that cannot go now is covered by wake-ups and resyncs.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    };
    this.pub = new (redisClass())(options.url, { ...common, connectionName: 'keyring-bus-pub' });
    // Subscribed again by hand on every 'ready' (a first subscribe while Redis is down would be lost).
    this.sub = new (redisClass())(options.url, { ...common, autoResubscribe: false, connectionName: 'keyring-bus-sub' });
    for (const client of [this.pub, this.sub]) {
      client.on('error', (error: Error) => {
        if (!this.reportedError) this.options.logger?.warn({ err: error }, 'event bus cannot reach Redis');
        this.reportedError = true;
      });
      client.on('close', () => this.markDown('connection closed'));
    }
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channels.events, this.channels.keys, this.channels.beat).then(
        () => this.beat(),
        (error: unknown) => this.options.logger?.warn({ err: error }, 'event bus could not subscribe'),
      );
    });
    this.pub.on('ready', () => this.beat());
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.timer.unref();
  }

  publishEvents(events: readonly AuditEventRecord[]): void {
    if (events.length === 0) return;
    setImmediate(() => this.fanout.events(events));
    // The ids only: other instances read the events from the store.
    this.send(this.channels.events, { o: this.instanceId, from: events[0]!.id, to: events.at(-1)!.id });
  }

  onEvents(listener: (events: readonly AuditEventRecord[]) => void): () => void {
    return this.fanout.onEvents(listener);
  }

  publishKeyChange(change: KeyChange): Promise<void> {
    // Synchronous here: a revoked key must stop working on this instance before the revoking request answers.
    this.fanout.keyChange(change);
    // Waited for (briefly): once Redis took the message, every subscribed instance has it in its
    // socket, so the revoking request's answer cannot overtake it. While Redis is away it is lost,
    // and the other instances' resync on reconnect (and short cache TTL meanwhile) cover it.
    return this.send(this.channels.keys, { o: this.instanceId, k: { keyId: change.keyId, digest: change.digest, merchantId: change.merchantId, status: change.status } }, PUBLISH_WAIT_MS);
  }

  onKeyChange(listener: (change: KeyChange) => void): () => void {
    return this.fanout.onKeyChange(listener);
  }

  onResync(listener: () => void): () => void {
    return this.fanout.onResync(listener);
  }

  healthy(): boolean {
    return (
      this.up &&
      !this.closed &&
      this.pub.status === 'ready' &&
      this.sub.status === 'ready' &&
      Date.now() - this.lastBeat < this.staleMs
    );
  }

  async ready(timeoutMs: number): Promise<boolean> {
    return waitUntil(() => this.healthy(), timeoutMs, () => this.closed);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.fanout.clear();
    await Promise.all(
      [this.pub, this.sub].map((client) => (client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect())),
    );
  }

  /** Publishes without ever throwing; resolves when Redis answered, or after `waitMs` at most. */
  private send(channel: string, payload: unknown, waitMs = 0): Promise<void> {
    if (this.closed || this.pub.status !== 'ready') return Promise.resolve();
    const published = this.pub.publish(channel, JSON.stringify(payload)).then(
      () => undefined,
      (error: unknown) => {
        this.options.logger?.warn({ err: error, channel }, 'event bus could not publish');
      },
    );
    if (waitMs <= 0) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    return Promise.race([published, timeout]).finally(() => clearTimeout(timer));
  }

  private beat(): void {
    if (this.closed || this.pub.status !== 'ready') return;
    this.pub.publish(this.channels.beat, this.instanceId).catch(() => {
      // A lost heartbeat is what marks the bus down; nothing else to do here.
    });
  }

  private tick(): void {
    if (this.up && !this.healthy()) this.markDown('no heartbeat back through Redis');
    // While away, other instances' commits cannot announce themselves: the feed polls the store.
    if (!this.up) this.fanout.events([]);
    this.beat();
  }

  private onMessage(channel: string, message: string): void {
    if (this.closed) return;
    if (channel === this.channels.beat) {
      if (message === this.instanceId) this.onBeat();
      return;
    }
    let parsed: { o?: unknown; k?: Partial<KeyChange> } | null = null;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = null;
    }
    if (parsed?.o === this.instanceId) return;
    if (channel === this.channels.events) {
      // A wake-up whatever it says: the store has the events.
      this.fanout.events([]);
      return;
    }
    if (channel !== this.channels.keys) return;
    const change = parsed?.k;
    if (change && typeof change.keyId === 'string' && typeof change.digest === 'string' && DIGEST.test(change.digest) && merchantIdProblem(change.merchantId) === null && STATUSES.has(change.status as string)) {
      this.fanout.keyChange({ keyId: change.keyId, digest: change.digest, merchantId: change.merchantId, status: change.status } as KeyChange);
    } else {
      // A key changed somewhere but which one cannot be told: check everything again.
      this.options.logger?.warn({ channel }, 'event bus received a malformed key change; resyncing');
      this.fanout.resync();
    }
  }

  private onBeat(): void {
    this.lastBeat = Date.now();
    if (this.up) return;
    this.up = true;
    this.reportedError = false;
    if (this.everUp) this.options.logger?.warn('event bus reached Redis again: key cache flushed, sockets re-checked, feed caught up from the store');
    else this.options.logger?.info('event bus connected to Redis');
    this.everUp = true;
    this.fanout.resync();
    this.fanout.events([]);
  }

  private markDown(reason: string): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.options.logger?.warn(
      { reason },
      'event bus lost Redis: other instances cannot be heard; cached keys are re-read when older than the unsynced TTL, the audit feed polls the store',
    );
  }
}
