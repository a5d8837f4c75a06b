import { join } from 'node:path';
import { loadConfig } from '../src/config.js';

/** The end client's address that verifyKey calls of keys with an allowlist pass as context.ip. */
export const BENCH_CLIENT_IP = '203.0.113.7';

/** keyring as a benchmark runs it: production mode, loopback, a fresh SQLite file, no address limit. */
export function benchConfig(dir: string, logLevel: string, extra: Record<string, string> = {}) {
  return loadConfig({
    ...process.env,
    NODE_ENV: 'production',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`,
    LOG_LEVEL: logLevel,
    IP_RATE_LIMIT: '1000000',
    CONSOLE: 'false',
    ...extra,
  });
}
