import type { FilterQuery } from '@mikro-orm/core';
import { SYSTEM_ACTOR } from '../auth/principal.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { keyEvent } from './key-events.js';
import type { KeyTransaction } from './key-transaction.js';

export interface ExpirySweeperOptions {
  /** Seconds before expiresAt at which KEY_EXPIRING is written; 0 writes none. */
  noticeSeconds?: number;
  /** The sweeper's clock (tests move it). */
  now?: () => Date;
}

/**
 * Records each key's expiry once, as KEY_EXPIRED, and the notice ahead of it once, as
 * KEY_EXPIRING, on whichever instance sweeps first: each is claimed with a conditional update
 * of the key's own column, so neither a second instance nor a restart writes it again.
 */
export class ExpirySweeper {
  private readonly noticeMs: number;
  private readonly now: () => Date;

  constructor(
    private readonly transaction: KeyTransaction,
    options: ExpirySweeperOptions = {},
  ) {
    this.noticeMs = (options.noticeSeconds ?? 0) * 1_000;
    this.now = options.now ?? (() => new Date());
  }

  /** Both sweeps; resolves to how many events each wrote. */
  async sweep(limit = 500): Promise<{ expired: number; expiring: number }> {
    return { expired: await this.recordExpiries(limit), expiring: await this.recordNotices(limit) };
  }

  /** Writes KEY_EXPIRED once for each key whose expiry has passed; returns how many. */
  async recordExpiries(limit = 500): Promise<number> {
    const now = this.now();
    const dueWhere: FilterQuery<ApiKeyEntity> = { expiresAt: { $lte: now }, expiryRecordedAt: null };
    return this.claim(dueWhere, 'expiryRecordedAt', now, limit, (entity) => keyEvent('KEY_EXPIRED', SYSTEM_ACTOR, entity, { reason: 'expired' }), true);
  }

  /**
   * Writes KEY_EXPIRING once for each key that expires within the notice period and has not
   * expired yet. A revoked key is claimed without an event: it will never be used again, and
   * claiming it keeps it out of every later sweep.
   */
  async recordNotices(limit = 500): Promise<number> {
    if (this.noticeMs <= 0) return 0;
    const now = this.now();
    const dueWhere: FilterQuery<ApiKeyEntity> = { expiresAt: { $gt: now, $lte: new Date(now.getTime() + this.noticeMs) }, expiryNoticeAt: null };
    return this.claim(
      dueWhere,
      'expiryNoticeAt',
      now,
      limit,
      (entity) =>
        entity.status === 'REVOKED'
          ? null
          : keyEvent('KEY_EXPIRING', SYSTEM_ACTOR, entity, { metadata: { expiresAt: entity.expiresAt!.toISOString(), noticeSeconds: this.noticeMs / 1_000 } }),
      false,
    );
  }

  /**
   * Claims the due keys row by row with a conditional update of `column`: with several instances
   * (or processes on one file) sweeping at once, only the one that set it writes the event.
   */
  private async claim(
    dueWhere: FilterQuery<ApiKeyEntity>,
    column: 'expiryRecordedAt' | 'expiryNoticeAt',
    now: Date,
    limit: number,
    event: (entity: ApiKeyEntity) => NewAuditEvent | null,
    expires: boolean,
  ): Promise<number> {
    // Every instance sweeps several times a second and nearly every sweep finds nothing: ask
    // first, outside a transaction and without the ledger lock.
    if (!(await this.transaction.reader().findOne(ApiKeyEntity, dueWhere, { fields: ['id'] }))) return 0;
    return this.transaction.commitWithEvents(async (em) => {
      const due = await em.find(ApiKeyEntity, dueWhere, { limit, orderBy: { expiresAt: 'asc' } });
      const claimed: ApiKeyEntity[] = [];
      for (const entity of due) {
        if ((await em.nativeUpdate(ApiKeyEntity, { id: entity.id, [column]: null }, { [column]: now })) === 1) claimed.push(entity);
      }
      const events = claimed.map(event).filter((e): e is NewAuditEvent => e !== null);
      return {
        result: events.length,
        events,
        // An expiry closes the key's sockets and drops its cached record everywhere; a notice changes nothing.
        changed: expires ? claimed.map((entity) => ({ keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: 'EXPIRED' as const })) : [],
      };
    });
  }
}
