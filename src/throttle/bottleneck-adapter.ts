import Bottleneck from 'bottleneck';
import type { Redis, RedisOptions } from 'ioredis';
import { redisClass } from '../redis-client.js';

/**
 * Every place the limiters reach past Bottleneck's public API, in one file. Each reach is
 * written against this version; test/unit/bottleneck-adapter.test.ts pins the version and
 * every shape used here, and fails naming the one that changed after an upgrade.
 */
export const BOTTLENECK_VERSION = '2.19.5';

/** Fields of a limiter's settings hash in Redis that the shared limiter reads (see `settingsKey`). */
export const SETTINGS_FIELDS = { reservoir: 'reservoir', lastRefresh: 'lastReservoirRefresh' } as const;

/**
 * Takes `count` requests (one unless a request counts several) from a Bottleneck limiter's
 * reservoir; answers the reservoir left (negative when the take was over the limit).
 *
 * `incrementReservoir(-1)` is Bottleneck's public atomic take, but its in-process datastore
 * answers every call after a timer tick (it mimics a round trip to Redis) and then runs its job
 * queue's drain, for jobs this limiter never queues: ~17 µs of CPU and at least 1 ms of latency
 * per request (docs/BENCHMARKS.md). That datastore keeps the reservoir as a plain number in its
 * settings (`_store.storeOptions.reservoir`), which `incrementReservoir` adds to and
 * `currentReservoir()` reads; subtracting one there synchronously is the same atomic step
 * without the detour. Where that number is not there (another datastore), the public call is used.
 */
export function takeFrom(limiter: Bottleneck, count = 1): number | Promise<number> {
  const internals = limiter as unknown as { datastore?: string; _store?: { storeOptions?: { reservoir?: unknown } } };
  const settings = internals.datastore === 'local' ? internals._store?.storeOptions : undefined;
  if (settings && typeof settings.reservoir === 'number') return (settings.reservoir -= count);
  return limiter.incrementReservoir(-count).then((left) => left ?? 0);
}

/**
 * Takes one request from a limiter on the Redis datastore, whose reservoir refreshes every window.
 * increment_reservoir.lua decrements before it refreshes an ended window, so a take that lands
 * on the refresh is swallowed by it and the reservoir reads full: take again.
 */
export async function takeFromShared(limiter: Bottleneck, limit: number, count = 1): Promise<number> {
  let left = await limiter.incrementReservoir(-count);
  if (left >= limit) left = await limiter.incrementReservoir(-count);
  return left;
}

/** Stops a Group's own cleanup timer (its private `interval`), which Bottleneck offers no public way to stop. */
export function stopGroupTimer(group: Bottleneck.Group): void {
  clearInterval((group as unknown as { interval?: NodeJS.Timeout }).interval);
}

/** The Redis hash holding the settings of key `key`'s limiter in group `groupId` (Bottleneck's `b_<id>_settings`). */
export function settingsKey(groupId: string, key: string): string {
  return `b_${groupId}-${key}_settings`;
}

/**
 * Bottleneck's ioredis connection on `client`, with two repairs:
 *
 * - Bottleneck subscribes on `client.duplicate()`, and ioredis resubscribes it after a reconnect
 *   with a promise nobody catches: with a fail-fast client that resubscription can reject
 *   (stream not writable yet, retries used up, command timeout) as an unhandled rejection, which
 *   ends the process. The subscriber waits for Redis instead; the commands stay fail-fast.
 * - Bottleneck recovers from a Redis that lost its keys (a restart without persistence) by
 *   running its init script again when a script answers SETTINGS_KEY_NOT_FOUND or UNKNOWN_CLIENT;
 *   Redis 7 sends those as "ERR SETTINGS_KEY_NOT_FOUND", which Bottleneck does not recognise, so
 *   every take on a key known before the restart would fail until the key idled out. The prefix
 *   is stripped on the way back (`__scriptArgs__` is where Bottleneck builds each script call
 *   with its callback).
 */
export function ioredisConnection(client: Redis): Bottleneck.IORedisConnection {
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override?: RedisOptions) =>
    duplicate({ ...override, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
  const connection = new Bottleneck.IORedisConnection({ client, Redis: redisClass() });
  const internal = connection as unknown as { __scriptArgs__(name: string, id: string, args: unknown[], cb: ScriptCallback): unknown[] };
  const scriptArgs = internal.__scriptArgs__.bind(internal);
  internal.__scriptArgs__ = (name, id, args, cb) =>
    scriptArgs(name, id, args, (error, replies) => {
      if (error && LOST_KEY.test(error.message)) error.message = error.message.slice(4);
      cb(error, replies);
    });
  return connection;
}

type ScriptCallback = (error: Error | null, replies: unknown) => void;

const LOST_KEY = /^ERR (SETTINGS_KEY_NOT_FOUND|UNKNOWN_CLIENT)$/;

/** Calls to one destination, paced: at most `maxConcurrent` at once, starts at least `minTime` ms apart. */
export interface CallPacer {
  schedule<T>(call: () => Promise<T>): Promise<T>;
  /** Drops calls not started yet (they reject) and waits for none. */
  stop(): Promise<void>;
}

/** A Bottleneck limiter used as it was made to be: a queue that paces outbound calls (one per webhook endpoint). */
export function callPacer(options: { maxConcurrent: number; minTime: number }): CallPacer {
  const limiter = new Bottleneck({ maxConcurrent: options.maxConcurrent, minTime: options.minTime });
  return {
    schedule: (call) => limiter.schedule(call),
    stop: () => limiter.stop({ dropWaitingJobs: true }),
  };
}
