import { loadChild, median, round, startChild, type BenchResult, type BenchSuite } from './suite.js';

type Measured = Awaited<ReturnType<typeof loadChild>>;

const MIN_RATIO = 0.4;
const MAX_P99_RATIO = 2;

/**
 * Forward authentication (`/authz`) over 1,000 keys in turn, in rounds that alternate with a raw
 * node:http server answering 200 to the very same requests (the ceiling: /authz does little more
 * than a hash, a map lookup and a counter). Targets: ≥ 0.4 × raw's requests per second and
 * p99 ≤ 2 × raw's p99, both in the same rounds.
 */
const authzSuite: BenchSuite = {
  name: 'authz',
  order: 20,
  async run(context) {
    const { connections, log } = context;
    const rounds = Number(context.args[context.args.indexOf('--rounds') + 1]) || 6;
    const seconds = Math.max(2, (2 * context.durationSeconds) / rounds);
    const raw = await startChild('raw');
    const keyring = await startChild<{ keys: string[] }>('keyring', { keys: 1_000 });
    try {
      // The same GET requests to both: each key in turn, in its Authorization header.
      const options = {
        connections,
        method: 'GET' as const,
        path: '/authz',
        turns: keyring.info.keys.map((key) => ({ headers: { authorization: `Bearer ${key}` } })),
      };
      await loadChild(raw, { ...options, durationSeconds: 1 }); // warm-up
      await loadChild(keyring, { ...options, durationSeconds: 1 });
      const pairs: Array<{ bare: Measured; authz: Measured }> = [];
      for (let i = 0; i < rounds; i++) {
        const bare = await loadChild(raw, { ...options, durationSeconds: seconds });
        const authz = await loadChild(keyring, { ...options, durationSeconds: seconds });
        pairs.push({ bare, authz });
      }
      const statusCounts: Record<string, number> = {};
      for (const { authz } of pairs) for (const [code, count] of Object.entries(authz.statusCounts)) statusCounts[code] = (statusCounts[code] ?? 0) + count;
      const unexpected = Object.keys(statusCounts).filter((code) => code !== '200');
      const ratio = median(pairs.map((pair) => pair.authz.requestsPerSecond / pair.bare.requestsPerSecond));
      const rawP99 = median(pairs.map((pair) => pair.bare.p99Ms));
      const authzP99 = median(pairs.map((pair) => pair.authz.p99Ms));
      const p99Ratio = authzP99 / rawP99;
      const cpu = (key: 'bare' | 'authz') => {
        const total = pairs.reduce((sum, pair) => sum + pair[key].total, 0);
        return pairs.reduce((sum, pair) => sum + pair[key].cpuMicrosPerRequest * pair[key].total, 0) / total;
      };
      const ok = ratio >= MIN_RATIO && p99Ratio <= MAX_P99_RATIO && unexpected.length === 0;
      log(
        `/authz: ${round(median(pairs.map((p) => p.authz.requestsPerSecond)))} req/s, raw ${round(median(pairs.map((p) => p.bare.requestsPerSecond)))} req/s; ` +
          `ratio ${round(ratio, 2)} (rounds ${pairs.map((p) => round(p.authz.requestsPerSecond / p.bare.requestsPerSecond, 2)).join(', ')}); ` +
          `p99 ${authzP99} ms vs raw ${rawP99} ms; mean ${median(pairs.map((p) => p.authz.meanMs))} ms vs raw ${median(pairs.map((p) => p.bare.meanMs))} ms ` +
          `(at ${connections} connections a server's mean is at most connections ÷ its req/s, equal when it is the bottleneck: the p99 ratio follows the throughput ratio; docs/BENCHMARKS.md); ` +
          `${JSON.stringify(statusCounts)}`,
      );
      const results: BenchResult[] = [
        {
          name: 'raw node:http answering 200, the same GETs, rounds beside /authz',
          requestsPerSecond: median(pairs.map((pair) => pair.bare.requestsPerSecond)),
          p99Ms: rawP99,
          cpuMicrosPerRequest: cpu('bare'),
        },
        {
          name: 'keyring `/authz`, 1,000 keys in turn',
          requestsPerSecond: median(pairs.map((pair) => pair.authz.requestsPerSecond)),
          p99Ms: authzP99,
          cpuMicrosPerRequest: cpu('authz'),
          target: {
            ok,
            description:
              `≥ ${MIN_RATIO} × raw node:http's req/s in the same rounds (${ratio >= MIN_RATIO ? 'yes' : 'no'}: ${ratio.toFixed(3)}), ` +
              `p99 ≤ ${MAX_P99_RATIO} × raw's (${p99Ratio <= MAX_P99_RATIO ? 'yes' : 'no'}: ${authzP99} ms vs ${rawP99} ms, ${p99Ratio.toFixed(2)}), ` +
              `every answer 200 (${unexpected.length ? `no: ${JSON.stringify(statusCounts)}` : 'yes'})`,
          },
        },
      ];
      return results;
    } finally {
      await keyring.stop();
      await raw.stop();
    }
  },
};

export default authzSuite;
