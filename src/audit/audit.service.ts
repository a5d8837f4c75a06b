import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import type { Page } from '../db/page.js';
import { pageSize } from '../db/page.js';
import { BadUserInputError } from '../errors.js';
import { isKeyId } from '../keys/validation.js';
import type { AuditStore, EventOrder } from './audit-store.js';
import { parseEventId, typesOf, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';

/** What a reader asks for, as any front end hands it over. */
export interface AuditQuery {
  types?: readonly string[] | null;
  keyId?: string | null;
  merchantId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

/**
 * The audit ledger as readers see it: tenancy (a non-admin key sees its own merchant's
 * events only, whatever it asks for; asking for another merchant is FORBIDDEN, as for
 * apiKeys) and pages over the ledger. No GraphQL here.
 */
export class AuditService {
  constructor(
    private readonly store: AuditStore,
    private readonly policy: AccessPolicy,
  ) {}

  /**
   * Turns a reader's query into the selector it is allowed, its merchant as the access policy
   * confines it. `at` is where the query's fields sit in the caller's arguments (`filter.` for
   * the query, nothing for the subscription), for the field paths of input problems.
   */
  selector(actor: Actor, query: AuditQuery, operation: string, at = ''): EventSelector {
    const merchantId = this.policy.scopeQuery(actor, query.merchantId, operation, `${at}merchantId`);
    if (query.from && query.to && query.from > query.to) throw BadUserInputError.at(`${at}from`, 'from must not be after to.');
    const keyId = query.keyId ?? null;
    if (keyId !== null && !isKeyId(keyId)) throw BadUserInputError.at(`${at}keyId`, 'keyId is not a key id.');
    return { types: typesOf(query.types, `${at}types`), keyId, merchantId, from: query.from ?? null, to: query.to ?? null };
  }

  /**
   * A page of events, newest first unless `order` is ASC. The cursor of an edge is the
   * event's id, so the last id a monitor saw works both here and as a subscription's `after`.
   */
  async list(
    actor: Actor,
    query: AuditQuery,
    order: EventOrder | null | undefined,
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Page<AuditEventRecord>> {
    const size = pageSize(first, 50);
    const selector = this.selector(actor, query, 'auditEvents', 'filter.');
    const cursor = after == null ? null : parseEventId(after);
    const { rows, totalCount } = await this.store.page(selector, order ?? 'DESC', cursor, size + 1);
    return {
      items: rows.slice(0, size).map((node) => ({ cursor: node.id, node })),
      hasNextPage: rows.length > size,
      totalCount,
    };
  }
}
