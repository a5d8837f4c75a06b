import { Redis } from 'ioredis';

/**
 * Probing and clearing a Redis namespace, as postgres.ts does for PostgreSQL: tests and
 * benchmarks check Redis is there, give each run its own REDIS_PREFIX, and remove that
 * prefix's keys afterwards.
 */
function oneShotClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  client.on('error', () => {});
  return client;
}

/** True when the Redis at `url` answers PING. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = oneShotClient(url);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key containing `prefix` (Bottleneck names its keys `b_<prefix>…`); best effort. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const client = oneShotClient(url);
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await client.del(...keys);
    } while (cursor !== '0');
    await client.quit();
  } catch {
    client.disconnect();
  }
}
