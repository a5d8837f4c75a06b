import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  BOTTLENECK_VERSION,
  ioredisConnection,
  SETTINGS_FIELDS,
  settingsKey,
  stopGroupTimer,
  takeFrom,
} from '../../src/throttle/bottleneck-adapter.js';

/**
 * Pins every Bottleneck internal that src/throttle/bottleneck-adapter.ts reaches into. After an
 * upgrade, each failure names the shape that moved: re-read that part of Bottleneck, fix the
 * adapter, then move BOTTLENECK_VERSION.
 */

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('bottleneck/package.json'));
const installed = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const lua = JSON.parse(readFileSync(join(root, 'lib/lua.json'), 'utf8')) as Record<string, string>;
const redisDatastore = readFileSync(join(root, 'lib/RedisDatastore.js'), 'utf8');

describe(`Bottleneck internals the adapter relies on (written against ${BOTTLENECK_VERSION})`, () => {
  it('is the version the adapter was written against', () => {
    expect(installed, `Bottleneck ${installed} is installed; bottleneck-adapter.ts was checked against ${BOTTLENECK_VERSION}`).toBe(BOTTLENECK_VERSION);
    expect((Bottleneck as unknown as { version: string }).version, 'Bottleneck.version differs from its package.json').toBe(installed);
  });

  it('keeps the in-process reservoir as a number at _store.storeOptions.reservoir, which takeFrom decrements at once', async () => {
    const limiter = new Bottleneck({ reservoir: 3 });
    const internals = limiter as unknown as { datastore?: unknown; _store?: { storeOptions?: { reservoir?: unknown } } };
    expect(internals.datastore, 'limiter.datastore no longer names the in-process store "local"').toBe('local');
    expect(internals._store?.storeOptions?.reservoir, 'the reservoir is no longer at limiter._store.storeOptions.reservoir').toBe(3);
    expect(takeFrom(limiter), 'takeFrom fell back to the public call: the in-process reservoir moved').toBe(2);
    expect(await limiter.currentReservoir(), 'currentReservoir() no longer reads _store.storeOptions.reservoir').toBe(2);
    await limiter.stop({ dropWaitingJobs: true });
  });

  it("keeps a Group's cleanup timer in its private `interval`, which stopGroupTimer clears", () => {
    const group = new Bottleneck.Group({ timeout: 60_000 });
    const interval = (group as unknown as { interval?: unknown }).interval;
    const timerClass = setTimeout(() => {}, 0).constructor;
    expect(interval, 'Group no longer keeps its cleanup timer in `interval`').toBeInstanceOf(timerClass);
    // Node marks a cleared timer destroyed: the only trace clearInterval leaves on it.
    expect((interval as { _destroyed?: boolean })._destroyed).toBe(false);
    stopGroupTimer(group);
    expect((interval as { _destroyed?: boolean })._destroyed, "stopGroupTimer did not stop the Group's cleanup timer").toBe(true);
  });

  it('stores a Group key\'s settings in the hash b_<group>-<key>_settings with the fields the shared limiter reads', () => {
    const scriptArgs = (Bottleneck.IORedisConnection.prototype as unknown as { __scriptArgs__?: (...args: unknown[]) => unknown[] }).__scriptArgs__;
    expect(typeof scriptArgs, 'IORedisConnection.prototype.__scriptArgs__ is gone').toBe('function');
    const callback = () => {};
    // A Group names its limiter for key k `<group id>-k`; the first script key is the settings hash.
    const args = scriptArgs!.call({}, 'init', 'group-key', ['x'], callback);
    expect(args[1], 'the settings hash of a limiter is no longer the first key of a script call, or was renamed').toBe(settingsKey('group', 'key'));
    expect(args.at(-1), '__scriptArgs__ no longer passes the callback last').toBe(callback);
    for (const field of Object.values(SETTINGS_FIELDS)) {
      expect(lua['process_tick.lua'], `the settings hash no longer has the field "${field}"`).toContain(`'${field}'`);
    }
  });

  it('decrements before it refreshes an ended window in increment_reservoir.lua (why takeFromShared takes again)', () => {
    const script = lua['increment_reservoir.lua'] ?? '';
    const decrement = script.indexOf("redis.call('hincrby', settings_key, 'reservoir', incr)");
    const refresh = script.indexOf('process_tick(now, true)');
    expect(decrement >= 0 && refresh >= 0, 'increment_reservoir.lua changed its decrement or its refresh').toBe(true);
    expect(decrement, 'increment_reservoir.lua now refreshes before it decrements: takeFromShared may take twice').toBeLessThan(refresh);
  });

  it('recovers lost keys on the bare messages SETTINGS_KEY_NOT_FOUND / UNKNOWN_CLIENT, which the adapter restores from "ERR …"', () => {
    expect(redisDatastore, 'RedisDatastore no longer recognises "SETTINGS_KEY_NOT_FOUND" by its bare message').toContain('e.message === "SETTINGS_KEY_NOT_FOUND"');
    expect(redisDatastore, 'RedisDatastore no longer recognises "UNKNOWN_CLIENT" by its bare message').toContain('e.message === "UNKNOWN_CLIENT"');
  });

  it('subscribes on client.duplicate(), so the adapter can make the subscriber wait for Redis', async () => {
    // Never connects: lazyConnect, and Bottleneck only waits for 'ready'.
    const client = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500 });
    const connection = ioredisConnection(client);
    try {
      const subscriber = (connection as unknown as { subscriber?: Redis }).subscriber;
      expect(subscriber, 'IORedisConnection no longer keeps its subscriber in `subscriber`').toBeInstanceOf(Redis);
      expect(subscriber, 'IORedisConnection no longer subscribes on a duplicate of the client').not.toBe(client);
      expect(subscriber!.options, 'the subscriber was not made through client.duplicate()').toMatchObject({
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
      });
      expect(subscriber!.options.commandTimeout).toBeUndefined();

      const internal = connection as unknown as { __scriptArgs__(name: string, id: string, args: unknown[], cb: (error: Error | null, replies: unknown) => void): unknown[] };
      const seen: string[] = [];
      const args = internal.__scriptArgs__('init', 'g-k', [], (error) => seen.push(error?.message ?? ''));
      const wrapped = args.at(-1) as (error: Error | null, replies: unknown) => void;
      wrapped(new Error('ERR SETTINGS_KEY_NOT_FOUND'), null);
      wrapped(new Error('ERR UNKNOWN_CLIENT'), null);
      wrapped(new Error('ERR something else'), null);
      expect(seen).toEqual(['SETTINGS_KEY_NOT_FOUND', 'UNKNOWN_CLIENT', 'ERR something else']);
    } finally {
      await connection.disconnect(false);
    }
  });
});
