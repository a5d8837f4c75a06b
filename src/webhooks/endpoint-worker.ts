import type { FilterQuery } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import type { AuditEventRecord, NewAuditEvent } from '../audit/event-types.js';
import { toRecord } from '../audit/event-row.js';
import type { Database, Em } from '../db/orm.js';
import type { KeyTransaction } from '../keys/key-transaction.js';
import { callPacer, type CallPacer } from '../throttle/bottleneck-adapter.js';
import type { AttemptOutcome, WebhookSender } from './webhook-sender.js';
import type { WebhookConfig } from '../config.js';
import type { SecretBox } from './webhook-secret.js';
import { WebhookDeliveryEntity, WebhookEntity } from './webhook.entity.js';

/** What every endpoint worker of an instance shares. */
export interface WorkerContext {
  db: Database;
  transaction: KeyTransaction;
  sender: WebhookSender;
  box: SecretBox;
  logger: Logger;
  /** The instance's lease owner id. */
  owner: string;
  options: Pick<WebhookConfig, 'pollMs' | 'retryScheduleMs' | 'disableAfterMs' | 'maxConcurrent' | 'minIntervalMs' | 'deliveriesKept'> & { batchSize: number };
  observe(outcome: AttemptOutcome): void;
}

/**
 * Delivers one endpoint while this instance holds its lease: the events after its cursor that
 * it wants (its merchant's, or every merchant's for an admin's endpoint; its types), read from
 * the ledger in id order, one at a time. The cursor moves only when an event is acknowledged
 * (2xx), and only by this lease holder, so a restart or a takeover resumes right after the last
 * acknowledged event; a failed event is retried on the backoff schedule and everything after it
 * waits. The ledger is the queue: nothing is held in memory that a crash could lose.
 */
export class EndpointWorker {
  private stopped = false;
  private woken = false;
  private wakeUp: (() => void) | null = null;
  private readonly abort = new AbortController();
  private readonly pacer: CallPacer;
  /** Events waiting for this endpoint, as last counted. */
  lag = 0;
  readonly done: Promise<void>;

  constructor(
    readonly id: string,
    private readonly ctx: WorkerContext,
  ) {
    this.pacer = callPacer({ maxConcurrent: ctx.options.maxConcurrent, minTime: ctx.options.minIntervalMs });
    this.done = this.run()
      .catch((error: unknown) => ctx.logger.error({ err: error, webhookId: id }, 'webhook worker failed; the endpoint is picked up again at the next poll'))
      .finally(() => void this.pacer.stop());
  }

  /** New events may be there: read the ledger now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wakeUp?.();
    return this.done;
  }

  get running(): boolean {
    return !this.stopped;
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        const endpoint = await this.ctx.db.fork().findOne(WebhookEntity, { id: this.id });
        if (!endpoint || endpoint.status === 'DISABLED' || endpoint.leaseOwner !== this.ctx.owner) return;
        const wait = endpoint.nextAttemptAt ? endpoint.nextAttemptAt.getTime() - Date.now() : 0;
        if (wait > 0) {
          // A retry keeps its schedule whatever arrives meanwhile; the loop re-reads the endpoint (an update may enable or move it).
          await this.sleep(Math.min(wait, this.ctx.options.pollMs), false);
          continue;
        }
        const events = await this.pending(endpoint);
        if (events.length === 0) {
          await this.sleep(this.ctx.options.pollMs, true);
          continue;
        }
        for (const event of events) {
          if (this.stopped || !(await this.attempt(endpoint, event))) break;
          this.lag = Math.max(0, this.lag - 1);
        }
      }
    } finally {
      this.stopped = true;
    }
  }

  /** The next events the endpoint wants after its cursor, oldest first; counts the lag. */
  private async pending(endpoint: WebhookEntity): Promise<AuditEventRecord[]> {
    const where: FilterQuery<AuditEventEntity> = {
      id: { $gt: String(endpoint.cursorEventId) },
      type: { $in: endpoint.types },
      ...(endpoint.merchantId != null ? { merchantId: endpoint.merchantId } : {}),
    };
    const em = this.ctx.db.fork();
    const rows = await em.find(AuditEventEntity, where, { orderBy: { id: 'asc' }, limit: this.ctx.options.batchSize });
    this.lag = rows.length < this.ctx.options.batchSize ? rows.length : await em.count(AuditEventEntity, where);
    return rows.map(toRecord);
  }

  /** One attempt at one event, recorded; true when it was acknowledged and the cursor moved past it. */
  private async attempt(endpoint: WebhookEntity, event: AuditEventRecord): Promise<boolean> {
    let outcome: AttemptOutcome;
    try {
      const secret = this.ctx.box.open(endpoint.secretCipher, endpoint.id);
      outcome = await this.pacer.schedule(() =>
        this.ctx.sender.send({ url: endpoint.url, secret, messageId: `msg_${endpoint.id}_${event.id}`, event }, this.abort.signal),
      );
    } catch (error) {
      if (this.stopped) return false;
      outcome = { delivered: false, refused: false, httpStatus: null, error: (error as Error).message.slice(0, 200), durationMs: 0 };
    }
    // An attempt cut short by shutdown is not the endpoint's failure: not recorded, sent again later.
    if (this.stopped && !outcome.delivered) return false;
    this.ctx.observe(outcome);
    const attempt = endpoint.attempts + 1;
    const at = new Date();
    const held = outcome.delivered ? await this.acknowledge(endpoint, event, attempt, at, outcome) : await this.fail(endpoint, event, attempt, at, outcome);
    if (!held) {
      // The lease went to another instance, or the endpoint was disabled or deleted meanwhile.
      this.stopped = true;
      return false;
    }
    return outcome.delivered;
  }

  private async acknowledge(endpoint: WebhookEntity, event: AuditEventRecord, attempt: number, at: Date, outcome: AttemptOutcome): Promise<boolean> {
    const moved = await this.ctx.db.fork().transactional(async (em) => {
      await this.record(em, delivery(endpoint.id, event.id, attempt, at, outcome));
      return em.nativeUpdate(
        WebhookEntity,
        { id: endpoint.id, leaseOwner: this.ctx.owner, status: { $ne: 'DISABLED' } },
        { cursorEventId: event.id, lastDeliveredEventId: event.id, status: 'ACTIVE', attempts: 0, failingSince: null, nextAttemptAt: null, lastError: null },
      );
    });
    if (moved === 0) return false;
    Object.assign(endpoint, { cursorEventId: event.id, lastDeliveredEventId: event.id, status: 'ACTIVE', attempts: 0, failingSince: null, nextAttemptAt: null, lastError: null });
    return true;
  }

  private async fail(endpoint: WebhookEntity, event: AuditEventRecord, attempt: number, at: Date, outcome: AttemptOutcome): Promise<boolean> {
    const failingSince = endpoint.failingSince ?? at;
    const disable = at.getTime() - failingSince.getTime() >= this.ctx.options.disableAfterMs;
    const schedule = this.ctx.options.retryScheduleMs;
    const changes = {
      status: disable ? ('DISABLED' as const) : ('FAILING' as const),
      attempts: attempt,
      failingSince,
      nextAttemptAt: disable ? null : new Date(at.getTime() + schedule[Math.min(attempt - 1, schedule.length - 1)]!),
      lastError: outcome.error,
    };
    this.ctx.logger.warn({ webhookId: endpoint.id, eventId: event.id, attempt, error: outcome.error, disabled: disable }, 'webhook delivery failed');
    const held = await this.ctx.transaction.commitWithEvents(async (em) => {
      await this.record(em, delivery(endpoint.id, event.id, attempt, at, outcome));
      const updated = await em.nativeUpdate(WebhookEntity, { id: endpoint.id, leaseOwner: this.ctx.owner, status: { $ne: 'DISABLED' } }, changes);
      const events: NewAuditEvent[] = updated > 0 && disable ? [disabledEvent(endpoint, event.id, attempt, failingSince, outcome.error)] : [];
      return { result: updated > 0, events };
    });
    if (held) Object.assign(endpoint, changes);
    return held && !disable;
  }

  /** Records an attempt in the caller's transaction (one commit per attempt), keeping the newest `deliveriesKept` of the endpoint. */
  private async record(em: Em, row: ReturnType<typeof delivery>): Promise<void> {
    await em.insert(WebhookDeliveryEntity, row);
    const [oldestKept] = await em.find(
      WebhookDeliveryEntity,
      { webhookId: this.id },
      { orderBy: { id: 'desc' }, offset: this.ctx.options.deliveriesKept - 1, limit: 1, fields: ['id'] },
    );
    if (oldestKept) await em.nativeDelete(WebhookDeliveryEntity, { webhookId: this.id, id: { $lt: oldestKept.id } });
  }

  /** Waits `ms`, or less when stopped (or, if `wakeable`, when new events are announced). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (wakeable && this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = () => {
        if (this.stopped || (wakeable && this.woken)) {
          this.woken = false;
          done();
        }
      };
    });
  }
}

function delivery(webhookId: string, eventId: string, attempt: number, at: Date, outcome: AttemptOutcome) {
  return { webhookId, eventId, attempt, at, httpStatus: outcome.httpStatus, error: outcome.error?.slice(0, 500) ?? null, durationMs: outcome.durationMs };
}

/** The event that records an endpoint disabled after failing past WEBHOOK_DISABLE_AFTER_MS (no URL: it may hold a token). */
function disabledEvent(endpoint: WebhookEntity, eventId: string, attempts: number, failingSince: Date, lastError: string | null): NewAuditEvent {
  return {
    type: 'WEBHOOK_DISABLED',
    merchantId: endpoint.merchantId ?? null,
    reason: 'delivery kept failing',
    metadata: { webhookId: endpoint.id, eventId, attempts, failingSince: failingSince.toISOString(), lastError },
  };
}
