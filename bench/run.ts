import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round, type BenchContext, type BenchResult, type BenchSuite } from './suite.js';

/**
 * `npm run bench [-- --duration 8 --connections 50 --only keyring --no-write --<opt-in>]`
 *
 * Runs every `bench/*.suite.ts` (opt-in suites only with their flag), prints each case with
 * its ratio to the bare Apollo baseline, and writes the figures to docs/BENCHMARKS.md.
 * Not a test: it exits 0 whatever it measures; the report says which targets held.
 */

const args = process.argv.slice(2);
const loadAtStart = loadavg().map((value) => value.toFixed(2)).join(', ');
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1]! : fallback;
};
const durationSeconds = Number(option('duration', '8'));
const connections = Number(option('connections', '50'));
const only = option('only', '');

const here = dirname(fileURLToPath(import.meta.url));
const BEGIN = '<!-- bench/run.ts: begin -->';
const END = '<!-- bench/run.ts: end -->';
const suites: BenchSuite[] = [];
for (const file of readdirSync(here).filter((name) => name.endsWith('.suite.js'))) {
  const suite = (await import(join(here, file))).default as BenchSuite;
  if (suite.optIn && !args.includes(`--${suite.optIn}`)) continue;
  if (only && suite.name !== only && suite.name !== 'baselines') continue;
  suites.push(suite);
}
suites.sort((a, b) => a.order - b.order);

const context: BenchContext = { durationSeconds, connections, args, log: (message) => console.log(`  ${message}`), atExit: [] };
const results: BenchResult[] = [];
try {
  for (const suite of suites) {
    console.log(`${suite.name}:`);
    results.push(...(await suite.run(context)));
  }
} finally {
  for (const step of context.atExit.reverse()) await step();
}

const apollo = results.find((result) => result.name.startsWith('bare Apollo'))?.requestsPerSecond;
for (const result of results) {
  if (apollo && result.requestsPerSecond !== undefined && result.ratio === undefined) result.ratio = result.requestsPerSecond / apollo;
  if (result.minRatio !== undefined) {
    const ok = (result.ratio ?? 0) >= result.minRatio;
    // Three decimals: a ratio just under the bar must not print as the bar itself.
    const description = `≥ ${result.minRatio} × bare Apollo (${ok ? 'yes' : `no: ${(result.ratio ?? 0).toFixed(3)}`})`;
    result.target = result.target
      ? { ok: ok && result.target.ok, description: `${description}, ${result.target.description}` }
      : { ok, description };
  }
}

const rows = results.map((r) => [
  r.name,
  r.requestsPerSecond === undefined ? '' : String(round(r.requestsPerSecond)),
  r.p99Ms === undefined ? '' : `${r.p99Ms} ms`,
  r.ratio === undefined ? '' : `${round(r.ratio, 2)}`,
  r.cpuMicrosPerRequest === undefined ? '' : `${round(r.cpuMicrosPerRequest)} µs`,
  r.target ? `${r.target.ok ? 'met' : 'NOT MET'}: ${r.target.description}` : (r.note ?? ''),
]);
const header = ['case', 'req/s', 'p99', '× bare Apollo', 'server CPU per request', 'target'];
const table = [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
console.log(`\n${table}\n`);

const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${round(totalmem() / 2 ** 30, 1)} GiB, Node ${process.version}, ${process.platform}; load average at start ${loadAtStart} (the machine may be shared)`;
if (!args.includes('--no-write')) {
  const file = join(here, '..', '..', 'docs', 'BENCHMARKS.md');
  mkdirSync(dirname(file), { recursive: true });
  const section = `${BEGIN}
## \`npm run bench\` (written by bench/run.ts; edit outside these markers)

- Command: \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\`
- Run: ${new Date().toISOString()}
- Machine: ${machine}
- Load: autocannon in the bench process against 127.0.0.1, ${connections} connections, a 1 s warm-up, then each keyring
  case for ${2 * durationSeconds} s in rounds of at least 2 s (\`--rounds\`, default 6) that alternate with bare Apollo rounds of the
  same length; each server runs in a process of its own, so load generator and server share the machine's cores.
- keyring: NODE_ENV=production, SQLite in a temp folder, 1,000 keys minted through the keys service, each seen once
  before the run; every request writes its log line (the production logger, on a standard output the bench discards).
  \`{ viewer { keyId } }\` takes each key in turn; \`verifyKey(key: $key) { valid code }\` verifies each key in turn with one
  verifier key (each verification leaves two KEY_USED rows: the verifier's request and the verified key's use). The
  1,000 requests are built before the run and taken in turn from one counter across the connections, so the load
  generator does as little per request as for a baseline's single request.
- Ratios: each keyring case runs in rounds that alternate with the bare Apollo server; the ratio is the median of the
  rounds' ratios, so other work on the machine skews both sides alike. "Server CPU per request" is the server
  process's user + system time over the answered requests (all its threads: keyring's ledger thread included).
- Targets: \`viewer\` and \`verifyKey\` at ≥ 0.5 × the bare Apollo server's requests per second with p99 < 10 ms,
  and exactly the configured number of requests allowed in a window under 50 concurrent clients on one key.
- Profiles: \`BENCH_PROFILE=/some/dir npm run bench\` writes a CPU profile of each server process there.

${table}
${END}`;
  // Only the generated section is replaced: hand-written notes around it stay.
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const from = current.indexOf(BEGIN);
  const to = current.indexOf(END);
  const next =
    from >= 0 && to > from
      ? current.slice(0, from) + section + current.slice(to + END.length)
      : current.replace(/^(# [^\n]*\n)/, `$1\n${section}\n`);
  writeFileSync(file, next.endsWith('\n') ? next : `${next}\n`);
  console.log(`wrote ${file}`);
}
process.exit(0);
