// This module is also loaded by the SQLite ledger's worker, which the tests run from this
// TypeScript source with Node's own type stripping: it keeps to erasable syntax, and its
// relative imports carry their `.ts` names (rewritten to `.js` on build).
import { quoted, type EventDialect } from './event-columns.ts';

/**
 * The grains keyUsage answers in: each a table of counts per key and bucket (the bucket's start,
 * UTC-aligned, in epoch ms), and the most buckets one query may ask for (contract §9.3).
 *
 * Each ledger batch adds its counts to the minute table in its own transaction. Hours and days
 * are the minutes folded: a batch that finds the fold behind the current minute folds the closed
 * minutes into them (one INSERT … SELECT per grain) and moves `folded_until`, in the same
 * transaction; a batch's cells older than `folded_until` (a late event) go to the hours and days
 * at once. A query reads the hour or day table before `folded_until` and sums the minutes after
 * it, in one statement (one snapshot): so every grain always agrees with the ledger, and a batch
 * writes one upsert per key and minute instead of three.
 */
export const USAGE_GRAINS = [
  { granularity: 'MINUTE', table: 'key_usage_minute', ms: 60_000, maxBuckets: 1_440 },
  { granularity: 'HOUR', table: 'key_usage_hour', ms: 3_600_000, maxBuckets: 744 },
  { granularity: 'DAY', table: 'key_usage_day', ms: 86_400_000, maxBuckets: 400 },
] as const;

/** One row: the minute up to which (exclusive, epoch ms) the minutes are folded into hours and days. */
export const USAGE_FOLD_TABLE = 'key_usage_fold';

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
 * Credits a KEY_USED spent: `metadata.creditsSpent` (a positive whole number, written by
 * throttle/credits.ts) where the event records one, else 0. Refusals spend nothing (contract §9.1).
 */
export function creditsOf(event: UsageEvent): number {
  const cost = event.type === 'KEY_USED' ? event.metadata?.creditsSpent : undefined;
  return typeof cost === 'number' && Number.isSafeInteger(cost) && cost > 0 ? cost : 0;
}

interface Cell {
  keyId: string;
  bucket: number;
  counts: number[];
}

/** A cell's counts before anything is counted: one 0 per USAGE_COUNTS. */
const NO_COUNTS: readonly number[] = USAGE_COUNTS.map(() => 0);

/**
 * Usage counts per key and minute, gathered for one ledger batch, and the minute up to which the
 * batch folds (the start of the current minute: later events may still come for it).
 * The ledger counts every row it writes, except the summaries of folded refusals: each refusal
 * folded into a summary was counted when it came (see `Ledger.append`), so counts are exact
 * per minute whatever the folding does, and current within one flush.
 */
export class UsageRollup {
  /**
   * The cells by minute, then by key (no string key to build per event: a batch's events fall in
   * a minute or two), and in the order they were first counted, which is the order they are written in.
   */
  private readonly byMinute = new Map<number, Map<string, Cell>>();
  private readonly cells: Cell[] = [];
  foldUntil: number;

  constructor(now = Date.now()) {
    this.foldUntil = now - (now % 60_000);
  }

  get empty(): boolean {
    return this.cells.length === 0;
  }

  /** Counts one event that happened at `at` (epoch ms); events about no key, or not counted, add nothing. */
  count(event: UsageEvent, at: number): void {
    const index = COUNTED[event.type];
    if (index === undefined || !event.keyId || event.metadata?.summary === true) return;
    const { counts } = this.cell(event.keyId, at - (at % 60_000));
    counts[index]! += 1;
    counts[4]! += creditsOf(event);
  }

  /** Adds another rollup's counts to this one (the other is left as it was). */
  merge(other: UsageRollup): void {
    for (const from of other.cells) {
      const { counts } = this.cell(from.keyId, from.bucket);
      for (let i = 0; i < counts.length; i += 1) counts[i]! += from.counts[i]!;
    }
  }

  /** The minute cells as one flat array of CELL_WIDTH-tuples, ready to bind (and cheap to send to a thread). */
  cellValues(): unknown[] {
    const values: unknown[] = [];
    for (const { keyId, bucket, counts } of this.cells) {
      values.push(keyId, bucket);
      for (let i = 0; i < counts.length; i += 1) values.push(counts[i]);
    }
    return values;
  }

  private cell(keyId: string, bucket: number): Cell {
    let minute = this.byMinute.get(bucket);
    if (!minute) this.byMinute.set(bucket, (minute = new Map()));
    let cell = minute.get(keyId);
    if (!cell) {
      cell = { keyId, bucket, counts: NO_COUNTS.slice() };
      minute.set(keyId, cell);
      this.cells.push(cell);
    }
    return cell;
  }
}

/** Minute cells summed into the buckets of a coarser grain (one tuple per key and bucket, as an upsert of many rows needs). */
export function foldCells(minutes: readonly unknown[], ms: number, before = Infinity): unknown[] {
  const folded = new Map<string, number[]>();
  const values: unknown[] = [];
  for (let at = 0; at < minutes.length; at += CELL_WIDTH) {
    const minute = minutes[at + 1] as number;
    if (minute >= before) continue;
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
export function upsertCellsSql(dialect: EventDialect, table: string, rows: number, minutes = false): string {
  const q = (name: string) => quoted(dialect, name);
  const columns = ['key_id', 'bucket', ...USAGE_COUNT_COLUMNS].map(q).join(', ');
  const row = `(${Array.from({ length: CELL_WIDTH }, () => '?').join(', ')})`;
  const adds = USAGE_COUNT_COLUMNS.map((name) => `${q(name)} = ${q('u')}.${q(name)} + excluded.${q(name)}`).join(', ');
  // The conflict target names the primary key's columns in its order (minutes: by minute, then key).
  const conflict = (minutes ? ['bucket', 'key_id'] : ['key_id', 'bucket']).map(q).join(', ');
  return `insert into ${table} as ${q('u')} (${columns}) values ${Array.from({ length: rows }, () => row).join(', ')} on conflict (${conflict}) do update set ${adds}`;
}

/** The SQL of the fold (see USAGE_GRAINS), `table` quoting and schema-qualifying a table name. */
export function foldSql(dialect: EventDialect, table: (name: string) => string) {
  const q = (name: string) => quoted(dialect, name);
  const adds = USAGE_COUNT_COLUMNS.map((name) => `${q(name)} = ${q('u')}.${q(name)} + excluded.${q(name)}`).join(', ');
  const columns = ['key_id', 'bucket', ...USAGE_COUNT_COLUMNS].map(q).join(', ');
  const sums = USAGE_COUNT_COLUMNS.map((name) => `sum(${q(name)})`).join(', ');
  const [minute, ...coarser] = USAGE_GRAINS;
  return {
    watermark: `select ${q('folded_until')} as ${q('folded_until')} from ${table(USAGE_FOLD_TABLE)} where ${q('id')} = 1`,
    advance: `update ${table(USAGE_FOLD_TABLE)} set ${q('folded_until')} = ? where ${q('id')} = 1`,
    /** Per coarser grain: adds the minutes in [?, ?) to it. */
    fold: coarser.map((grain) => {
      const start = `${q('bucket')} - (${q('bucket')} % ${grain.ms})`;
      return `insert into ${table(grain.table)} as ${q('u')} (${columns}) select ${q('key_id')}, ${start}, ${sums} from ${table(minute.table)} where ${q('bucket')} >= ? and ${q('bucket')} < ? group by ${q('key_id')}, ${start} on conflict (${q('key_id')}, ${q('bucket')}) do update set ${adds}`;
    }),
  };
}
