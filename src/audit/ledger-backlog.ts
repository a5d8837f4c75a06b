import type { Logger } from 'pino';
import type { EventRow } from './event-columns.js';

/**
 * The ledger's events not yet written, in append order, and the back-pressure they exert: past
 * `maxPending` the backlog is `full`, reaching and leaving that bound each logged once.
 */
export class LedgerBacklog {
  /** Rows as they will be written, in append order. */
  private rows: EventRow[] = [];
  /** Rows handed to the writer and not yet written (the batch in flight). */
  private writing = 0;
  /** Set while the backlog is at its bound, so that reaching and leaving it are logged once each. */
  private saturated = false;

  constructor(
    private readonly logger: Logger,
    private readonly maxPending: number,
  ) {}

  /** Rows waiting for a batch (not counting the batch in flight). */
  get buffered(): number {
    return this.rows.length;
  }

  /** Events not yet written: buffered, and in the batch being written. */
  get unwritten(): number {
    return this.rows.length + this.writing;
  }

  /** True while the unwritten events have reached their bound (see `Ledger.full`). */
  get full(): boolean {
    return this.unwritten >= this.maxPending;
  }

  /** Adds a row. Never refuses one: the bound only stops new work (see `Ledger.full`). */
  push(row: EventRow): void {
    this.rows.push(row);
    if (!this.saturated && this.full) {
      this.saturated = true;
      this.logger.error({ unwritten: this.unwritten }, 'audit ledger backlog full: refusing requests until the database takes writes again');
    }
  }

  /** The next batch, at most `max` rows, now in flight. */
  take(max: number): EventRow[] {
    const batch = this.rows.splice(0, max);
    this.writing = batch.length;
    return batch;
  }

  /**
   * The batch in flight did not all go in: `rows`, what was not written, goes back to the front
   * (moved back before the batch stops counting as in flight, so `unwritten` never dips).
   */
  putBack(rows: readonly EventRow[]): void {
    this.rows.unshift(...rows);
    this.writing = 0;
  }

  /** The batch in flight is written. */
  written(): void {
    this.writing = 0;
    if (this.saturated && !this.full) {
      this.saturated = false;
      this.logger.info({ unwritten: this.unwritten }, 'audit ledger backlog below its bound again: serving requests');
    }
  }
}
