import type { Logger } from 'pino';
import type { Actor, Principal } from '../auth/principal.js';
import { TooManySubscriptionsError } from '../errors.js';
import { Tally } from '../tally.js';
import type { AuditService, AuditQuery } from './audit.service.js';
import type { AuditStore } from './audit-store.js';
import type { EventBus } from './event-bus.js';
import { compareIds, isEventId } from '../protocol.js';
import { parseEventId, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';
import { FeedGroup, selectorKey } from './feed-group.js';
import { FeedSubscription, type FeedSink } from './feed-subscription.js';
import { RecentEvents } from './recent-events.js';
import { ReplayPacer } from './replay-pacer.js';

export interface AuditFeedOptions {
  /** Cap on one subscriber's queued events (bytes, estimated from their JSON). */
  maxQueuedBytes: number;
  /** Rows per store read, for the sequencer and for each subscriber's replay. */
  pageSize?: number;
  /** How long a hole in the ids is waited for before it is taken as a rolled-back id. */
  gapGraceMs?: number;
  /** Live subscriptions one key may hold on this instance (every event is sent to each, so they multiply). */
  maxPerKey?: number;
  /** Live subscriptions one merchant's keys may hold together on this instance. */
  maxPerMerchant?: number;
  /** Replayed events per second, all catch-up replays of this instance together. */
  replayEventsPerSecond?: number;
  /** Events fanned out lately that replays read from memory (see RecentEvents): how many, and for how long. */
  recentEvents?: number;
  recentMs?: number;
}

/** Which cap a new subscription would pass: its key's or its merchant's, and its size. */
export interface FullCapacity {
  scope: 'key' | 'merchant';
  limit: number;
}

export interface FeedStats {
  subscribers: number;
  /** Subscriptions ever registered (only grows). */
  opened: number;
  head: string;
  /** Batches fanned out straight from the bus, without reading the store. */
  directBatches: number;
  /** Store reads by the sequencer (one per wake-up, for every subscriber at once). */
  storeReads: number;
  /** Holes in the ids given up on after the grace period. */
  gapsSkipped: number;
  /** Groups of subscriptions that receive the same payloads (see FeedGroup). */
  groups: number;
  /** Events rendered for a group (only grows): one per event and group, whatever the group's size. */
  renders: number;
}

/**
 * The live audit feed of one instance: a single sequencer between the bus and every subscriber.
 *
 * Why a sequencer: publication happens after commit, so two commits' publications can arrive
 * out of id order, a publication can be lost (a crash between commit and publish, or a bus that
 * only carries wake-ups, like the Redis one), and on PostgreSQL ids can commit out of order and
 * leave holes (a rolled-back insert still consumes its sequence value). The sequencer keeps
 * `head`, the id up to which every event has been fanned out, and only ever fans out the event
 * right after it:
 * - a published batch that continues `head` exactly (the usual case on one instance) is fanned
 *   out as it is, with no read;
 * - anything else (a batch out of order, after a hole, or a bare wake-up) makes it read the
 *   store for the events above `head`, once for all subscribers, and fan out the run that
 *   continues `head`;
 * - a hole that stays in the store is waited for `gapGraceMs` (its transaction may still be
 *   committing), then taken as a rollback and stepped over. A transaction that commits an event
 *   later than that is in the store (queries and later resumes see it) but not in the live feed
 *   of subscribers already past it; the PostgreSQL ledger must therefore keep its inserting
 *   transactions shorter than the grace period (or serialize id assignment with commit order).
 *
 * Every subscriber thus sees one order, the id order, and a resume (`after`) is exact: see
 * FeedSubscription.
 */
export class AuditFeed {
  private head = '0';
  private started = false;
  private stopped = false;
  private missedWhileStarting = false;
  private readonly subscribers = new Set<FeedSubscription>();
  /** Subscribers without frames: each is offered every event and matches it itself. */
  private readonly loose = new Set<FeedSubscription>();
  /** Subscribers with frames, by selector and shape. */
  private readonly groups = new Map<string, FeedGroup>();
  /** Live subscriptions per key and per merchant (`k:` / `m:` prefixed), for the caps. */
  private readonly held = new Tally();
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private gap: { at: bigint; since: number; timer?: NodeJS.Timeout } | null = null;
  private stopListening: (() => void) | null = null;
  private readonly pageSize: number;
  private readonly gapGraceMs: number;
  private readonly pacer: ReplayPacer;
  private readonly recent: RecentEvents;
  readonly stats: FeedStats = { subscribers: 0, opened: 0, head: '0', directBatches: 0, storeReads: 0, gapsSkipped: 0, groups: 0, renders: 0 };

  constructor(
    private readonly store: AuditStore,
    private readonly audit: AuditService,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly options: AuditFeedOptions,
  ) {
    this.pageSize = options.pageSize ?? 500;
    this.gapGraceMs = options.gapGraceMs ?? 1_000;
    this.pacer = new ReplayPacer({ eventsPerSecond: options.replayEventsPerSecond ?? 5_000 });
    this.recent = new RecentEvents({ maxEvents: options.recentEvents ?? 20_000, maxAgeMs: options.recentMs ?? 5 * 60_000 });
  }

  /** Listens to the bus, then takes the ledger's current end as the head. */
  async start(): Promise<void> {
    this.stopListening = this.bus.onEvents((events) => this.onPublished(events));
    this.setHead(await this.store.maxId());
    this.recent.reset(this.head);
    this.started = true;
    // Anything committed between listening and reading the head is read from the store.
    if (this.missedWhileStarting) this.wake();
  }

  /**
   * A subscriber's stream of events the actor may see, in id order: first every stored event
   * after `after` (when given), then live events. Tenancy is applied here (FORBIDDEN for
   * another merchant), not by the caller.
   */
  subscribe(actor: Actor, query: AuditQuery & { after?: string | null }, sink?: FeedSink): FeedSubscription {
    const selector = this.audit.selector(actor, query, 'auditEvents');
    const after = query.after == null ? null : parseEventId(query.after);
    const holders = this.placesFor(actor);
    const frames = sink?.frames;
    const groupKey = frames ? `${selectorKey(selector)}\n${frames.shape}` : '';
    const group = frames ? this.groupFor(groupKey, selector) : null;
    const subscription = new FeedSubscription({
      selector,
      after,
      head: this.head,
      currentHead: () => this.head,
      store: this.store,
      recent: this.recent,
      pageSize: Math.min(this.pageSize, 200),
      maxQueuedBytes: this.options.maxQueuedBytes,
      sink,
      renderReplayed: group && frames ? (event) => group.renderReplayed(frames, event) : undefined,
      pacer: this.pacer,
      onClose: (closed) => {
        this.subscribers.delete(closed);
        this.loose.delete(closed);
        const group = this.groups.get(groupKey);
        group?.remove(closed);
        if (group?.size === 0) this.groups.delete(groupKey);
        this.stats.subscribers = this.subscribers.size;
        this.stats.groups = this.groups.size;
        for (const holder of holders) this.held.remove(holder);
      },
    });
    for (const holder of holders) this.held.add(holder);
    // Same synchronous turn as reading `head` above: nothing can be fanned out in between.
    this.subscribers.add(subscription);
    if (group && frames) group.add(subscription, frames);
    else this.loose.add(subscription);
    this.stats.subscribers = this.subscribers.size;
    this.stats.groups = this.groups.size;
    this.stats.opened += 1;
    return subscription;
  }

  private groupFor(key: string, selector: EventSelector): FeedGroup {
    let group = this.groups.get(key);
    if (!group) {
      const counted = () => void (this.stats.renders += 1);
      const failed = (error: unknown) => this.logger.error({ err: error }, 'audit feed could not render an event; ending its group of subscriptions');
      this.groups.set(key, (group = new FeedGroup(selector, counted, failed)));
    }
    return group;
  }

  /**
   * The counters a new subscription of `actor` adds to, after checking there is room in each.
   * Each subscription receives every event of its merchant (its own subscribe's KEY_USED
   * included), so unbounded subscriptions cost the square of their number. The operator's
   * admin keys are not capped: they are few, and their monitors watch every merchant.
   */
  private placesFor(actor: Actor): string[] {
    const principal = actor.principal;
    if (!principal || principal.admin) return [];
    const full = this.fullFor(principal);
    if (full) throw new TooManySubscriptionsError(full.scope, full.limit);
    return countersOf(principal);
  }

  /**
   * The cap a new subscription of this key would pass (its own, or its merchant's), or null
   * when there is room. Asked by admission before a subscribe is counted, and again here when
   * the subscription is made.
   */
  fullFor(principal: Principal): FullCapacity | null {
    if (principal.admin) return null;
    const { maxPerKey, maxPerMerchant } = this.options;
    const [key, merchant] = countersOf(principal);
    if (maxPerKey !== undefined && this.held.get(key) >= maxPerKey) return { scope: 'key', limit: maxPerKey };
    if (maxPerMerchant !== undefined && this.held.get(merchant) >= maxPerMerchant) return { scope: 'merchant', limit: maxPerMerchant };
    return null;
  }

  private onPublished(events: readonly AuditEventRecord[]): void {
    if (this.stopped) return;
    if (!this.started) {
      this.missedWhileStarting = true;
      return;
    }
    if (this.reading || this.gap) return this.wake();
    // A publication is only a hint: a bare wake-up, or one that is not a well-formed run of ids,
    // is read from the store instead.
    if (events.length === 0 || !events.every((event) => isEventId(event?.id))) return this.wake();
    const fresh = events.filter((event) => compareIds(event.id, this.head) > 0).sort((a, b) => compareIds(a.id, b.id));
    if (fresh.length === 0) return;
    let expected = BigInt(this.head) + 1n;
    for (const event of fresh) {
      if (BigInt(event.id) !== expected++) return this.wake();
    }
    this.stats.directBatches += 1;
    this.fanOut(fresh);
  }

  /** Reads the store above `head`; at most one read at a time, and one more if woken meanwhile. */
  private wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readLoop()
      .catch((error) => {
        this.logger.error({ err: error }, 'audit feed read failed; retrying on the next event');
      })
      .finally(() => {
        this.reading = null;
      });
  }

  private async readLoop(): Promise<void> {
    do {
      this.readAgain = false;
      for (;;) {
        this.stats.storeReads += 1;
        const rows = await this.store.since(this.head, this.pageSize);
        if (this.stopped) return;
        const run = this.contiguous(rows);
        if (run.length > 0) this.fanOut(run);
        if (rows.length < this.pageSize || run.length < rows.length) break;
      }
    } while (this.readAgain && !this.stopped);
  }

  /** The rows that continue `head` without a hole, stepping over holes older than the grace period. */
  private contiguous(rows: readonly AuditEventRecord[]): AuditEventRecord[] {
    const run: AuditEventRecord[] = [];
    let expected = BigInt(this.head) + 1n;
    for (const row of rows) {
      const id = BigInt(row.id);
      if (id !== expected) {
        // A monotonic clock: a stepped wall clock must neither skip the grace nor stretch it.
        const now = performance.now();
        if (this.gap?.at !== expected) {
          clearTimeout(this.gap?.timer);
          this.gap = { at: expected, since: now };
        }
        const left = this.gapGraceMs - (now - this.gap.since);
        if (left > 0) {
          // Within the grace (a new hole, a wake-up by another event, or a timer that fired a
          // little early by this clock): look again when it is over, so the hole is never unwatched.
          clearTimeout(this.gap.timer);
          this.gap.timer = setTimeout(() => this.wake(), Math.ceil(left) + 1).unref();
          return run;
        }
        this.logger.warn({ from: String(expected), to: String(id - 1n) }, 'audit feed stepped over ids that never committed');
        this.stats.gapsSkipped += 1;
        // Should one of them commit after all, it is in the store only: replays across the hole read the store.
        this.recent.reset(String(id - 1n));
      }
      if (this.gap) {
        clearTimeout(this.gap.timer);
        this.gap = null;
      }
      run.push(row);
      expected = id + 1n;
    }
    return run;
  }

  private fanOut(events: readonly AuditEventRecord[]): void {
    this.setHead(events.at(-1)!.id);
    this.recent.append(events);
    if (this.subscribers.size === 0) return;
    // One estimate per event, shared by every subscriber's queue accounting.
    const sizes = events.map((event) => JSON.stringify(event).length + 96);
    for (const subscription of this.loose) subscription.offer(events, sizes);
    for (const group of this.groups.values()) group.offer(events, sizes);
  }

  private setHead(id: string): void {
    this.head = id;
    this.stats.head = id;
  }

  /** Ends every subscription and stops listening; used on shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    if (this.gap) clearTimeout(this.gap.timer);
    for (const subscription of [...this.subscribers]) subscription.close();
    await this.reading;
  }
}

/** The counters a subscription of this key holds a place in: its own and its merchant's. */
function countersOf(principal: Principal): [string, string] {
  return [`k:${principal.keyId}`, `m:${principal.merchantId}`];
}
