import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { dropSchema, postgresAnswers } from './postgres.js';
import { deleteRedisKeys, redisAnswers } from './redis.js';
import { openFeed, type FeedClient } from './feed.js';
import { startTestServer, testSchemaName, TEST_POSTGRES_URL, waitFor, type TestServer } from './server.js';

export { redisAnswers };

/** The shared Redis the scale suites use (the outage suite starts a second one itself). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether PostgreSQL and Redis both answer. When one does not: prints a notice and the
 * suite skips, except under CI, where it throws (the scale-out must be tested there).
 */
export async function scaleBackendsAvailable(suite: string, needs: { redis?: boolean } = {}): Promise<boolean> {
  const [postgres, redis] = await Promise.all([postgresAnswers(TEST_POSTGRES_URL), needs.redis === false ? true : redisAnswers(TEST_REDIS_URL)]);
  if (postgres && redis) return true;
  const missing = [!postgres && `PostgreSQL at ${TEST_POSTGRES_URL}`, !redis && `Redis at ${TEST_REDIS_URL}`].filter(Boolean).join(' and ');
  if (process.env.CI) throw new Error(`[${suite}] ${missing} did not answer, and CI is set: several instances must be tested there.`);
  console.warn(`[${suite}] SKIPPED: ${missing} did not answer; several instances were not tested.`);
  return false;
}

/**
 * The databases a suite about both backends runs on: SQLite, and PostgreSQL when it answers
 * (skipped with a notice otherwise, and required under CI, as for the scale suites).
 */
export async function databasesToTest(suite: string): Promise<Array<'sqlite' | 'postgres'>> {
  return (await scaleBackendsAvailable(suite, { redis: false })) ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface Cluster {
  /** The PostgreSQL schema every instance shares (dropped on stop). */
  schema: string;
  /** The REDIS_PREFIX every instance shares (its keys deleted on stop). */
  prefix: string;
  instances: TestServer[];
  /** The admin key printed by whichever instance started first. */
  adminKey: string;
  /** Starts one more instance on the same schema and prefix. */
  add(env?: Record<string, string>): Promise<TestServer>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  count?: number;
  env?: Record<string, string>;
  redisUrl?: string;
  /** Start every instance at the same time (on an empty schema) instead of one after the other. */
  concurrently?: boolean;
  /** The clock every instance's credit refills follow. */
  now?: () => number;
}

/**
 * Several instances of the service in this process, each with its own HTTP server, MikroORM
 * and Redis connections, sharing one PostgreSQL schema and one Redis prefix made for this run.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const schema = testSchemaName('scale');
  const prefix = `keyring-scale-${randomUUID()}:`;
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const instances: TestServer[] = [];
  const add = async (env: Record<string, string> = {}) => {
    const server = await startTestServer({
      postgres: { url: TEST_POSTGRES_URL, schema },
      env: { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, EXPIRY_SWEEP_MS: '100', ...options.env, ...env },
      now: options.now,
    });
    instances.push(server);
    return server;
  };
  const stop = async () => {
    await Promise.allSettled(instances.map((server) => server.stop()));
    await dropSchema(TEST_POSTGRES_URL, schema);
    await deleteRedisKeys(redisUrl, prefix);
  };
  try {
    const count = options.count ?? 2;
    if (options.concurrently) await Promise.all(Array.from({ length: count }, () => add()));
    else for (let i = 0; i < count; i++) await add();
  } catch (error) {
    await stop();
    throw error;
  }
  const adminKey = instances.find((server) => server.adminKey)?.adminKey ?? '';
  return { schema, prefix, instances, adminKey, add, stop };
}

/** Opens a feed on `server` and waits until the server registered its subscription. */
export async function subscribedFeed(server: TestServer, key: string, variables: Record<string, unknown> = {}): Promise<FeedClient> {
  const before = server.app.services.feed.stats.opened;
  const feed = openFeed(server, key, variables);
  await waitFor(() => server.app.services.feed.stats.opened > before || feed.closeCode !== null || feed.errors.length > 0);
  return feed;
}

/** A throwaway redis-server on a free port, which a test stops and starts again at will. */
export interface OwnRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGKILL: Redis disappears as in a crash; the port stays the same for the next start. */
  kill(): Promise<void>;
}

export async function ownRedis(binary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  // Never left behind, even when the test process ends without its afterAll.
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  const own: OwnRedis = {
    url,
    port,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      const started = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      child = started;
      await waitFor(() => started.exitCode === null && redisAnswers(url), 5_000, 50);
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      });
    },
  };
  return own;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** GET /readyz of an instance, as JSON. */
export async function readyz(server: TestServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Sends `total` requests with one key at once, alternately to each instance; says which
 * statuses came back and whether any instance's limiter decided without Redis meanwhile (it
 * then counted alone, by design, so the burst proves nothing about sharing; on a loaded machine
 * a Redis call can exceed the limiter's 500 ms timeout, and the second after it is answered
 * without Redis too, unlogged: the limiter's own count of such decisions tells).
 */
export async function burst(servers: TestServer[], secret: string, total: number): Promise<{ statuses: number[]; degraded: boolean }> {
  const trouble = () => servers.reduce((sum, server) => sum + server.app.services.limiter.degradedTakes(), 0);
  const before = trouble();
  const answers = await Promise.all(Array.from({ length: total }, (_, i) => servers[i % servers.length]!.gql('{ viewer { keyId } }', {}, secret)));
  return { statuses: answers.map((answer) => answer.status), degraded: trouble() > before };
}

/**
 * How many of `2 × limit` requests spread over the instances were served, for a fresh key of
 * `limit` per 60 s. Retried with another key (up to ten times, 500 ms apart) only while a burst
 * had decisions made without Redis: on a loaded machine, right after Redis returns, a limiter
 * call can still time out and the instance counts alone for a moment, by design. A burst with
 * every decision made in Redis answers at once: sharing that is broken then serves twice the limit.
 */
export async function sharedServed(servers: TestServer[], mint: (limit: number) => Promise<string>, limit: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const { statuses, degraded } = await burst(servers, await mint(limit), 2 * limit);
    const served = statuses.filter((status) => status === 200).length;
    if (!degraded || attempt === 10) return served;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
