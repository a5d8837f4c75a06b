import type { FilterQuery } from '@mikro-orm/core';
import type { Database } from '../db/orm.js';
import { AuditEventEntity } from './audit-event.entity.js';
import { whereOf, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';
import { toRecord } from './event-row.js';

export type EventOrder = 'ASC' | 'DESC';

/**
 * Reads of the ledger, with no notion of who is asking: tenancy is applied by the
 * callers (AuditService, AuditFeed) through the selector they pass.
 */
export class AuditStore {
  constructor(private readonly db: Database) {}

  /** The highest id written so far, "0" on an empty ledger. */
  async maxId(): Promise<string> {
    const [row] = await this.db.fork().find(AuditEventEntity, {}, { orderBy: { id: 'desc' }, limit: 1, fields: ['id'] });
    return row ? String(row.id) : '0';
  }

  /** Every event (no selector) with an id above `after`, oldest first: what the feed sequencer reads. */
  async since(after: string, limit: number): Promise<AuditEventRecord[]> {
    const rows = await this.db.fork().find(AuditEventEntity, { id: { $gt: after } }, { orderBy: { id: 'asc' }, limit });
    return rows.map(toRecord);
  }

  /** Selected events with `after < id ≤ until`, oldest first: one page of a subscriber's catch-up. */
  async range(selector: EventSelector, after: string, until: string, limit: number): Promise<AuditEventRecord[]> {
    const where = { $and: [whereOf(selector), { id: { $gt: after, $lte: until } }] } as FilterQuery<AuditEventEntity>;
    const rows = await this.db.fork().find(AuditEventEntity, where, { orderBy: { id: 'asc' }, limit });
    return rows.map(toRecord);
  }

  /** One page for the auditEvents connection, plus the selector's total. */
  async page(
    selector: EventSelector,
    order: EventOrder,
    after: string | null,
    limit: number,
  ): Promise<{ rows: AuditEventRecord[]; totalCount: number }> {
    const em = this.db.fork();
    const where = whereOf(selector);
    const totalCount = await em.count(AuditEventEntity, where);
    const cursor = after === null ? {} : { id: order === 'ASC' ? { $gt: after } : { $lt: after } };
    const rows = await em.find(AuditEventEntity, { $and: [where, cursor] } as FilterQuery<AuditEventEntity>, {
      orderBy: { id: order === 'ASC' ? 'asc' : 'desc' },
      limit,
    });
    return { rows: rows.map(toRecord), totalCount };
  }
}
