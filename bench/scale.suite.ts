import { randomBytes } from 'node:crypto';
import { dropSchema, postgresAnswers } from '../test/helpers/postgres.js';
import { deleteRedisKeys, redisAnswers } from '../test/helpers/redis.js';
import { loadChild, median, round, startChild, type BenchContext, type BenchResult, type BenchSuite, type ChildServer, type LoadOptions, type Measured } from './suite.js';

/**
 * `npm run bench -- --scale`: two keyring instances on PostgreSQL + Redis with the load split
 * over both, next to one instance on SQLite, in the same run and with the same total connections.
 * PostgreSQL and Redis come from BENCH_POSTGRES_URL / BENCH_REDIS_URL (default: the local ones);
 * the run uses a schema and a Redis prefix of its own, removed afterwards.
 */

interface InstanceInfo {
  keys: string[];
  verifier: string | null;
  exact: string | null;
}

const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEYS = 1_000;
const EXACT_LIMIT = 1_000;
const VIEWER = JSON.stringify({ query: '{ viewer { keyId } }' });
const VERIFY = 'query Verify($key: String!) { verifyKey(key: $key) { valid code } }';

type Load = Omit<LoadOptions, 'url' | 'durationSeconds' | 'connections'>;
type Sample = Measured & { cpuMicrosPerRequest: number };

/** The same load on a set of instances at once, connections split between them; one combined figure. */
async function together(servers: ChildServer<InstanceInfo>[], connections: number, durationSeconds: number, load: (server: number) => Load): Promise<Sample> {
  const each = await Promise.all(
    servers.map((server, i) => loadChild(server, { ...load(i), path: '/graphql', connections: Math.max(1, Math.round(connections / servers.length)), durationSeconds })),
  );
  const total = each.reduce((sum, m) => sum + m.total, 0);
  const statusCounts: Record<string, number> = {};
  for (const m of each) for (const [code, count] of Object.entries(m.statusCounts)) statusCounts[code] = (statusCounts[code] ?? 0) + count;
  return {
    requestsPerSecond: each.reduce((sum, m) => sum + m.requestsPerSecond, 0),
    // The slower instance's p99: a client of the load balancer sees both.
    p99Ms: Math.max(...each.map((m) => m.p99Ms)),
    meanMs: each.reduce((sum, m) => sum + m.meanMs * m.total, 0) / total,
    total,
    statusCounts,
    errors: each.reduce((sum, m) => sum + m.errors, 0),
    cpuMicrosPerRequest: each.reduce((sum, m) => sum + m.cpuMicrosPerRequest * m.total, 0) / total,
  };
}

/** One case on both set-ups, in alternating rounds so that other work on the machine skews both alike. */
async function compare(
  context: BenchContext,
  name: string,
  single: ChildServer<InstanceInfo>,
  cluster: ChildServer<InstanceInfo>[],
  load: (set: ChildServer<InstanceInfo>[], server: number) => Load,
): Promise<BenchResult[]> {
  const rounds = Number(context.args[context.args.indexOf('--rounds') + 1]) || 3;
  const seconds = Math.max(2, context.durationSeconds / rounds);
  const run = (set: ChildServer<InstanceInfo>[], durationSeconds: number) => together(set, context.connections, durationSeconds, (server) => load(set, server));
  await run([single], 1);
  await run(cluster, 1);
  const one: Sample[] = [];
  const two: Sample[] = [];
  for (let i = 0; i < rounds; i++) {
    one.push(await run([single], seconds));
    two.push(await run(cluster, seconds));
  }
  const row = (label: string, samples: Sample[]): BenchResult => {
    const unexpected = samples.flatMap((m) => Object.keys(m.statusCounts)).filter((code) => code !== '200');
    const result: BenchResult = {
      name: `scale: ${name}, ${label}`,
      requestsPerSecond: median(samples.map((m) => m.requestsPerSecond)),
      p99Ms: median(samples.map((m) => m.p99Ms)),
      cpuMicrosPerRequest: samples.reduce((sum, m) => sum + m.cpuMicrosPerRequest * m.total, 0) / samples.reduce((sum, m) => sum + m.total, 0),
      note: unexpected.length ? `answers other than 200: ${[...new Set(unexpected)].join(', ')}` : `rounds ${samples.map((m) => round(m.requestsPerSecond)).join(', ')} req/s`,
    };
    context.log(`${result.name}: ${round(result.requestsPerSecond!)} req/s, p99 ${result.p99Ms} ms, ${round(result.cpuMicrosPerRequest!)} µs CPU/req (${result.note})`);
    return result;
  };
  return [row('one instance on SQLite', one), row('two instances on PostgreSQL + Redis, load split over both', two)];
}

const scaleSuite: BenchSuite = {
  name: 'scale',
  order: 30,
  optIn: 'scale',
  async run(context) {
    const [postgres, redis] = await Promise.all([postgresAnswers(POSTGRES_URL), redisAnswers(REDIS_URL)]);
    if (!postgres || !redis) {
      const missing = [!postgres && `PostgreSQL at ${POSTGRES_URL}`, !redis && `Redis at ${REDIS_URL}`].filter(Boolean).join(' and ');
      context.log(`skipped: ${missing} did not answer`);
      return [{ name: 'scale: two instances on PostgreSQL + Redis', note: `skipped: ${missing} did not answer` }];
    }
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const prefix = `keyring-bench-${randomBytes(4).toString('hex')}:`;
    const shared = { databaseUrl: POSTGRES_URL, schema, redisUrl: REDIS_URL, redisPrefix: prefix };
    const started: ChildServer<InstanceInfo>[] = [];
    const child = async (options: Record<string, unknown>) => {
      const server = await startChild<InstanceInfo>('instance', options, 'scale-servers.js');
      started.push(server);
      return server;
    };
    try {
      const single = await child({ databaseUrl: 'sqlite:temp', mint: KEYS, exactLimit: EXACT_LIMIT });
      const a = await child({ ...shared, mint: KEYS, exactLimit: EXACT_LIMIT });
      const b = await child({ ...shared, warm: [...a.info.keys, a.info.verifier!] });
      const cluster = [a, b];
      // Each set-up uses the keys its first instance minted; each instance's load takes them in turn.
      const viewer = (set: ChildServer<InstanceInfo>[]): Load => ({
        headers: { 'content-type': 'application/json' },
        body: VIEWER,
        turns: set[0]!.info.keys.map((key) => ({ headers: { authorization: `Bearer ${key}` } })),
      });
      const verify = (set: ChildServer<InstanceInfo>[]): Load => ({
        headers: { 'content-type': 'application/json', authorization: `Bearer ${set[0]!.info.verifier}` },
        turns: set[0]!.info.keys.map((key) => ({ body: JSON.stringify({ query: VERIFY, variables: { key } }) })),
      });
      const results: BenchResult[] = [];
      results.push(...(await compare(context, '`viewer`, 1,000 keys in turn', single, cluster, viewer)));
      results.push(...(await compare(context, '`verifyKey`, 1,000 keys in turn', single, cluster, verify)));

      // One key of 1,000 per 60 s under 50 clients spread over both instances: exactly 1,000 allowed.
      const hot = await together(cluster, 50, 3, () => ({ headers: { 'content-type': 'application/json', authorization: `Bearer ${a.info.exact}` }, body: VIEWER }));
      const allowed = hot.statusCounts['200'] ?? 0;
      const refused = hot.statusCounts['429'] ?? 0;
      context.log(`one key over two instances, 50 clients: ${allowed} allowed, ${refused} refused (limit ${EXACT_LIMIT})`);
      results.push({
        name: `scale: one key (limit ${EXACT_LIMIT} per 60 s), 50 clients split over two instances for 3 s`,
        requestsPerSecond: hot.requestsPerSecond,
        p99Ms: hot.p99Ms,
        cpuMicrosPerRequest: hot.cpuMicrosPerRequest,
        target: {
          ok: allowed === EXACT_LIMIT && allowed + refused === hot.total,
          description: `exactly ${EXACT_LIMIT} allowed across both: ${allowed} allowed, ${refused} refused with 429, ${hot.total - allowed - refused} other`,
        },
      });
      return results;
    } finally {
      await Promise.allSettled(started.map((server) => server.stop()));
      await dropSchema(POSTGRES_URL, schema).catch((error: unknown) => context.log(`could not drop schema ${schema}: ${String(error)}`));
      await deleteRedisKeys(REDIS_URL, prefix).catch(() => {});
    }
  },
};

export default scaleSuite;
