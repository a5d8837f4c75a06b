import { LRUCache } from 'lru-cache';
import { matches, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';
import type { FeedFrames, FeedSubscription, Rendered } from './feed-subscription.js';

/** Replayed payloads a group keeps (a few hundred bytes each). */
const REPLAYED_PAYLOADS = 4_096;

/**
 * The subscriptions that would receive the same payload for every event: equal selector
 * (filter and tenancy) and equal frames shape (document, variables, visibility). Each event
 * is matched once and rendered once for the whole group, with any member's frames (they
 * render alike), and the one payload is handed to every member in id order.
 *
 * Rendering may be asynchronous (a resolver that returns a promise). Deliveries then wait in
 * one chain per group, so a group's events still reach its members in id order; a render that
 * is synchronous while nothing is waiting is delivered at once. A payload that is a member's
 * own (an error carrying its request id) is rendered again for each member. A render that
 * fails ends every member's subscription, rather than leave a gap in their streams.
 */
export class FeedGroup {
  readonly members = new Map<FeedSubscription, FeedFrames>();
  private pending: Promise<void> | null = null;
  /** Shared payloads of replayed events, by id: members replaying the same events render each once. */
  private readonly replayed = new LRUCache<string, string>({ max: REPLAYED_PAYLOADS });

  constructor(
    readonly selector: EventSelector,
    /** Counts each render, for the feed's stats. */
    private readonly counted: () => void,
    private readonly failed: (error: unknown) => void,
  ) {}

  add(subscription: FeedSubscription, frames: FeedFrames): void {
    this.members.set(subscription, frames);
  }

  remove(subscription: FeedSubscription): void {
    this.members.delete(subscription);
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * A replayed event as `frames` (a member's) renders it: the payload already rendered for the
   * group when there is one, else rendered now and, when shared, kept for the other members.
   */
  renderReplayed(frames: FeedFrames, event: AuditEventRecord): Rendered | Promise<Rendered> {
    const payload = this.replayed.get(event.id);
    if (payload !== undefined) return { payload, shared: true };
    const keep = (rendered: Rendered): Rendered => {
      if (rendered.shared) this.replayed.set(event.id, rendered.payload);
      return rendered;
    };
    const rendered = frames.render(event);
    return rendered instanceof Promise ? rendered.then(keep) : keep(rendered);
  }

  /** From the sequencer, in id order; `sizes` are the events' estimated sizes for the queue caps. */
  offer(events: readonly AuditEventRecord[], sizes: readonly number[]): void {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (!matches(this.selector, event)) continue;
      const renderer = this.members.values().next().value;
      if (!renderer) return;
      this.counted();
      let rendered: Rendered | Promise<Rendered>;
      try {
        rendered = renderer.render(event);
      } catch (error) {
        rendered = Promise.reject(error);
      }
      if (!this.pending && !(rendered instanceof Promise) && rendered.shared) {
        this.deliver(event, rendered.payload, sizes[i]!);
        continue;
      }
      const size = sizes[i]!;
      const step = (this.pending ?? Promise.resolve())
        .then(() => rendered)
        .then((done) => (done.shared ? this.deliver(event, done.payload, size) : this.deliverOwn(event, size)))
        .catch((error: unknown) => this.fail(error))
        .finally(() => {
          if (this.pending === step) this.pending = null;
        });
      this.pending = step;
    }
  }

  private deliver(event: AuditEventRecord, payload: string, size: number): void {
    // A member that closes while this runs leaves the map; a Map's iteration allows that.
    for (const member of this.members.keys()) member.deliver(event, payload, size);
  }

  /** Each member's own rendering of the event, delivered once all are ready. */
  private async deliverOwn(event: AuditEventRecord, size: number): Promise<void> {
    const members = [...this.members];
    const payloads = await Promise.all(members.map(([, frames]) => frames.render(event)));
    members.forEach(([member], index) => member.deliver(event, payloads[index]!.payload, size));
  }

  private fail(error: unknown): void {
    this.failed(error);
    for (const member of [...this.members.keys()]) member.close();
  }
}

/** The group key of a selector: equal keys select the same events. */
export function selectorKey(selector: EventSelector): string {
  return JSON.stringify([
    selector.merchantId,
    selector.keyId,
    selector.types ? [...selector.types].sort() : null,
    selector.from?.toISOString() ?? null,
    selector.to?.toISOString() ?? null,
  ]);
}
