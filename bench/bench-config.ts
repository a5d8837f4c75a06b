import { join } from 'node:path';
import { loadConfig } from '../src/config.js';

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
