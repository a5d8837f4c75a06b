import type { Logger } from 'pino';
import type { EventRow } from './event-columns.js';
import { unrecordable } from './event-row.js';
import type { BatchWriter } from './ledger-writer.js';
import { UsageRollup } from './usage-rollup.js';

/** Rows not written (from the first one not written on, in order), and why. */
export interface WriteFailure {
  rows: EventRow[];
  error: unknown;
}

/**
 * Writes a batch so that one row the database refuses does not hold up every row behind it.
 * A failed batch is probed: its first row alone (see `writeLone`) says whether the database
 * takes writes at all; if it does, the rest is written in halves, which finds the refused row
 * the same way. A database that is down costs three attempts per flush, whatever the batch size.
 */
export class BatchBisector {
  constructor(
    /** Writes rows in one transaction and publishes them; throws when the database refuses. */
    private readonly commit: (rows: EventRow[]) => Promise<void>,
    /** Asked for an empty write, to tell a database that is down from one that refuses a row. */
    private readonly writer: BatchWriter,
    private readonly logger: Logger,
  ) {}

  /** Writes rows in order; on failure, returns the rows from the first one not written on. Never throws. */
  async write(rows: EventRow[]): Promise<WriteFailure | null> {
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
      const first = await this.write(rest.slice(0, half));
      if (first) return { rows: [...first.rows, ...rest.slice(half)], error: first.error };
      return this.write(rest.slice(half));
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
      await this.writer.write([], new Map(), new UsageRollup());
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
}
