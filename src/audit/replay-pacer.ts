import { setImmediate as nextTurn } from 'node:timers/promises';
import { TokenBucket } from '../token-bucket.js';

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
  private readonly bucket: TokenBucket;
  private queue: Promise<void> = Promise.resolve();

  constructor(options: ReplayPacerOptions) {
    this.bucket = new TokenBucket(options.eventsPerSecond, Math.max(1, options.eventsPerSecond / 10), options.now ?? (() => performance.now()));
  }

  /**
   * Resolves when a burst of `events` may be sent: after a turn of the event loop, in arrival
   * order. A ticket whose replay has ended meanwhile (`abandoned`) resolves when its turn comes
   * without waiting or taking anything, so subscribers that leave cost the others nothing.
   */
  turn(events: number, abandoned: () => boolean = () => false): Promise<void> {
    const ticket = this.queue.then(async () => {
      if (abandoned()) return;
      await nextTurn();
      if (abandoned()) return;
      const wanted = Math.min(events, this.bucket.capacity);
      while (!this.bucket.take(wanted)) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(this.bucket.msUntil(wanted)))));
      }
    });
    this.queue = ticket;
    return ticket;
  }
}
