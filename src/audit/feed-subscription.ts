import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AuditStore } from './audit-store.js';
import type { RecentEvents, ReplayPage } from './recent-events.js';
import type { ReplayPacer } from './replay-pacer.js';
import { compareIds } from '../protocol.js';
import { matches, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';

/** What the transport below a subscription tells the feed, and is told by it. */
export interface FeedSink {
  /** Bytes already queued below the feed (a socket's own send buffer); counted against the cap. */
  pendingBytes?(): number;
  /** The subscriber fell further behind than the cap allows: the transport closes it (4008 over WebSocket). */
  overflow(): void;
  /** Holds what the transport sends until the end of this turn of the event loop (a replayed burst goes out in one write). */
  cork?(): void;
  /**
   * A promise when the transport holds more than it should before more is sent (the consumer
   * reads slower than it is sent to), resolved once that has gone out or the transport closed.
   * A replay sent as frames waits on it between bursts and within one, so that it goes at the
   * consumer's pace.
   */
  drained?(): Promise<void> | undefined;
  /**
   * Present when the transport sends live events as ready-made frames: the feed then renders
   * each event once for all the subscriptions of one group (equal `shape`, equal selector) and
   * hands every member the same payload, instead of each subscription's consumer executing and
   * serialising it (see FeedGroup).
   */
  frames?: FeedFrames;
}

/** An event rendered for a subscription: the serialised payload, and whether every member of its group would get the same. */
export interface Rendered {
  payload: string;
  /** False when the payload holds something of this subscription's own (an error with its request id). */
  shared: boolean;
}

/** How a transport renders and sends a subscription's live events itself. */
export interface FeedFrames {
  /** Equal shapes render equal payloads for an event (same document, variables and visibility). */
  readonly shape: string;
  /** The event as this subscription's payload. */
  render(event: AuditEventRecord): Rendered | Promise<Rendered>;
  /** Sends a payload rendered for this subscription's group, framed for this subscription. */
  send(payload: string): void;
}

export interface FeedSubscriptionOptions {
  selector: EventSelector;
  /** Resume point: every stored event after this id is replayed first; null for live events only. */
  after: string | null;
  /** The sequencer's head when the subscription was registered: ids above it arrive live. */
  head: string;
  /** The sequencer's head now (to extend a replay whose live buffer had to be dropped). */
  currentHead(): string;
  store: AuditStore;
  /** The events fanned out lately: a replay page they cover is read there, not from the store. */
  recent?: RecentEvents;
  pageSize: number;
  maxQueuedBytes: number;
  sink?: FeedSink;
  /**
   * With frames: renders a replayed event for this subscription (its group's rendering, shared by
   * members replaying the same events). Replayed bursts are then sent as frames too, not yielded.
   */
  renderReplayed?(event: AuditEventRecord): Rendered | Promise<Rendered>;
  /** Bounds the rate of all replays together; without one, a replay only yields once per burst. */
  pacer?: ReplayPacer;
  onClose(subscription: FeedSubscription): void;
}

type Result = IteratorResult<AuditEventRecord, undefined>;
/**
 * Replayed events handed out between two turns of the event loop. A replay is served from
 * memory, so without turns, a consumer that pulls as fast as it can (graphql-ws does) would
 * keep the process busy until the whole replay is sent, and every other client would wait.
 */
const REPLAY_BURST = 32;
const DONE: Result = { done: true, value: undefined };

/**
 * One subscriber's ordered stream: a replay of stored events (`after < id ≤ head`, read
 * in pages, only as fast as the consumer pulls), then the live events the sequencer
 * offered since registration, skipping any id not above the last one handed out.
 *
 * Registration happens in the same synchronous turn as reading the sequencer's head, so
 * every event above that head is offered live and every event at or below it is in the
 * store: together the two halves hold each event exactly once, whatever is written while
 * the replay runs.
 *
 * A long replay under heavy writes could fill the live buffer before the consumer gets to
 * it. Then the buffer is dropped instead of the subscriber: the replay is extended to the
 * sequencer's current head (everything above it is still offered live), so memory stays
 * within the cap and a consumer that reads keeps up. Once live, overflowing the cap closes
 * the subscriber as a slow consumer.
 *
 * With frames (a transport that sends rendered events itself), live events come from the
 * subscription's FeedGroup, rendered once for the group. The replay is sent as frames too, a
 * burst at a time in one write, each event rendered once for the group whichever member replays
 * it first (`renderReplayed`). While the replay runs, live events are queued as above (with
 * their payloads); once the last replayed event is sent, the queue is sent and every later event
 * goes straight to the transport as the group delivers it: the socket's own buffer is then the
 * queue, and passing the cap closes the subscriber as a slow consumer. The iterator yields
 * nothing (without `renderReplayed`, only the replay); it ends when the subscription does.
 *
 * A manual iterator rather than an async generator: a generator parked on an `await`
 * cannot be returned from until it wakes, which would leak the subscription of a client
 * that leaves while the feed is quiet.
 */
export class FeedSubscription implements AsyncIterableIterator<AuditEventRecord> {
  private readonly live: Array<{ event: AuditEventRecord; bytes: number; payload?: string }> = [];
  private liveBytes = 0;
  private replay: AuditEventRecord[] = [];
  /** Where the replay has read up to; null once it has read everything up to `until`. */
  private replayCursor: string | null;
  /** The last id the replay covers; everything above it is offered live. */
  private until: string;
  private sent: string;
  private waiter: ((result: Result) => void) | null = null;
  /** Times the live buffer was dropped and the replay extended instead. */
  replayExtensions = 0;
  private closed = false;
  /** Replayed events still to hand out in the current burst. */
  private burst = 0;
  /** With frames, once the replay is over: live events go to the transport as they come, and next() only waits for the end. */
  private direct = false;

  constructor(private readonly options: FeedSubscriptionOptions) {
    const { after, head } = options;
    this.replayCursor = after !== null && compareIds(after, head) < 0 ? after : null;
    this.until = head;
    this.sent = after ?? head;
  }

  /** Called by the sequencer, in id order, with events above the registration head (subscriptions without frames). */
  offer(events: readonly AuditEventRecord[], sizes: readonly number[]): void {
    if (this.closed) return;
    const { selector } = this.options;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (!matches(selector, event)) continue;
      if (this.waiter && this.live.length === 0 && compareIds(event.id, this.sent) > 0) {
        // The consumer is waiting and nothing is queued: hand the event over without queueing it.
        this.sent = event.id;
        const resolve = this.waiter;
        this.waiter = null;
        resolve({ done: false, value: event });
        continue;
      }
      if (!this.enqueue(event, sizes[i]!)) return;
    }
  }

  /**
   * Called by the subscription's group (subscriptions with frames), in id order, with an event
   * the selector matches and its payload, rendered once for the whole group. Deliveries lag the
   * sequencer by a render, so ids the replay covers (up to `until`) are skipped here.
   */
  deliver(event: AuditEventRecord, payload: string, bytes: number): void {
    if (this.closed || compareIds(event.id, this.until) <= 0) return;
    if (!this.direct) {
      this.enqueue(event, bytes, payload);
      return;
    }
    if (compareIds(event.id, this.sent) <= 0) return;
    this.sent = event.id;
    this.options.sink!.frames!.send(payload);
    this.checkPending();
  }

  /** Queues a live event; false when the queue had to be dropped (the replay extended) or the subscriber closed. */
  private enqueue(event: AuditEventRecord, bytes: number, payload?: string): boolean {
    const { maxQueuedBytes } = this.options;
    this.live.push({ event, bytes, payload });
    this.liveBytes += bytes;
    if (this.liveBytes > maxQueuedBytes && (this.replayCursor !== null || this.replay.length > 0)) {
      // Still replaying: read the rest of this batch and what was dropped from the store instead.
      this.replayCursor ??= this.replay.at(-1)!.id;
      this.until = this.options.currentHead();
      this.replayExtensions += 1;
      this.live.length = 0;
      this.liveBytes = 0;
      return false;
    }
    return this.checkPending();
  }

  /** Closes the subscriber as a slow consumer when what it has queued, here and below, passes the cap. */
  private checkPending(): boolean {
    const { maxQueuedBytes, sink } = this.options;
    if (this.liveBytes + (sink?.pendingBytes?.() ?? 0) <= maxQueuedBytes) return true;
    this.close();
    sink?.overflow();
    return false;
  }

  /** The replay is over: sends what was queued meanwhile, then lets the group send each event as it comes. */
  private goDirect(): void {
    const frames = this.options.sink!.frames!;
    this.direct = true;
    for (const { event, payload } of this.live.splice(0)) {
      if (compareIds(event.id, this.sent) <= 0) continue;
      this.sent = event.id;
      frames.send(payload!);
    }
    this.liveBytes = 0;
    this.checkPending();
  }

  async next(): Promise<Result> {
    while (!this.closed) {
      if (this.replay.length > 0) {
        if (this.burst === 0) {
          // A replay sent as frames goes at the consumer's pace, as one the consumer pulls does:
          // a slow reader's replay waits (its live events queue, or extend the replay), it is not closed.
          const draining = this.options.renderReplayed ? this.options.sink?.drained?.() : undefined;
          if (draining) await draining;
          if (this.closed) break;
          this.burst = Math.min(REPLAY_BURST, this.replay.length);
          await (this.options.pacer ? this.options.pacer.turn(this.burst, () => this.closed) : nextTurn());
          if (this.closed) break;
        }
        if (this.options.renderReplayed) {
          await this.sendBurst();
          continue;
        }
        this.burst -= 1;
        const event = this.replay.shift()!;
        this.sent = event.id;
        return { done: false, value: event };
      }
      if (this.replayCursor === null) break;
      // A page read waits its turn of the event loop too.
      await nextTurn();
      if (this.closed) break;
      const until = this.until;
      const page = await this.readPage(this.replayCursor, until);
      if (this.closed) break;
      this.replay = page.rows;
      // A page continues after the id it reached; one that reached `until` is the last, unless
      // `until` was extended while the read was in flight.
      if (compareIds(page.reached, until) < 0) this.replayCursor = page.reached;
      else this.replayCursor = until === this.until ? null : until;
    }
    if (!this.closed && this.options.sink?.frames) {
      // Every replayed event has been sent (as frames, or by the consumer before asking again):
      // from here on the frames go out directly, and this promise only resolves at the end.
      if (!this.direct) this.goDirect();
      if (this.closed) return DONE;
      return new Promise<Result>((resolve) => (this.waiter = resolve));
    }
    while (!this.closed && this.live.length > 0) {
      const { event, bytes } = this.live.shift()!;
      this.liveBytes -= bytes;
      if (compareIds(event.id, this.sent) <= 0) continue;
      this.sent = event.id;
      return { done: false, value: event };
    }
    if (this.closed) return DONE;
    return new Promise<Result>((resolve) => (this.waiter = resolve));
  }

  /**
   * With frames: the current burst of replayed events, rendered (each once for the group) and
   * sent as frames, in one write. A render that fails ends the subscription with its error.
   */
  private async sendBurst(): Promise<void> {
    const { sink, renderReplayed } = this.options;
    const frames = sink!.frames!;
    const events = this.replay.splice(0, this.burst);
    this.burst = 0;
    sink!.cork?.();
    for (const event of events) {
      let rendered: Rendered | Promise<Rendered>;
      try {
        rendered = renderReplayed!(event);
        if (rendered instanceof Promise) rendered = await rendered;
      } catch (error) {
        this.close();
        throw error;
      }
      if (this.closed) return;
      this.sent = event.id;
      frames.send(rendered.payload);
      // Large events: a whole burst may be more than the cap. Once the socket holds more than it
      // should, wait until it has written that out, then hold the rest of the burst again.
      const draining = sink!.drained?.();
      if (draining) {
        await draining;
        if (this.closed) return;
        sink!.cork?.();
      }
    }
    this.checkPending();
  }

  /** The selected events after `after` up to `until`, a page at most: from memory when the recent events cover them, else from the store. */
  private async readPage(after: string, until: string): Promise<ReplayPage> {
    const { store, recent, selector, pageSize } = this.options;
    const held = recent?.range(selector, after, until, pageSize, pageSize * 20);
    if (held) return held;
    const rows = await store.range(selector, after, until, pageSize);
    // A full page continues after its last row; a short one has read up to `until`.
    return { rows, reached: rows.length === pageSize ? rows.at(-1)!.id : until };
  }

  async return(): Promise<Result> {
    this.close();
    return DONE;
  }

  async throw(error?: unknown): Promise<Result> {
    this.close();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ids handed out so far end at this one. */
  get lastSent(): string {
    return this.sent;
  }

  get queuedBytes(): number {
    return this.liveBytes;
  }

  /** Ends the stream: a waiting `next()` resolves as done and the queue is dropped at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.live.length = 0;
    this.liveBytes = 0;
    this.replay = [];
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(DONE);
    this.options.onClose(this);
  }
}
