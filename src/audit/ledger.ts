import type { Logger } from 'pino';
import type { Database, Em } from '../db/orm.js';
import { AuditEventEntity } from './audit-event.entity.js';
import type { EventRow } from './event-columns.js';
import { toRecord, toRow } from './event-row.js';
import type { EventBus } from './event-bus.js';
import type { AuditEventRecord, NewAuditEvent } from './event-types.js';
import { LedgerBacklog } from './ledger-backlog.js';
import { BatchBisector } from './ledger-bisect.js';
import { PostgresBatchWriter } from './ledger-postgres.js';
import { RefusalCollapser } from './refusal-collapser.js';
import { ThreadBatchWriter } from './ledger-thread.js';
import { rollupOf, usageOf, type BatchWriter } from './ledger-writer.js';
import { UsageRollup } from './usage-rollup.js';

/** The ledger's counters, for the metrics. */
export interface LedgerStats {
  written: number;
  pending: number;
  flushes: number;
  lastFlushLagMs: number;
}

/** The batch writer for a database: a thread of its own on SQLite, the ORM's pool on PostgreSQL. */
function batchWriterFor(db: Database): BatchWriter {
  if (db.dialect !== 'sqlite') return new PostgresBatchWriter(db);
  if (!db.file) throw new Error('the SQLite ledger needs a database file');
  return new ThreadBatchWriter(db.file);
}

/**
 * The append-only event ledger.
 *
 * Lifecycle events go through `stage()` inside the transaction of the change they record
 * and are published by `publishCommitted()` after it commits. High-volume events (KEY_USED and the
 * refusals) go through `append()`: buffered and written in one transaction per flush, with
 * the keys' usage counters, so a request never waits for a synchronous write.
 */
export class Ledger {
  private readonly backlog: LedgerBacklog;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly writer: BatchWriter;
  private readonly bisector: BatchBisector;
  private readonly refusals: RefusalCollapser | null;
  /**
   * keyUsage counts of refusals folded away (§9.5) since the last batch: they have no row of
   * their own (their summary comes at the end of the window), so they are counted as they come
   * and ride with the next batch, keeping the rollups exact per minute and current within a flush.
   */
  private folded = new UsageRollup();
  /** The folded counts handed to the batch being written; cleared by the first commit that takes them. */
  private foldedInFlight: UsageRollup | null = null;
  readonly stats: LedgerStats;

  constructor(
    db: Database,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly flushMs: number,
    /** Unwritten events past which `full` holds (the service then refuses requests). */
    maxPending = 100_000,
    /**
     * How refusals anyone can cause are folded (contract §9.5): one AUTH_FAILED / RATE_LIMITED
     * row per address and reason per window, plus a summary. A window of 0 records each one.
     */
    refusalWindowMs = 60_000,
    private readonly maxBatch = 1_000,
  ) {
    this.writer = batchWriterFor(db);
    this.refusals = refusalWindowMs > 0 ? new RefusalCollapser((event) => this.enqueue(event), { windowMs: refusalWindowMs, maxGroups: 50_000 }) : null;
    this.backlog = new LedgerBacklog(logger, maxPending);
    this.bisector = new BatchBisector((rows) => this.commit(rows), this.writer, logger);
    const backlog = this.backlog;
    this.stats = {
      written: 0,
      flushes: 0,
      lastFlushLagMs: 0,
      get pending() {
        return backlog.buffered;
      },
    };
  }

  /** Persists events in the caller's transaction; returns the entities to pass to `publishCommitted()` after commit. */
  stage(em: Em, events: readonly NewAuditEvent[]): AuditEventEntity[] {
    const entities = events.map((event) => em.create(AuditEventEntity, toRow(event)));
    for (const entity of entities) em.persist(entity);
    return entities;
  }

  /** Publishes staged events once their transaction has committed. */
  publishCommitted(entities: readonly AuditEventEntity[]): void {
    this.stats.written += entities.length;
    this.bus.publishEvents(entities.map(toRecord));
  }

  /**
   * True while the events waiting for a write have reached their bound: the database has not
   * taken a batch for a while (down, locked, full). The service then refuses requests rather than
   * serve what it could not record, and the backlog stays bounded instead of growing until the
   * process runs out of memory and loses all of it. Events still appended meanwhile (by requests
   * already admitted) are kept: the bound only stops new work.
   */
  get full(): boolean {
    return this.backlog.full;
  }

  /** Events not yet written: buffered, and in the batch being written. */
  get unwritten(): number {
    return this.backlog.unwritten;
  }

  /** Queues an event for the next batched write (refusals folded as §9.5 says). Never throws and never waits. */
  append(event: NewAuditEvent): void {
    if (!this.refusals || this.stopped) this.enqueue(event);
    else if (!this.refusals.offer(event)) {
      this.folded.count(event, event.occurredAt?.getTime() ?? Date.now());
      if (!this.folded.empty) this.schedule(this.flushMs);
    }
  }

  /** Writes the summaries of refusals folded so far now, instead of at the end of their window. */
  closeRefusalWindows(): void {
    this.refusals?.flush();
  }

  private enqueue(event: NewAuditEvent): void {
    if (this.stopped) {
      // Shutdown stops the ledger after the server has drained, so this is a bug to see in the
      // logs, not a case to paper over: the database may already be closed.
      this.logger.error({ type: event.type, keyId: event.keyId, requestId: event.requestId }, 'event appended after the ledger stopped; not recorded');
      return;
    }
    this.backlog.push(toRow(event));
    if (this.backlog.buffered >= this.maxBatch) this.schedule(0);
    else this.schedule(this.flushMs);
  }

  private schedule(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
    this.timer.unref?.();
  }

  /** Writes everything buffered so far; resolves when it is committed and published. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBatches());
    return this.flushing;
  }

  private async writeBatches(): Promise<void> {
    while (this.backlog.buffered > 0 || !this.folded.empty) {
      this.foldedInFlight = this.folded;
      this.folded = new UsageRollup();
      const rows = this.backlog.take(this.maxBatch);
      // The bisector never throws: a failure is its answer.
      const failure = rows.length > 0 ? await this.bisector.write(rows) : await this.commitFoldedOnly();
      // Folded counts no commit took go back, to ride with the next batch.
      if (this.foldedInFlight) this.folded.merge(this.foldedInFlight);
      this.foldedInFlight = null;
      if (failure) {
        // Nothing is dropped: what was not written is retried later.
        this.backlog.putBack(failure.rows);
        this.logger.error({ err: failure.error, events: failure.rows.length }, 'ledger flush failed; will retry');
        if (this.stopped) throw failure.error;
        this.schedule(Math.max(this.flushMs, 500));
        return;
      }
      this.backlog.written();
    }
  }

  /** Folded refusals' counts with no row to ride with: a transaction of their own. */
  private async commitFoldedOnly(): Promise<{ rows: EventRow[]; error: unknown } | null> {
    try {
      await this.commit([]);
      return null;
    } catch (error) {
      return { rows: [], error };
    }
  }

  /** Writes rows in one transaction (with their rollups, and the folded counts not yet written), then counts and publishes them. */
  private async commit(rows: EventRow[]): Promise<void> {
    const started = Date.now();
    const ids = await this.writer.write(rows, usageOf(rows), rollupOf(rows, this.foldedInFlight));
    this.foldedInFlight = null;
    const records: AuditEventRecord[] = rows.map((row, i) => ({ id: ids[i]!, ...row }));
    this.stats.flushes += 1;
    this.stats.lastFlushLagMs = Date.now() - (rows[0]?.occurredAt.getTime() ?? started);
    this.stats.written += records.length;
    this.bus.publishEvents(records);
  }

  /** Flushes what is pending and stops accepting timers; used on shutdown. */
  async stop(): Promise<void> {
    // Folded refusals are written as summaries before the last flush: none is lost on shutdown.
    this.refusals?.stop();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await this.flush();
    } finally {
      await this.writer.close();
    }
  }
}
