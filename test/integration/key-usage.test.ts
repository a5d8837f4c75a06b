import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { PostgresBatchWriter } from '../../src/audit/ledger-postgres.js';
import { ThreadBatchWriter } from '../../src/audit/ledger-thread.js';
import { USAGE_COUNT_COLUMNS, USAGE_GRAINS, UsageRollup } from '../../src/audit/usage-rollup.js';
import { databasesToTest } from '../helpers/scale.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const KEY_USAGE = /* GraphQL */ `
  query Usage($keyIds: [ID!]!, $from: DateTime!, $to: DateTime!, $granularity: UsageGranularity) {
    keyUsage(keyIds: $keyIds, from: $from, to: $to, granularity: $granularity) {
      keyId
      total { valid rateLimited usageExceeded denied creditsSpent }
      buckets { start counts { valid rateLimited usageExceeded denied creditsSpent } }
      lastUsedAt
      lastIp
    }
  }
`;
const VERIFY = 'query V($key: String!, $scopes: [String!]) { verifyKey(key: $key, requiredScopes: $scopes) { code } }';

type Counts = { valid: number; rateLimited: number; usageExceeded: number; denied: number; creditsSpent: number };
const OUTCOME: Record<string, keyof Counts> = { KEY_USED: 'valid', RATE_LIMITED: 'rateLimited', USAGE_EXCEEDED: 'usageExceeded', ACCESS_DENIED: 'denied' };
const zero = (): Counts => ({ valid: 0, rateLimited: 0, usageExceeded: 0, denied: 0, creditsSpent: 0 });
const MINUTE = 60_000;

const databases = await databasesToTest('key-usage');

/**
 * Contract §9.3: keyUsage answers from rollups the ledger writes with each batch. After a
 * concurrent load through a real server (keys' own requests and verifications of them, some
 * refused over the limit or for scopes), the rollups agree exactly with the raw events, with
 * each folded refusal counted (a summary stands for metadata.count refusals beyond its first row).
 */
describe.each(databases)('keyUsage rollups on %s', (database) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ database });
  });
  afterAll(() => server?.stop());

  /** Counts per key (and per key and minute) from the raw events, folding respected. */
  async function rawCounts(keyIds: string[]) {
    const rows = await server.app.services.db.fork().find(AuditEventEntity, { keyId: { $in: keyIds }, type: { $in: Object.keys(OUTCOME) as never[] } });
    const total = new Map(keyIds.map((id) => [id, zero()]));
    const perMinute = new Map<string, Counts>();
    let summaries = 0;
    for (const row of rows) {
      const summary = row.metadata?.summary === true;
      summaries += summary ? 1 : 0;
      total.get(row.keyId!)![OUTCOME[row.type]!] += summary ? (row.metadata!.count as number) : 1;
      // A summary's refusals cannot be placed in a minute from the raw rows: only the unfolded ones are.
      if (summary) continue;
      const at = `${row.keyId} ${row.occurredAt.getTime() - (row.occurredAt.getTime() % MINUTE)}`;
      if (!perMinute.has(at)) perMinute.set(at, zero());
      perMinute.get(at)![OUTCOME[row.type]!] += 1;
    }
    const lastUsed = new Map<string, number>();
    for (const row of rows) if (row.type === 'KEY_USED') lastUsed.set(row.keyId!, Math.max(lastUsed.get(row.keyId!) ?? 0, row.occurredAt.getTime()));
    return { total, perMinute, summaries, lastUsed };
  }

  it('counts a concurrent load exactly as the raw events do, per key and per minute', async () => {
    const merchantId = `m_usage_${database}`;
    const verifier = await createKey(server, { merchantId, scopes: ['keys:verify'] });
    const keys = await Promise.all(
      Array.from({ length: 4 }, (_, i) => createKey(server, { merchantId, name: `load ${i}`, scopes: ['keys:read'], rateLimit: { limit: 25, windowSeconds: 60 } })),
    );
    const started = Date.now();
    const calls: Array<Promise<unknown>> = [];
    // Interleaved, so that each kind of call meets the limit both before and after it runs out.
    for (let i = 0; i < 30; i++) {
      for (const key of keys) {
        calls.push(server.gql('{ viewer { keyId } }', {}, key.secret));
        if (i < 15) calls.push(server.gql(VERIFY, { key: key.secret }, verifier.secret));
        // Scope refusals: the keys lack audit:read.
        if (i < 5) calls.push(server.gql(VERIFY, { key: key.secret, scopes: ['audit:read'] }, verifier.secret));
        if (i < 4) calls.push(server.gql('{ auditEvents { totalCount } }', {}, key.secret));
      }
    }
    const answers = (await Promise.all(calls)) as Array<{ status: number; body: { data?: { verifyKey?: { code: string } } } }>;
    expect(answers.some((answer) => answer.status === 429)).toBe(true);
    expect(answers.some((answer) => answer.body.data?.verifyKey?.code === 'RATE_LIMITED')).toBe(true);
    expect(answers.some((answer) => answer.body.data?.verifyKey?.code === 'INSUFFICIENT_SCOPE')).toBe(true);
    // The folded refusals' summaries, then every event, written.
    server.app.services.ledger.closeRefusalWindows();
    await server.app.services.ledger.flush();

    const ids = [...keys.map((key) => key.id), verifier.id];
    const raw = await rawCounts(ids);
    expect(raw.summaries).toBeGreaterThan(0);
    const from = new Date(started - (started % MINUTE) - MINUTE);
    const to = new Date(Date.now() + MINUTE);
    const answer = await server.gql(KEY_USAGE, { keyIds: ids, from: from.toISOString(), to: to.toISOString(), granularity: 'MINUTE' });
    expect(answer.body.errors).toBeUndefined();
    const usage = answer.body.data.keyUsage as Array<{ keyId: string; total: Counts; buckets: Array<{ start: string; counts: Counts }>; lastUsedAt: string; lastIp: string }>;
    expect(usage.map((entry) => entry.keyId)).toEqual(ids);
    for (const entry of usage) {
      expect(entry.total).toEqual(raw.total.get(entry.keyId));
      expect(entry.lastUsedAt).toBe(new Date(raw.lastUsed.get(entry.keyId)!).toISOString());
      expect(entry.lastIp).toBe('127.0.0.1');
      for (const bucket of entry.buckets) {
        const unfolded = raw.perMinute.get(`${entry.keyId} ${Date.parse(bucket.start)}`) ?? zero();
        // Valid and denied are never folded: exact per minute from the rows; refusals folded away add to their minute only.
        expect([bucket.counts.valid, bucket.counts.denied]).toEqual([unfolded.valid, unfolded.denied]);
        expect(bucket.counts.rateLimited).toBeGreaterThanOrEqual(unfolded.rateLimited);
      }
    }
    const loaded = usage.slice(0, 4).map((entry) => entry.total);
    expect(loaded.every((total) => total.valid > 0 && total.rateLimited > 0 && total.denied > 0)).toBe(true);
    // Each key took 30 + 15 + 5 + 4 calls against its limit of 25: each counted once by outcome, except that an
    // own request refused for scope after it was admitted is an authenticated request (KEY_USED) and a denial both.
    expect(loaded.map((total) => total.valid + total.rateLimited + total.denied)).toEqual([58, 58, 58, 58]);

    // The hour and day rollups are the minutes folded.
    const hourly = await server.gql(KEY_USAGE, { keyIds: ids, from: from.toISOString(), to: to.toISOString(), granularity: 'HOUR' });
    const daily = await server.gql(KEY_USAGE, { keyIds: ids, from: from.toISOString(), to: to.toISOString(), granularity: 'DAY' });
    expect(hourly.body.data.keyUsage.map((entry: { total: Counts }) => entry.total)).toEqual(usage.map((entry) => entry.total));
    expect(daily.body.data.keyUsage.map((entry: { total: Counts }) => entry.total)).toEqual(usage.map((entry) => entry.total));
    // The minutes, as written, agree with the raw events; the hours and days hold what is folded (the minutes
    // before the current one) and the query adds the rest. Once a batch folds every minute, they agree too.
    expect(await tableTotals(server, USAGE_GRAINS[0].table, ids)).toEqual(ids.map((id) => raw.total.get(id)));
    await foldEverything(server);
    for (const grain of USAGE_GRAINS) expect(await tableTotals(server, grain.table, ids)).toEqual(ids.map((id) => raw.total.get(id)));
    const folded = await server.gql(KEY_USAGE, { keyIds: ids, from: from.toISOString(), to: to.toISOString(), granularity: 'HOUR' });
    expect(folded.body.data.keyUsage).toEqual(hourly.body.data.keyUsage);
    // Events after the fold (in minutes it already covers) go to the hours and days at once.
    const [first] = keys;
    expect((await server.gql('{ viewer { keyId } }', {}, verifier.secret)).status).toBe(200);
    expect((await server.gql(VERIFY, { key: first!.secret }, verifier.secret)).status).toBe(200);
    await server.app.services.ledger.flush();
    const after = await rawCounts(ids);
    for (const grain of USAGE_GRAINS) expect(await tableTotals(server, grain.table, ids)).toEqual(ids.map((id) => after.total.get(id)));
    const later = await server.gql(KEY_USAGE, { keyIds: ids, from: from.toISOString(), to: to.toISOString(), granularity: 'DAY' });
    expect(later.body.data.keyUsage.map((entry: { total: Counts }) => entry.total)).toEqual(ids.map((id) => after.total.get(id)));
  });

  it('puts each event in its UTC bucket and answers every bucket of the range, empty ones included', async () => {
    const key = await createKey(server, { merchantId: `m_buckets_${database}`, scopes: ['keys:read'] });
    const ledger = server.app.services.ledger;
    const day = Date.UTC(2026, 10, 20);
    const at = (hours: number, minutes: number) => new Date(day + hours * 3_600_000 + minutes * MINUTE);
    ledger.append({ type: 'KEY_USED', keyId: key.id, occurredAt: at(1, 5), ip: '10.0.0.1', metadata: { creditsSpent: 3 } });
    ledger.append({ type: 'KEY_USED', keyId: key.id, occurredAt: at(1, 59), ip: '10.0.0.2' });
    ledger.append({ type: 'ACCESS_DENIED', keyId: key.id, occurredAt: at(3, 0) });
    ledger.append({ type: 'USAGE_EXCEEDED', keyId: key.id, occurredAt: at(3, 1) });
    ledger.append({ type: 'KEY_USED', keyId: key.id, occurredAt: at(26, 0), ip: '10.0.0.3' });
    await ledger.flush();

    const hourly = await server.gql(KEY_USAGE, { keyIds: [key.id], from: at(0, 30).toISOString(), to: at(4, 0).toISOString() });
    const [usage] = hourly.body.data.keyUsage;
    expect(usage.buckets.map((bucket: { start: string }) => bucket.start)).toEqual([0, 1, 2, 3].map((h) => at(h, 0).toISOString()));
    expect(usage.buckets.map((bucket: { counts: Counts }) => [bucket.counts.valid, bucket.counts.denied, bucket.counts.usageExceeded, bucket.counts.creditsSpent])).toEqual([
      [0, 0, 0, 0],
      [2, 0, 0, 3],
      [0, 0, 0, 0],
      [0, 1, 1, 0],
    ]);
    // The last use ever, not only in the window.
    expect([usage.lastUsedAt, usage.lastIp]).toEqual([at(26, 0).toISOString(), '10.0.0.3']);

    const daily = await server.gql(KEY_USAGE, { keyIds: [key.id], from: at(-1, 0).toISOString(), to: at(48, 0).toISOString(), granularity: 'DAY' });
    expect(daily.body.data.keyUsage[0].buckets.map((bucket: { counts: Counts }) => bucket.counts.valid)).toEqual([0, 2, 1]);
    const minutes = await server.gql(KEY_USAGE, { keyIds: [key.id], from: at(1, 4).toISOString(), to: at(1, 6).toISOString(), granularity: 'MINUTE' });
    expect(minutes.body.data.keyUsage[0].buckets.map((bucket: { counts: Counts }) => bucket.counts.valid)).toEqual([0, 1]);
  });
});

/** A batch of no events that folds every minute up to the one after next into the hours and days. */
async function foldEverything(server: TestServer): Promise<void> {
  const db = server.app.services.db;
  const writer = db.dialect === 'sqlite' ? new ThreadBatchWriter(db.file!) : new PostgresBatchWriter(db);
  await writer.write([], new Map(), new UsageRollup(Date.now() + 2 * MINUTE));
  await writer.close();
}

/** Per key, the sums of a rollup table's counts. */
async function tableTotals(server: TestServer, table: string, keyIds: string[]): Promise<Counts[]> {
  const db = server.app.services.db;
  const schema = db.dialect === 'postgresql' ? `"${db.orm.config.get('schema')}".` : '';
  const sums = USAGE_COUNT_COLUMNS.map((column) => `sum(${column}) as ${column}`).join(', ');
  const rows = await db
    .fork()
    .execute<Array<Record<string, string | number>>>(`select key_id, ${sums} from ${schema}${table} where key_id in (${keyIds.map(() => '?').join(', ')}) group by key_id`, keyIds);
  const byKey = new Map(rows.map((row) => [row.key_id, row]));
  return keyIds.map((id) => {
    const row = byKey.get(id);
    return { valid: Number(row?.valid ?? 0), rateLimited: Number(row?.rate_limited ?? 0), usageExceeded: Number(row?.usage_exceeded ?? 0), denied: Number(row?.denied ?? 0), creditsSpent: Number(row?.credits_spent ?? 0) };
  });
}
