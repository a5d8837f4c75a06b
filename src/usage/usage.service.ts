import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import { quoted } from '../audit/event-columns.js';
import { USAGE_COUNT_COLUMNS, USAGE_COUNTS, USAGE_GRAINS, USAGE_LAST_TABLE } from '../audit/usage-rollup.js';
import type { Database, Em } from '../db/orm.js';
import { BadUserInputError, NotFoundError, type InputProblem } from '../errors.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
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

  async keyUsage(actor: Actor, query: UsageQuery): Promise<KeyUsageView[]> {
    const grain = USAGE_GRAINS.find((candidate) => candidate.granularity === query.granularity)!;
    const problems = usageQueryProblems(query, grain);
    if (problems.length > 0) throw new BadUserInputError(problems);
    if (query.keyIds.length === 0) return [];

    const em = this.db.fork();
    const keys = await em.find(ApiKeyEntity, { id: { $in: [...query.keyIds] } }, { fields: ['id', 'merchantId'] });
    // Tenancy as for apiKey: another merchant's key is refused (and recorded), a missing one is NOT_FOUND.
    for (const key of keys) this.policy.requireMerchant(actor, key.merchantId, 'keyUsage');
    if (keys.length < query.keyIds.length) throw new NotFoundError();

    const first = bucketStart(query.from.getTime(), grain.ms);
    const count = Math.ceil((query.to.getTime() - first) / grain.ms);
    const usage = new Map(query.keyIds.map((keyId) => [keyId, Array.from({ length: count }, zero)]));
    for (const row of await this.cells(em, grain.table, query.keyIds, first, query.to.getTime())) {
      const counts = usage.get(row.keyId)?.[(row.bucket - first) / grain.ms];
      if (counts) for (const name of USAGE_COUNTS) counts[name] += row.counts[name];
    }
    const lastUse = await this.lastUse(em, query.keyIds);
    return query.keyIds.map((keyId) => {
      const buckets = usage.get(keyId)!;
      const total = zero();
      for (const counts of buckets) for (const name of USAGE_COUNTS) total[name] += counts[name];
      const last = lastUse.get(keyId);
      return {
        keyId,
        total,
        buckets: buckets.map((counts, i) => ({ start: new Date(first + i * grain.ms), counts })),
        lastUsedAt: last ? new Date(last.at) : null,
        lastIp: last?.ip ?? null,
      };
    });
  }

  private async cells(em: Em, table: string, keyIds: readonly string[], from: number, to: number) {
    const q = (name: string) => quoted(this.db.dialect, name);
    const columns = ['key_id', 'bucket', ...USAGE_COUNT_COLUMNS].map(q).join(', ');
    const rows = await em.execute<Array<Record<string, string | number>>>(
      `select ${columns} from ${this.table(em, table)} where ${q('key_id')} in (${keyIds.map(() => '?').join(', ')}) and ${q('bucket')} >= ? and ${q('bucket')} < ?`,
      [...keyIds, from, to],
    );
    // PostgreSQL answers bigint columns as text.
    return rows.map((row) => ({
      keyId: String(row.key_id),
      bucket: Number(row.bucket),
      counts: Object.fromEntries(USAGE_COUNTS.map((name, i) => [name, Number(row[USAGE_COUNT_COLUMNS[i]!])])) as UsageCounts,
    }));
  }

  private async lastUse(em: Em, keyIds: readonly string[]): Promise<Map<string, { at: number; ip: string | null }>> {
    const q = (name: string) => quoted(this.db.dialect, name);
    const rows = await em.execute<Array<{ key_id: string; used_at: string | number; ip: string | null }>>(
      `select ${q('key_id')}, ${q('used_at')}, ${q('ip')} from ${this.table(em, USAGE_LAST_TABLE)} where ${q('key_id')} in (${keyIds.map(() => '?').join(', ')})`,
      [...keyIds],
    );
    return new Map(rows.map((row) => [row.key_id, { at: Number(row.used_at), ip: row.ip }]));
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
