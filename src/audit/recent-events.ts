import { compareIds } from '../protocol.js';
import { matches, type EventSelector } from './event-filter.js';
import type { AuditEventRecord } from './event-types.js';

/** A page of a replay: the selected events, and the id the read went up to (every selected event up to it is in `rows`). */
export interface ReplayPage {
  rows: AuditEventRecord[];
  reached: string;
}

export interface RecentEventsOptions {
  /** Events held at most (the oldest go first). */
  maxEvents: number;
  /** How long an event is held after it was fanned out. */
  maxAgeMs: number;
  now?: () => number;
}

/**
 * The events the feed's sequencer fanned out lately, in id order, so that a replay from a recent
 * point is served from memory rather than read and mapped again from the store for each
 * subscriber (a churn of subscribers replaying the same events would otherwise read them once
 * per subscribe).
 *
 * It holds every event with an id above `from` up to the sequencer's head: the sequencer appends
 * each run it fans out, in order, and starts again from the new point when it steps over a hole
 * in the ids (an id that commits after that is in the store only, so a replay across it reads
 * the store). Events leave by number and by age; the age bound (minutes) is far below the
 * shortest retention (a day), so a replay served from here does not return pruned events.
 */
export class RecentEvents {
  private events: AuditEventRecord[] = [];
  private arrived: number[] = [];
  /** Index of the oldest event still held. */
  private start = 0;
  /** Every event with a greater id, up to the newest appended, is held. */
  private from = '0';
  private readonly now: () => number;

  constructor(private readonly options: RecentEventsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Holds nothing, from `from` on: what follows is appended by the sequencer. */
  reset(from: string): void {
    this.events = [];
    this.arrived = [];
    this.start = 0;
    this.from = from;
  }

  /** The sequencer's run, which continues the events held (events not above the newest held, or `from`, are not taken again). */
  append(events: readonly AuditEventRecord[]): void {
    const at = this.now();
    let newest = this.size > 0 ? this.events.at(-1)!.id : this.from;
    for (const event of events) {
      if (compareIds(event.id, newest) <= 0) continue;
      this.events.push(event);
      this.arrived.push(at);
      newest = event.id;
    }
    this.trim(at);
  }

  get size(): number {
    return this.events.length - this.start;
  }

  /**
   * Up to `limit` selected events with `after < id ≤ until`, looking at no more than `scanLimit`
   * events, or null when events at or below `after` are no longer held (the store has them).
   * `until` is never above the newest event appended (the sequencer's head).
   */
  range(selector: EventSelector, after: string, until: string, limit: number, scanLimit: number): ReplayPage | null {
    this.trim(this.now());
    if (compareIds(after, this.from) < 0) return null;
    const rows: AuditEventRecord[] = [];
    let scanned = 0;
    for (let index = this.firstAbove(after); index < this.events.length; index++) {
      const event = this.events[index]!;
      if (compareIds(event.id, until) > 0) break;
      if (matches(selector, event)) rows.push(event);
      if (rows.length === limit || ++scanned === scanLimit) return { rows, reached: event.id };
    }
    return { rows, reached: until };
  }

  /** Index of the first held event with an id above `after`. */
  private firstAbove(after: string): number {
    let low = this.start;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareIds(this.events[middle]!.id, after) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private trim(now: number): void {
    const { maxEvents, maxAgeMs } = this.options;
    while (this.start < this.events.length && (this.size > maxEvents || this.arrived[this.start]! < now - maxAgeMs)) {
      this.from = this.events[this.start]!.id;
      this.start += 1;
    }
    // Drop what left once it is most of the arrays, so each event is moved at most once on average.
    if (this.start > 1_024 && this.start * 2 > this.events.length) {
      this.events = this.events.slice(this.start);
      this.arrived = this.arrived.slice(this.start);
      this.start = 0;
    }
  }
}
