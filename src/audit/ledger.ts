import type { Logger } from 'pino';
import type { Database, Em } from '../db/orm.js';
import { AuditEventEntity } from './audit-event.entity.js';
import type { EventBus } from './event-bus.js';
import { batchWriterFor, type BatchWriter, type EventRow, type Usage } from './ledger-writer.js';
import type { AuditEventRecord, NewAuditEvent } from './event-types.js';

export function toRecord(entity: AuditEventEntity): AuditEventRecord {
  return {
    id: String(entity.id),
    type: entity.type,
    occurredAt: entity.occurredAt,
    merchantId: entity.merchantId ?? null,
    keyId: entity.keyId ?? null,
    actorKeyId: entity.actorKeyId ?? null,
    requestId: entity.requestId ?? null,
    operationName: entity.operationName ?? null,
    ip: entity.ip ?? null,
    reason: entity.reason ?? null,
    metadata: entity.metadata ?? null,
  };
}

/**
 * Text as every backend stores it. PostgreSQL's text types cannot hold NUL and its jsonb refuses
 * a lone surrogate, and one such row would fail its whole batch on every retry, holding up every
 * event behind it: an operation name sent over WebSocket is the client's own text. Both become
 * U+FFFD, on SQLite alike, so an event reads the same on every backend.
 */
export function storable(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

/** `storable` through a JSON value (names included); the same object back when nothing changed. */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storable(value) as T;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item: unknown, i) => {
      const clean = storableJson(item);
      if (clean !== item) (copy ??= [...value])[i] = clean;
    });
    return (copy ?? value) as T;
  }
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    let copy: Record<string, unknown> | null = null;
    for (const [name, item] of Object.entries(value)) {
      const cleanName = storable(name);
      const clean = storableJson(item);
      if (cleanName === name && clean === item) continue;
      copy ??= { ...(value as Record<string, unknown>) };
      if (cleanName !== name) delete copy[name];
      copy[cleanName] = clean;
    }
    return (copy ?? value) as T;
  }
  return value;
}

/** A free-text column: cut to its size and storable on every backend. */
const text = (value: string | null | undefined, max: number) => (value == null ? null : storable(value.slice(0, max)));

/**
 * The columns of one event. Ids and request ids are the service's own (validated on the way in);
 * the free-text columns, which can carry a client's text, are cut to their sizes and made storable.
 */
function toRow(event: NewAuditEvent): EventRow {
  return {
    type: event.type,
    occurredAt: event.occurredAt ?? new Date(),
    merchantId: event.merchantId ?? null,
    keyId: event.keyId ?? null,
    actorKeyId: event.actorKeyId ?? null,
    requestId: event.requestId ?? null,
    operationName: text(event.operationName, 200),
    ip: text(event.ip, 64),
    reason: text(event.reason, 500),
    metadata: event.metadata ? storableJson(event.metadata) : null,
  };
}

/** The columns of an event the database refused, without the text that may be why. */
export const UNRECORDABLE_REASON = 'stored without its details: the database refused the event as recorded';
function unrecordable(row: EventRow): EventRow {
  return { ...row, operationName: null, ip: null, reason: UNRECORDABLE_REASON, metadata: null };
}

/** KEY_USED counts and latest use per key, for the keys' usage counters. */
function usageOf(batch: readonly EventRow[]): Usage {
  const usage: Usage = new Map();
  for (const row of batch) {
    if (row.type !== 'KEY_USED' || !row.keyId) continue;
    const entry = usage.get(row.keyId);
    if (entry) {
      entry.count += 1;
      if (row.occurredAt > entry.last) entry.last = row.occurredAt;
    } else usage.set(row.keyId, { count: 1, last: row.occurredAt });
  }
  return usage;
}

function toEntity(em: Em, event: NewAuditEvent): AuditEventEntity {
  return em.create(AuditEventEntity, toRow(event));
}

export interface LedgerStats {
  written: number;
  pending: number;
  flushes: number;
  lastFlushLagMs: number;
}

/**
 * The append-only event ledger.
 *
 * Lifecycle events go through `stage()` inside the transaction of the change they record
 * and are published by `published()` after it commits. High-volume events (KEY_USED and the
 * refusals) go through `append()`: buffered and written in one transaction per flush, with
 * the keys' usage counters, so a request never waits for a synchronous write.
 */
export class Ledger {
  /** Rows as they will be written, in append order. */
  private buffer: EventRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Set while the backlog is at its bound, so that reaching and leaving it are logged once each. */
  private saturated = false;
  /** Rows handed to the writer and not yet written (the batch in flight). */
  private writing = 0;
  private readonly writer: BatchWriter;
  readonly stats: LedgerStats;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly flushMs: number,
    /** Unwritten events past which `full` holds (the service then refuses requests). */
    private readonly maxPending = 100_000,
    private readonly maxBatch = 1_000,
  ) {
    this.writer = batchWriterFor(db);
    const buffer = () => this.buffer;
    this.stats = {
      written: 0,
      flushes: 0,
      lastFlushLagMs: 0,
      get pending() {
        return buffer().length;
      },
    };
  }

  /** Persists events in the caller's transaction; returns the entities to pass to `published()` after commit. */
  stage(em: Em, events: readonly NewAuditEvent[]): AuditEventEntity[] {
    const entities = events.map((event) => toEntity(em, event));
    for (const entity of entities) em.persist(entity);
    return entities;
  }

  /** Publishes staged events once their transaction has committed. */
  published(entities: readonly AuditEventEntity[]): void {
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
    return this.unwritten >= this.maxPending;
  }

  /** Events not yet written: buffered, and in the batch being written. */
  get unwritten(): number {
    return this.buffer.length + this.writing;
  }

  /** Queues an event for the next batched write. Never throws and never waits. */
  append(event: NewAuditEvent): void {
    if (this.stopped) {
      // Shutdown stops the ledger after the server has drained, so this is a bug to see in the
      // logs, not a case to paper over: the database may already be closed.
      this.logger.error({ type: event.type, keyId: event.keyId, requestId: event.requestId }, 'event appended after the ledger stopped; not recorded');
      return;
    }
    this.buffer.push(toRow(event));
    if (!this.saturated && this.full) {
      this.saturated = true;
      this.logger.error({ unwritten: this.unwritten }, 'audit ledger backlog full: refusing requests until the database takes writes again');
    }
    if (this.buffer.length >= this.maxBatch) this.schedule(0);
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
    this.flushing = this.flushing.then(() => this.writeBatch());
    return this.flushing;
  }

  private async writeBatch(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.maxBatch);
      this.writing = batch.length;
      // writeInParts never throws: a failure is its answer.
      const failure = await this.writeInParts(batch);
      if (failure) {
        // Nothing is dropped: what was not written goes back to the front and is retried later
        // (moved back before the batch stops counting as in flight, so `unwritten` never dips).
        this.buffer.unshift(...failure.rows);
        this.writing = 0;
        this.logger.error({ err: failure.error, events: failure.rows.length }, 'ledger flush failed; will retry');
        if (this.stopped) throw failure.error;
        this.schedule(Math.max(this.flushMs, 500));
        return;
      }
      this.writing = 0;
      if (this.saturated && !this.full) {
        this.saturated = false;
        this.logger.info({ unwritten: this.unwritten }, 'audit ledger backlog below its bound again: serving requests');
      }
    }
  }

  /**
   * Writes rows in order and publishes them; on failure, returns the rows from the first one not
   * written on. One row the database refuses must not hold up every row behind it, so a failed
   * batch is probed: its first row alone (see `writeLone`) says whether the database takes writes
   * at all; if it does, the rest is written in halves, which finds the refused row the same way.
   * A database that is down costs three attempts per flush, whatever the batch size.
   */
  private async writeInParts(rows: EventRow[]): Promise<{ rows: EventRow[]; error: unknown } | null> {
    if (rows.length === 0) return null;
    try {
      await this.commit(rows);
      return null;
    } catch (error) {
      // A lone row has just been tried alone: go straight to telling why it failed.
      const head = rows.length === 1 ? await this.refusedOrDown(rows[0]!, error) : await this.writeLone(rows[0]!, error);
      if (head) return { rows, error: head.error };
      const rest = rows.slice(1);
      const half = Math.ceil(rest.length / 2);
      const first = await this.writeInParts(rest.slice(0, half));
      if (first) return { rows: [...first.rows, ...rest.slice(half)], error: first.error };
      return this.writeInParts(rest.slice(half));
    }
  }

  /** Writes one row; when that fails, `refusedOrDown` tells why. */
  private async writeLone(row: EventRow, batchError: unknown): Promise<{ error: unknown } | null> {
    try {
      await this.commit([row]);
      return null;
    } catch (error) {
      return this.refusedOrDown(row, batchError, error);
    }
  }

  /**
   * After one row failed alone: if the database takes no write at all (an empty transaction fails
   * too), it is down, locked or full, and the failure is returned for a later attempt. Otherwise
   * the row is tried once more, then once without its free-text details (operation name,
   * address, reason, metadata): the database took a write and refused this row twice, so the
   * event stays in the ledger, marked, and the refusal is logged. If that fails too, the failure
   * is returned.
   */
  private async refusedOrDown(row: EventRow, batchError: unknown, rowError: unknown = batchError): Promise<{ error: unknown } | null> {
    try {
      await this.writer.write([], new Map());
    } catch {
      return { error: batchError };
    }
    try {
      await this.commit([row]);
      return null;
    } catch {
      // Refused again by a database that takes writes.
    }
    try {
      await this.commit([unrecordable(row)]);
    } catch (refused) {
      return { error: refused };
    }
    this.logger.error(
      { err: rowError, type: row.type, keyId: row.keyId, requestId: row.requestId },
      'the database refused a ledger event; stored without its free-text details',
    );
    return null;
  }

  private async commit(rows: EventRow[]): Promise<void> {
    const started = Date.now();
    const ids = await this.writer.write(rows, usageOf(rows));
    const records: AuditEventRecord[] = rows.map((row, i) => ({ id: ids[i]!, ...row }));
    this.stats.flushes += 1;
    this.stats.lastFlushLagMs = Date.now() - (rows[0]?.occurredAt.getTime() ?? started);
    this.stats.written += records.length;
    this.bus.publishEvents(records);
  }

  /** Flushes what is pending and stops accepting timers; used on shutdown. */
  async stop(): Promise<void> {
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
