import { setImmediate as nextTurn } from 'node:timers/promises';

export interface ReplayPacerOptions {
  /** Replayed events per second that all replays of this instance may send together. */
  eventsPerSecond: number;
  now?: () => number;
}

/**
 * Keeps catch-up replays from crowding out everything else. A replay is served from memory
 * as fast as its consumer pulls, so a hundred subscribers replaying from the start would
 * hold the process for as long as their replays take, and every other client would wait.
 * Each replay instead takes a short burst of events at a time from one shared token bucket
 * (refilled at `eventsPerSecond`, holding at most a tenth of a second's worth), and waits
 * for its next turn of the event loop between bursts: replays together cost a bounded share
 * of the process, whatever their number, and requests and live events keep the rest.
 */
export class ReplayPacer {
  private tokens: number;
  private refilled: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: ReplayPacerOptions) {
    this.now = options.now ?? (() => performance.now());
    this.capacity = Math.max(1, options.eventsPerSecond / 10);
    this.tokens = this.capacity;
    this.refilled = this.now();
  }

  /** Resolves when a burst of `events` may be sent: after a turn of the event loop, in arrival order. */
  turn(events: number): Promise<void> {
    const ticket = this.queue.then(async () => {
      await nextTurn();
      const wanted = Math.min(events, this.capacity);
      for (;;) {
        this.refill();
        if (this.tokens >= wanted) {
          this.tokens -= wanted;
          return;
        }
        const waitMs = ((wanted - this.tokens) / this.options.eventsPerSecond) * 1000;
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(waitMs))));
      }
    });
    this.queue = ticket;
    return ticket;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilled) / 1000) * this.options.eventsPerSecond);
    this.refilled = now;
  }
}
