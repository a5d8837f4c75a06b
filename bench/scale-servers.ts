import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYSTEM_ACTOR } from '../src/auth/principal.js';
import { loadConfig } from '../src/config.js';
import { start } from '../src/server/app.js';

/**
 * One keyring instance for the scale benchmark, in a process of its own (bench/scale.suite.ts
 * starts it through startChild): on SQLite in a temp folder (`databaseUrl: "sqlite:temp"`) or
 * on PostgreSQL in the run's schema, with or without Redis. The first instance of a cluster
 * mints the keys; the others only look them up once, as a live instance would have.
 * Sends `{ url, keys, verifier, exact }` over IPC when it listens; stops on `{ stop: true }`.
 */

interface InstanceOptions {
  databaseUrl: string;
  schema?: string;
  redisUrl?: string;
  redisPrefix?: string;
  /** Keys to mint (the first instance of a cluster). */
  mint?: number;
  /** Keys another instance minted, looked up once here. */
  warm?: string[];
  /** Mint one key with this limit per 60 s, for the exactly-N check. */
  exactLimit?: number;
}

const options = JSON.parse(process.argv[3] ?? '{}') as InstanceOptions;
const dir = options.databaseUrl === 'sqlite:temp' ? mkdtempSync(join(tmpdir(), 'keyring-bench-scale-')) : null;
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'production',
  PORT: '0',
  HOST: '127.0.0.1',
  DATABASE_URL: dir ? `sqlite:${join(dir, 'keyring.db')}` : options.databaseUrl,
  REDIS_URL: options.redisUrl ?? '',
  REDIS_PREFIX: options.redisPrefix ?? 'keyring:',
  LOG_LEVEL: 'info',
  IP_RATE_LIMIT: '1000000',
  CONSOLE: 'false',
});
const app = await start(config, { onAdminKey: () => {}, database: options.schema ? { schema: options.schema } : undefined });
const { keys: service, authenticator } = app.services;
const system = SYSTEM_ACTOR;
const mint = async (name: string, scopes: string[], rateLimit: { limit: number; windowSeconds: number }) =>
  (await service.create(system, { merchantId: 'bench', name, type: 'SECRET', scopes, rateLimit })).secret;
const keys: string[] = [];
let verifier: string | null = null;
let exact: string | null = null;
if (options.mint) {
  for (let i = 0; i < options.mint; i++) keys.push(await mint(`bench ${i}`, [], { limit: 100_000, windowSeconds: 60 }));
  verifier = await mint('bench verifier', ['keys:verify'], { limit: 100_000, windowSeconds: 1 });
  if (options.exactLimit) exact = await mint('bench exact', [], { limit: options.exactLimit, windowSeconds: 60 });
}
for (const key of [...keys, ...(verifier ? [verifier] : []), ...(options.warm ?? [])]) await authenticator.check(key);

process.on('message', (message: { stop?: boolean; cpu?: boolean }) => {
  if (message?.cpu) {
    const { user, system: sys } = process.cpuUsage();
    process.send!({ cpu: user + sys });
  }
  if (message?.stop) {
    void app
      .stop()
      .finally(() => dir && rmSync(dir, { recursive: true, force: true }))
      .finally(() => process.exit(0));
  }
});
process.send!({ url: app.url, keys, verifier, exact });
