import type { Logger } from 'pino';
import type { EventBus } from '../audit/event-bus.js';
import type { WebhookConfig } from '../config.js';
import type { Database } from '../db/orm.js';
import { randomId } from '../keys/key-material.js';
import type { KeyTransaction } from '../keys/key-transaction.js';
import { EndpointWorker, type WorkerContext } from './endpoint-worker.js';
import type { AttemptOutcome, WebhookSender } from './webhook-sender.js';
import type { SecretBox } from './webhook-secret.js';
import { WebhookEntity } from './webhook.entity.js';

/** The delivery settings a dispatcher runs by: the configuration's own (config.ts WebhookConfig). */
export type DispatcherOptions = Pick<
  WebhookConfig,
  'leaseMs' | 'pollMs' | 'retryScheduleMs' | 'disableAfterMs' | 'maxConcurrent' | 'minIntervalMs' | 'deliveriesKept'
>;

/** Endpoints claimed per poll, so one poll's work stays bounded. */
const CLAIMS_PER_POLL = 100;

/**
 * Which endpoints this instance delivers. Each endpoint row carries a lease (owner, expiry):
 * an instance claims an endpoint whose lease is free or expired with one conditional UPDATE, so
 * exactly one instance wins it, and renews every lease it holds on each poll; an instance that
 * dies stops renewing and another claims the endpoint once the lease has run out (WEBHOOK_LEASE_MS,
 * 15 s by default, well within 30 s). Every write a worker makes is fenced by its lease, so an
 * instance that lost one can no longer move the endpoint's cursor. Committed events wake the
 * workers (the bus); the poll catches anything a lost wake-up missed.
 */
export class WebhookDispatcher {
  readonly owner = randomId('inst', 16);
  private readonly workers = new Map<string, EndpointWorker>();
  private readonly listeners = new Set<(outcome: AttemptOutcome) => void>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private stopListening: (() => void) | null = null;
  private readonly context: WorkerContext;

  constructor(
    private readonly db: Database,
    transaction: KeyTransaction,
    private readonly bus: EventBus,
    private readonly sender: WebhookSender,
    box: SecretBox,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.context = {
      db,
      transaction,
      sender,
      box,
      logger,
      owner: this.owner,
      options: { ...options, batchSize: 100 },
      observe: (outcome) => {
        for (const listener of this.listeners) listener(outcome);
      },
    };
  }

  start(): void {
    this.stopListening = this.bus.onEvents(() => {
      for (const worker of this.workers.values()) worker.wake();
    });
    this.timer = setInterval(() => this.poll(), this.options.pollMs);
    this.timer.unref();
    this.poll();
  }

  /** Each attempt's outcome, for the metrics. */
  onAttempt(listener: (outcome: AttemptOutcome) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events waiting for the endpoints this instance delivers. */
  lag(): number {
    let total = 0;
    for (const worker of this.workers.values()) total += worker.lag;
    return total;
  }

  /** The endpoints this instance holds the lease of. */
  held(): string[] {
    return [...this.workers.keys()];
  }

  private poll(): void {
    if (this.polling || this.stopped) return;
    this.polling = this.claimAndRenew()
      .catch((error: unknown) => this.logger.error({ err: error }, 'webhook lease poll failed'))
      .finally(() => {
        this.polling = null;
      });
  }

  private async claimAndRenew(): Promise<void> {
    const em = this.db.fork();
    const now = new Date();
    const until = new Date(now.getTime() + this.options.leaseMs);
    for (const [id, worker] of this.workers) {
      const renewed = worker.running ? await em.nativeUpdate(WebhookEntity, { id, leaseOwner: this.owner }, { leaseExpiresAt: until }) : 0;
      if (renewed === 0 || !worker.running) {
        this.workers.delete(id);
        await worker.stop();
        if (renewed > 0) await em.nativeUpdate(WebhookEntity, { id, leaseOwner: this.owner }, { leaseOwner: null, leaseExpiresAt: null });
      }
    }
    if (this.stopped) return;
    const free = { status: { $ne: 'DISABLED' as const }, $or: [{ leaseOwner: null }, { leaseExpiresAt: { $lt: now } }] };
    const candidates = await em.find(WebhookEntity, free, { fields: ['id'], limit: CLAIMS_PER_POLL, orderBy: { id: 'asc' } });
    for (const { id } of candidates) {
      if (this.workers.has(id) || this.stopped) continue;
      // Claimed only if still free when the UPDATE runs: of several instances, one wins.
      const claimed = await em.nativeUpdate(WebhookEntity, { id, ...free }, { leaseOwner: this.owner, leaseExpiresAt: until });
      if (claimed > 0 && !this.stopped) {
        this.logger.info({ webhookId: id, owner: this.owner }, 'webhook endpoint claimed');
        this.workers.set(id, new EndpointWorker(id, this.context));
      }
    }
  }

  /** Stops every worker (an attempt in flight is cut short and sent again later) and gives up the leases. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopListening?.();
    await this.polling;
    await Promise.all([...this.workers.values()].map((worker) => worker.stop()));
    this.workers.clear();
    try {
      await this.db.fork().nativeUpdate(WebhookEntity, { leaseOwner: this.owner }, { leaseOwner: null, leaseExpiresAt: null });
    } finally {
      await this.sender.close();
    }
  }
}
