// This module is also loaded by the SQLite ledger's worker, which the tests run from this
// TypeScript source with Node's own type stripping: it keeps to erasable syntax, and its
// relative imports carry their `.ts` names (rewritten to `.js` on build).
import { quoted, type EventDialect } from './event-columns.ts';

/**
 * The grains keyUsage answers in: each a table of counts per key and bucket (the bucket's start,
 * UTC-aligned, in epoch ms), written in the ledger's batch transaction, and the most buckets
 * one query may ask for (contract §9.3).
 */
export const USAGE_GRAINS = [
  { granularity: 'MINUTE', table: 'key_usage_minute', ms: 60_000, maxBuckets: 1_440 },
  { granularity: 'HOUR', table: 'key_usage_hour', ms: 3_600_000, maxBuckets: 744 },
  { granularity: 'DAY', table: 'key_usage_day', ms: 86_400_000, maxBuckets: 400 },
] as const;

/** Each key's last use (time and address of its latest KEY_USED). */
export const USAGE_LAST_TABLE = 'key_usage_last';

/** How long the rollups are kept, whatever AUDIT_RETENTION_DAYS does to the raw events. */
export const USAGE_RETENTION_DAYS = 400;

/** The counts of a bucket, in the order of every cell tuple and of the tables' count columns. */
export const USAGE_COUNTS = ['valid', 'rateLimited', 'usageExceeded', 'denied', 'creditsSpent'] as const;
export const USAGE_COUNT_COLUMNS = ['valid', 'rate_limited', 'usage_exceeded', 'denied', 'credits_spent'] as const;

/** One cell as the writers bind it: key id, bucket start, then the counts. */
export const CELL_WIDTH = 2 + USAGE_COUNTS.length;

/**
 * Which count an event adds one to (the index in USAGE_COUNTS). A key's usage is its own
 * requests and the verifications of it: KEY_USED either way; `denied` is ACCESS_DENIED (scopes,
 * another merchant, IP_NOT_ALLOWED). Types are matched as strings, so USAGE_EXCEEDED counts as
 * soon as the credits work records it.
 */
const COUNTED: Readonly<Record<string, number>> = { KEY_USED: 0, RATE_LIMITED: 1, USAGE_EXCEEDED: 2, ACCESS_DENIED: 3 };

/** What the rollup reads of an event (a row about to be written, or a refusal folded away). */
export interface UsageEvent {
  type: string;
  keyId?: string | null;
  ip?: string | null;
  metadata?: Record<string, unknown> | null;
}

/**
 * Credits a KEY_USED spent: `metadata.cost` (a non-negative whole number) where the event
 * records one, else 0. Refusals spend nothing (contract §9.1).
 */
export function creditsOf(event: UsageEvent): number {
  const cost = event.type === 'KEY_USED' ? event.metadata?.cost : undefined;
  return typeof cost === 'number' && Number.isSafeInteger(cost) && cost > 0 ? cost : 0;
}

/**
 * Usage counts per key and minute, and each key's latest use, gathered for one ledger batch.
 * The ledger counts every row it writes, except the summaries of folded refusals: each refusal
 * folded into a summary was counted when it came (see `Ledger.append`), so counts are exact
 * per minute whatever the folding does, and current within one flush.
 */
export class UsageRollup {
  private readonly cells = new Map<string, { keyId: string; bucket: number; counts: number[] }>();
  private readonly lastUse = new Map<string, { at: number; ip: string | null }>();

  get empty(): boolean {
    return this.cells.size === 0;
  }

  /** Counts one event that happened at `at` (epoch ms); events about no key, or not counted, add nothing. */
  count(event: UsageEvent, at: number): void {
    const index = COUNTED[event.type];
    if (index === undefined || !event.keyId || event.metadata?.summary === true) return;
    const { counts } = this.cell(event.keyId, at - (at % 60_000));
    counts[index]! += 1;
    counts[4]! += creditsOf(event);
    if (index !== 0) return;
    const last = this.lastUse.get(event.keyId);
    if (!last || at >= last.at) this.lastUse.set(event.keyId, { at, ip: event.ip ?? null });
  }

  /** Adds another rollup's counts to this one (the other is left as it was). */
  merge(other: UsageRollup): void {
    for (const from of other.cells.values()) {
      const { counts } = this.cell(from.keyId, from.bucket);
      from.counts.forEach((count, i) => (counts[i]! += count));
    }
    for (const [keyId, use] of other.lastUse) {
      const last = this.lastUse.get(keyId);
      if (!last || use.at >= last.at) this.lastUse.set(keyId, use);
    }
  }

  /** The minute cells as one flat array of CELL_WIDTH-tuples, ready to bind (and cheap to send to a thread). */
  cellValues(): unknown[] {
    const values: unknown[] = [];
    for (const { keyId, bucket, counts } of this.cells.values()) values.push(keyId, bucket, ...counts);
    return values;
  }

  /** The latest uses as (key id, epoch ms, address) triples. */
  lastUseValues(): unknown[] {
    const values: unknown[] = [];
    for (const [keyId, { at, ip }] of this.lastUse) values.push(keyId, at, ip);
    return values;
  }

  private cell(keyId: string, bucket: number): { keyId: string; bucket: number; counts: number[] } {
    const id = `${keyId} ${bucket}`;
    let cell = this.cells.get(id);
    if (!cell) this.cells.set(id, (cell = { keyId, bucket, counts: USAGE_COUNTS.map(() => 0) }));
    return cell;
  }
}

/** Minute cells summed into the buckets of a coarser grain (one tuple per key and bucket, as an upsert of many rows needs). */
export function foldCells(minutes: readonly unknown[], ms: number): unknown[] {
  if (ms === 60_000) return minutes as unknown[];
  const folded = new Map<string, number[]>();
  const values: unknown[] = [];
  for (let at = 0; at < minutes.length; at += CELL_WIDTH) {
    const minute = minutes[at + 1] as number;
    const bucket = minute - (minute % ms);
    const id = `${minutes[at] as string} ${bucket}`;
    let counts = folded.get(id);
    if (!counts) {
      counts = USAGE_COUNTS.map(() => 0);
      folded.set(id, counts);
      values.push(minutes[at], bucket, counts);
    }
    for (let i = 0; i < USAGE_COUNTS.length; i += 1) counts[i]! += minutes[at + 2 + i] as number;
  }
  // Each cell's counts were gathered in place; spread them now, in order.
  return values.flatMap((value) => (Array.isArray(value) ? value : [value]));
}

/** `insert … on conflict do update` adding `rows` cells' counts to a rollup table (`table` quoted, schema-qualified where needed). */
export function upsertCellsSql(dialect: EventDialect, table: string, rows: number): string {
  const q = (name: string) => quoted(dialect, name);
  const columns = ['key_id', 'bucket', ...USAGE_COUNT_COLUMNS].map(q).join(', ');
  const row = `(${Array.from({ length: CELL_WIDTH }, () => '?').join(', ')})`;
  const adds = USAGE_COUNT_COLUMNS.map((name) => `${q(name)} = ${q('u')}.${q(name)} + excluded.${q(name)}`).join(', ');
  return `insert into ${table} as ${q('u')} (${columns}) values ${Array.from({ length: rows }, () => row).join(', ')} on conflict (${q('key_id')}, ${q('bucket')}) do update set ${adds}`;
}

/** `insert … on conflict do update` of `rows` latest uses, each kept only if it is later than the stored one. */
export function upsertLastUseSql(dialect: EventDialect, table: string, rows: number): string {
  const q = (name: string) => quoted(dialect, name);
  const values = Array.from({ length: rows }, () => '(?, ?, ?)').join(', ');
  return `insert into ${table} as ${q('u')} (${q('key_id')}, ${q('used_at')}, ${q('ip')}) values ${values} on conflict (${q('key_id')}) do update set ${q('used_at')} = excluded.${q('used_at')}, ${q('ip')} = excluded.${q('ip')} where excluded.${q('used_at')} >= ${q('u')}.${q('used_at')}`;
}
