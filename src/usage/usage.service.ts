import type BetterSqlite3 from 'better-sqlite3';
import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import { quoted } from '../audit/event-columns.js';
import { USAGE_COUNT_COLUMNS, USAGE_COUNTS, USAGE_FOLD_TABLE, USAGE_GRAINS } from '../audit/usage-rollup.js';
import type { Database, Em } from '../db/orm.js';
import { BadUserInputError, NotFoundError, type InputProblem } from '../errors.js';
import { isKeyId } from '../keys/validation.js';

/** The most keys one keyUsage call may ask about (contract §9.3). */
export const MAX_USAGE_KEYS = 100;

export type UsageGranularity = (typeof USAGE_GRAINS)[number]['granularity'];
export type UsageCounts = Record<(typeof USAGE_COUNTS)[number], number>;

export interface KeyUsageView {
  keyId: string;
  total: UsageCounts;
  buckets: Array<{ start: Date; counts: UsageCounts }>;
  lastUsedAt: Date | null;
  lastIp: string | null;
}

export interface UsageQuery {
  keyIds: readonly string[];
  from: Date;
  to: Date;
  granularity: UsageGranularity;
}

const zero = (): UsageCounts => ({ valid: 0, rateLimited: 0, usageExceeded: 0, denied: 0, creditsSpent: 0 });

/**
 * keyUsage: per-key counts by outcome over a window, read from the rollups the ledger writes
 * with each batch (never from the raw KEY_USED rows), one bucket per step, empty ones included.
 */
export class UsageService {
  constructor(
    private readonly db: Database,
    private readonly policy: AccessPolicy,
  ) {}

  /** Prepared reads by text, per SQLite handle (a closed handle's go with it). */
  private readonly statements = new WeakMap<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

  async keyUsage(actor: Actor, query: UsageQuery): Promise<KeyUsageView[]> {
    const grain = USAGE_GRAINS.find((candidate) => candidate.granularity === query.granularity)!;
    const problems = usageQueryProblems(query, grain);
    if (problems.length > 0) throw new BadUserInputError(problems);
    if (query.keyIds.length === 0) return [];

    const em = this.db.fork();
    const keys = await this.keys(em, query.keyIds);
    // Tenancy as for apiKey: another merchant's key is refused (and recorded), a missing one is NOT_FOUND.
    for (const key of keys.values()) this.policy.requireMerchant(actor, key.merchantId, 'keyUsage');
    if (keys.size < query.keyIds.length) throw new NotFoundError();

    const first = bucketStart(query.from.getTime(), grain.ms);
    const count = Math.ceil((query.to.getTime() - first) / grain.ms);
    // One Date per step, shared by every key's bucket of that step (nothing changes them).
    const starts = Array.from({ length: count }, (_, i) => new Date(first + i * grain.ms));
    const usage = new Map(query.keyIds.map((keyId) => [keyId, starts.map((start) => ({ start, counts: zero() }))]));
    for (const row of await this.cells(em, grain, query.keyIds, first, first + count * grain.ms)) {
      const counts = usage.get(String(row[0]))?.[(Number(row[1]) - first) / grain.ms]?.counts;
      // PostgreSQL answers bigint columns as text.
      if (counts) USAGE_COUNTS.forEach((name, i) => (counts[name] += Number(row[2 + i])));
    }
    return query.keyIds.map((keyId) => {
      const buckets = usage.get(keyId)!;
      const total = zero();
      for (const { counts } of buckets) for (const name of USAGE_COUNTS) total[name] += counts[name];
      const key = keys.get(keyId)!;
      return { keyId, total, buckets, lastUsedAt: key.lastUsedAt, lastIp: key.lastIp };
    });
  }

  /** The keys asked about: their merchant, and their last use (kept on the key by the ledger's batches). */
  private async keys(em: Em, keyIds: readonly string[]) {
    const q = (name: string) => quoted(this.db.dialect, name);
    const rows = (await this.rows(
      em,
      `select ${['id', 'merchant_id', 'last_used_at', 'last_ip'].map(q).join(', ')} from ${this.table(em, 'api_key')} where ${q('id')} in (${keyIds.map(() => '?').join(', ')})`,
      [...keyIds],
    )) as Array<[string, string, string | number | Date | null, string | null]>;
    // SQLite holds dates as epoch ms, PostgreSQL as timestamps.
    return new Map(
      rows.map(([id, merchantId, lastUsedAt, lastIp]) => [id, { merchantId, lastUsedAt: lastUsedAt === null ? null : new Date(Number(lastUsedAt) || lastUsedAt), lastIp }]),
    );
  }

  /**
   * The cells in [from, to) at the grain asked for: minutes as written; hours and days from their
   * table before the fold's mark and summed from the minutes after it, in one statement (one snapshot).
   * Each row: key id, bucket, then the counts in USAGE_COUNTS order.
   */
  private async cells(em: Em, grain: (typeof USAGE_GRAINS)[number], keyIds: readonly string[], from: number, to: number) {
    const q = (name: string) => quoted(this.db.dialect, name);
    const counts = USAGE_COUNT_COLUMNS.map(q).join(', ');
    const keys = `${q('key_id')} in (${keyIds.map(() => '?').join(', ')})`;
    const range = `${q('bucket')} >= ? and ${q('bucket')} < ?`;
    const minutes = this.table(em, USAGE_GRAINS[0].table);
    let sql = `select ${q('key_id')}, ${q('bucket')}, ${counts} from ${grain.ms === USAGE_GRAINS[0].ms ? minutes : this.table(em, grain.table)} where ${keys} and ${range}`;
    let params: unknown[] = [...keyIds, from, to];
    if (grain.ms !== USAGE_GRAINS[0].ms) {
      const mark = `(select ${q('folded_until')} from ${this.table(em, USAGE_FOLD_TABLE)} where ${q('id')} = 1)`;
      // The minutes after the mark are the ledger's last minute or so (each batch folds the ones
      // before its own): SQLite reads them by bucket, the first column of the minute table's
      // primary key, from the later of `from` and the mark (`+` keeps it off the (key_id, bucket)
      // index, a seek per key, most of the statement's time for 100 keys).
      const unfolded =
        this.db.dialect === 'sqlite'
          ? `+${keys} and ${q('bucket')} >= max(?, ${mark}) and ${q('bucket')} < ?`
          : `${keys} and ${range} and ${q('bucket')} >= ${mark}`;
      sql += ` and ${q('bucket')} < ${mark} union all select ${q('key_id')}, ${q('bucket')} - (${q('bucket')} % ${grain.ms}), ${counts} from ${minutes} where ${unfolded}`;
      params = [...params, ...params];
    }
    return this.rows(em, sql, params);
  }

  /**
   * A read's rows as arrays of their columns, in the order selected. On SQLite through the
   * connection's own better-sqlite3 handle, one prepared statement per text kept for the next
   * call: the ORM's `execute` inlines the parameters, prepares the text anew and builds an object
   * per row, several times the cost of the read itself for a keyUsage of 100 keys.
   */
  private async rows(em: Em, sql: string, params: unknown[]): Promise<unknown[][]> {
    if (this.db.dialect !== 'sqlite') return (await em.execute<Array<Record<string, unknown>>>(sql, params)).map((row) => Object.values(row));
    const native = (await em.getConnection().getNativeClient()) as BetterSqlite3.Database;
    let statements = this.statements.get(native);
    if (!statements) this.statements.set(native, (statements = new Map()));
    let statement = statements.get(sql);
    // Texts differ only by how many keys they list (up to MAX_USAGE_KEYS) and the grain: a few hundred at most.
    if (!statement) statements.set(sql, (statement = native.prepare(sql).raw(true)));
    return statement.all(params) as unknown[][];
  }

  /** The table in the schema the ORM was opened on (PostgreSQL tests give each server its own), quoted. */
  private table(em: Em, name: string): string {
    const schema = this.db.dialect === 'postgresql' ? em.config.get('schema') : undefined;
    return em.getPlatform().quoteIdentifier(schema ? `${schema}.${name}` : name);
  }
}

/** Every problem with a keyUsage query, each named by its argument. */
export function usageQueryProblems(query: UsageQuery, grain: (typeof USAGE_GRAINS)[number]): InputProblem[] {
  const problems: InputProblem[] = [];
  if (query.keyIds.length > MAX_USAGE_KEYS) problems.push({ field: 'keyIds', message: `keyIds may list at most ${MAX_USAGE_KEYS} keys.` });
  else if (query.keyIds.some((id) => !isKeyId(id))) problems.push({ field: 'keyIds', message: 'keyIds must list key ids.' });
  else if (new Set(query.keyIds).size < query.keyIds.length) problems.push({ field: 'keyIds', message: 'keyIds must not repeat a key.' });
  const from = query.from.getTime();
  const to = query.to.getTime();
  if (!(from < to)) problems.push({ field: 'to', message: 'to must be later than from.' });
  else {
    const buckets = Math.ceil((to - bucketStart(from, grain.ms)) / grain.ms);
    if (buckets > grain.maxBuckets)
      problems.push({ field: 'to', message: `A ${grain.granularity} range may span at most ${grain.maxBuckets} buckets; this one spans ${buckets}.` });
  }
  return problems;
}

/** The start of the UTC-aligned bucket of `ms` milliseconds that holds `at`. */
function bucketStart(at: number, ms: number): number {
  return Math.floor(at / ms) * ms;
}
