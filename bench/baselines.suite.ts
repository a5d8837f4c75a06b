import { loadChild, round, startChild, type BenchResult, type BenchSuite } from './suite.js';

const HELLO = JSON.stringify({ query: '{ hello }' });

/**
 * The two yardsticks: raw node:http, and a bare Apollo Server on the same HTTP layer
 * keyring uses. The Apollo server stays up so later suites can measure it again beside their cases.
 */
const baselines: BenchSuite = {
  name: 'baselines',
  order: 0,
  async run(context) {
    const { connections, durationSeconds, log } = context;
    const results: BenchResult[] = [];
    const options = { connections, headers: { 'content-type': 'application/json' }, body: HELLO };

    const raw = await startChild('raw');
    try {
      await loadChild(raw, { ...options, durationSeconds: 1 }); // warm-up
      const measured = await loadChild(raw, { ...options, durationSeconds });
      log(`raw node:http: ${round(measured.requestsPerSecond)} req/s, p99 ${measured.p99Ms} ms, ${round(measured.cpuMicrosPerRequest)} µs CPU/req`);
      results.push({ name: 'raw node:http, constant', ...figures(measured) });
    } finally {
      await raw.stop();
    }

    const apollo = await startChild('apollo');
    context.atExit.push(() => apollo.stop());
    context.baseline = (seconds) => loadChild(apollo, { ...options, path: '/graphql', durationSeconds: seconds });
    await context.baseline(1); // warm-up
    const measured = await context.baseline(durationSeconds);
    log(`bare Apollo: ${round(measured.requestsPerSecond)} req/s, p99 ${measured.p99Ms} ms, ${round(measured.cpuMicrosPerRequest)} µs CPU/req`);
    results.push({ name: 'bare Apollo `{ hello }` (node:http + executeHTTPGraphQLRequest)', ...figures(measured), ratio: 1 });
    return results;
  },
};

function figures(measured: { requestsPerSecond: number; p99Ms: number; cpuMicrosPerRequest: number }) {
  return { requestsPerSecond: measured.requestsPerSecond, p99Ms: measured.p99Ms, cpuMicrosPerRequest: measured.cpuMicrosPerRequest };
}

export default baselines;
