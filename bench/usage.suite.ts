import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { EventRow } from '../src/audit/event-columns.js';
import { ThreadBatchWriter } from '../src/audit/ledger-thread.js';
import { rollupOf, usageOf } from '../src/audit/ledger-writer.js';
import { foldCells, USAGE_GRAINS, UsageRollup } from '../src/audit/usage-rollup.js';
import { start } from '../src/server/app.js';
import { benchConfig } from './bench-config.js';
import { median, round, type BenchContext, type BenchResult, type BenchSuite } from './suite.js';

const KEYS = 10_000;
const DAYS = 30;
const FULL_EVENTS = 5_000_000;
/** The default seed; `--usage-full` seeds the issue's 5,000,000 events' worth (minutes longer). */
const DEFAULT_EVENTS = 1_000_000;
const RAW_SAMPLE = 100_000;
const QUERIES = 300;
const P99_TARGET_MS = 100;
const OVERHEAD_TARGET = 0.15;
const DAY_MS = 86_400_000;
const MINUTE = 60_000;

/** A small deterministic generator, so every run seeds the same rows. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const keyId = (i: number) => `key_usage_bench_${String(i).padStart(5, '0')}`;

/**
 * Seeds, on the service's own SQLite file, what the ledger would have written for `events`
 * KEY_USED-and-refusal events over KEYS keys and DAYS days: the api_key rows, the minute cells
 * (each event in a random minute of its key's 30 days; about 1 in 20 a refusal), their hour and
 * day folds (the fold's mark at the end), and RAW_SAMPLE raw KEY_USED rows (the rollups never read them).
 */
function seed(file: string, events: number, end: number): { minuteRows: number; hourRows: number; dayRows: number } {
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = OFF');
  const next = random(42);
  const start = end - DAYS * DAY_MS;
  const key = db.prepare(
    "insert into `api_key` (`id`, `merchant_id`, `name`, `type`, `environment`, `status`, `scopes`, `prefix`, `last4`, `digest`, `rate_limit`, `rate_window_seconds`, `created_at`, `updated_at`) values (?, 'm_bench', 'bench', 'SECRET', 'TEST', 'ACTIVE', '[]', 'sk_test', 'abcd', ?, 1000, 60, ?, ?)",
  );
  const inserts = USAGE_GRAINS.map((grain) =>
    db.prepare(`insert into \`${grain.table}\` (\`key_id\`, \`bucket\`, \`valid\`, \`rate_limited\`, \`usage_exceeded\`, \`denied\`, \`credits_spent\`) values (?, ?, ?, ?, ?, ?, ?)`),
  );
  const raw = db.prepare("insert into `audit_event` (`type`, `occurred_at`, `merchant_id`, `key_id`, `ip`) values ('KEY_USED', ?, 'm_bench', ?, '10.0.0.1')");
  const counts = [0, 0, 0];
  const perKey = Math.round(events / KEYS);
  const write = db.transaction((first: number, last: number) => {
    for (let k = first; k < last; k++) {
      key.run(keyId(k), `digest_${k}`, start, start);
      const cells = new Map<number, number[]>();
      for (let e = 0; e < perKey; e++) {
        const minute = start + Math.floor(next() * DAYS * 1_440) * MINUTE;
        const cell = cells.get(minute) ?? [0, 0, 0, 0, 0];
        cell[next() < 0.95 ? 0 : 1]! += 1;
        cells.set(minute, cell);
      }
      const flat: unknown[] = [];
      for (const [minute, cell] of cells) flat.push(keyId(k), minute, ...cell);
      USAGE_GRAINS.forEach((grain, g) => {
        const folded = foldCells(flat, grain.ms);
        for (let at = 0; at < folded.length; at += 7) inserts[g]!.run(folded.slice(at, at + 7));
        counts[g]! += folded.length / 7;
      });
    }
  });
  for (let k = 0; k < KEYS; k += 500) write(k, Math.min(KEYS, k + 500));
  // Everything seeded is folded, as the ledger's batches would have left it.
  db.prepare('update `key_usage_fold` set `folded_until` = ? where `id` = 1').run(end);
  db.transaction(() => {
    for (let i = 0; i < RAW_SAMPLE; i++) raw.run(start + Math.floor(next() * DAYS * DAY_MS), keyId(Math.floor(next() * KEYS)));
  })();
  db.close();
  return { minuteRows: counts[0]!, hourRows: counts[1]!, dayRows: counts[2]! };
}

/** keyUsage for 100 keys × 24 hourly buckets through the real server, one query at a time: p50 and p99. */
async function measureQueries(url: string, adminKey: string, end: number): Promise<{ p50: number; p99: number; cpuMs: number }> {
  const next = random(7);
  const query = 'query U($keyIds: [ID!]!, $from: DateTime!, $to: DateTime!) { keyUsage(keyIds: $keyIds, from: $from, to: $to, granularity: HOUR) { keyId total { valid rateLimited } buckets { start counts { valid rateLimited usageExceeded denied creditsSpent } } lastUsedAt } }';
  const times: number[] = [];
  let cpu = 0;
  for (let i = 0; i < QUERIES + 20; i++) {
    const cpuBefore = process.cpuUsage();
    const keyIds = Array.from({ length: 100 }, (_, j) => keyId((Math.floor(next() * KEYS) + j * 97) % KEYS));
    const unique = [...new Set(keyIds)];
    const from = end - DAYS * DAY_MS + Math.floor(next() * (DAYS - 1)) * DAY_MS + Math.floor(next() * 24) * 3_600_000;
    const began = performance.now();
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ query, variables: { keyIds: unique, from: new Date(from).toISOString(), to: new Date(from + DAY_MS).toISOString() } }),
    });
    const body = (await res.json()) as { data?: { keyUsage: unknown[] }; errors?: unknown };
    if (!body.data || body.data.keyUsage.length !== unique.length) throw new Error(`keyUsage failed: ${JSON.stringify(body.errors)}`);
    // The first queries warm the caches and the JIT.
    if (i < 20) continue;
    times.push(performance.now() - began);
    const used = process.cpuUsage(cpuBefore);
    cpu += (used.user + used.system) / 1000;
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.ceil(times.length * 0.99) - 1]!, cpuMs: cpu / times.length };
}

/**
 * The ledger thread's time per batch of 1,000 KEY_USED rows (1,000 keys used in turn, as in the
 * keyring cases: a cell per key per batch, the most upserts a batch can cost), with the rollups and
 * with an empty rollup (the ledger as it was, but for the fold's one-row read), alternating; plus the
 * event loop's time to build them. Batches with rollups fold as the service's do: the first of each
 * minute folds the minute before (1,000 cells into hours and days), the others only upsert their cells.
 */
async function measureLedger(file: string): Promise<{ withMs: number; withoutMs: number; buildMs: number }> {
  const writer = new ThreadBatchWriter(file);
  const empty = new UsageRollup();
  const rows = (batch: number): EventRow[] =>
    Array.from({ length: 1_000 }, (_, i) => ({
      type: 'KEY_USED',
      occurredAt: new Date(Date.now() + batch),
      merchantId: 'm_bench',
      keyId: keyId(i * 7),
      actorKeyId: keyId(i * 7),
      requestId: `req_${batch}_${i}`,
      operationName: null,
      ip: '10.0.0.1',
      reason: null,
      metadata: null,
    }));
  const withTimes: number[] = [];
  const withoutTimes: number[] = [];
  const buildTimes: number[] = [];
  try {
    for (let batch = 0; batch < 120; batch++) {
      const batchRows = rows(batch);
      const usage = usageOf(batchRows);
      const built = performance.now();
      const rollup = batch % 2 === 0 ? rollupOf(batchRows, null) : empty;
      if (batch % 2 === 0) buildTimes.push(performance.now() - built);
      const began = performance.now();
      await writer.write(batchRows, usage, rollup);
      // The first batches warm the thread, its statements and the file.
      if (batch >= 20) (batch % 2 === 0 ? withTimes : withoutTimes).push(performance.now() - began);
    }
  } finally {
    await writer.close();
  }
  return { withMs: median(withTimes), withoutMs: median(withoutTimes), buildMs: median(buildTimes) };
}

async function run(context: BenchContext): Promise<BenchResult[]> {
  const events = context.args.includes('--usage-full') ? FULL_EVENTS : DEFAULT_EVENTS;
  const dir = mkdtempSync(join(tmpdir(), 'keyring-bench-usage-'));
  let adminKey = '';
  const app = await start(benchConfig(dir, 'silent', { RATE_LIMIT: '100000' }), {
    logDestination: pino.destination('/dev/null'),
    onAdminKey: (value) => (adminKey = value),
  });
  try {
    const file = app.services.db.file!;
    const end = Date.now() - (Date.now() % DAY_MS);
    const seeding = performance.now();
    const seeded = seed(file, events, end);
    const seedSeconds = (performance.now() - seeding) / 1000;
    context.log(`seeded ${events.toLocaleString('en')} events' worth in ${round(seedSeconds, 1)} s: ${JSON.stringify(seeded)}`);
    const query = await measureQueries(app.url, adminKey, end);
    context.log(`keyUsage p50 ${round(query.p50, 1)} ms, p99 ${round(query.p99, 1)} ms, process CPU ${round(query.cpuMs, 1)} ms per query`);
    const ledger = await measureLedger(file);
    const overhead = ledger.withMs / ledger.withoutMs - 1;
    context.log(`ledger thread per 1,000-row batch: ${round(ledger.withMs, 2)} ms with rollups, ${round(ledger.withoutMs, 2)} ms without`);
    const seededNote = `${events.toLocaleString('en')} events' worth over ${KEYS.toLocaleString('en')} keys and ${DAYS} days, seeded in bulk in ${round(seedSeconds)} s (${seeded.minuteRows.toLocaleString('en')} minute, ${seeded.hourRows.toLocaleString('en')} hour, ${seeded.dayRows.toLocaleString('en')} day rollup rows; ${RAW_SAMPLE.toLocaleString('en')} raw KEY_USED rows)${events < FULL_EVENTS ? '; `--usage-full` for 5,000,000' : ''}`;
    return [
      {
        name: `keyUsage, 100 keys × 24 hourly buckets over HTTP, one at a time (${seededNote})`,
        p99Ms: round(query.p99, 1),
        target: { ok: query.p99 < P99_TARGET_MS, description: `p99 < ${P99_TARGET_MS} ms (p50 ${round(query.p50, 1)} ms; CPU of the process, client and server, ${round(query.cpuMs, 1)} ms per query)` },
      },
      {
        name: 'ledger thread: a batch of 1,000 KEY_USED rows over 1,000 keys, with the rollups against without (median of 50 each)',
        target: {
          ok: overhead <= OVERHEAD_TARGET,
          description: `≤ ${OVERHEAD_TARGET * 100} % more (${round(overhead * 100, 1)} %: ${round(ledger.withMs, 2)} ms against ${round(ledger.withoutMs, 2)} ms; building the rollup on the event loop ${round(ledger.buildMs, 2)} ms per batch)`,
        },
      },
    ];
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const suite: BenchSuite = { name: 'usage', order: 40, run };
export default suite;
