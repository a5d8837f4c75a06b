import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';

const require = createRequire(import.meta.url);

/**
 * ioredis's client class, loaded on first use: only a service pointed at Redis (`REDIS_URL`)
 * pays for loading it (about 150 ms of a CLI command's start), not the embedded default or
 * the CLI's database commands. ioredis is CommonJS, so it loads synchronously here.
 */
export function redisClass(): typeof Redis {
  return (require('ioredis') as typeof import('ioredis')).Redis;
}
