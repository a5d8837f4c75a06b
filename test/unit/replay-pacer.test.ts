import { describe, expect, it } from 'vitest';
import { ReplayPacer } from '../../src/audit/replay-pacer.js';

describe('ReplayPacer', () => {
  it('lets replays together send no faster than its rate (after the first tenth of a second)', async () => {
    const pacer = new ReplayPacer({ eventsPerSecond: 2_000 });
    const started = performance.now();
    let sent = 0;
    // Four replays of 256 events each, in bursts of 32, all at once.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let burst = 0; burst < 8; burst++) {
          await pacer.turn(32);
          sent += 32;
        }
      }),
    );
    const elapsed = performance.now() - started;
    expect(sent).toBe(1_024);
    // The bucket starts with 200 tokens; the other 824 come at 2,000 a second: at least 412 ms.
    expect(elapsed).toBeGreaterThanOrEqual(400);
  });

  it('takes turns in arrival order, each after a turn of the event loop', async () => {
    const pacer = new ReplayPacer({ eventsPerSecond: 1_000_000 });
    const order: string[] = [];
    let immediate = false;
    setImmediate(() => (immediate = true));
    await Promise.all([pacer.turn(1).then(() => order.push(`a${immediate}`)), pacer.turn(1).then(() => order.push('b'))]);
    expect(order).toEqual(['atrue', 'b']);
  });
});

describe('ReplayPacer and subscribers that leave', () => {
  it('lets a ticket whose replay has ended pass without waiting or taking tokens', async () => {
    // 100 a second, 10 at most in the bucket: five bursts of 10 that were still served would hold the sixth about 0.4 s.
    const pacer = new ReplayPacer({ eventsPerSecond: 100 });
    await pacer.turn(10);
    const left = Array.from({ length: 5 }, () => pacer.turn(10, () => true));
    const started = performance.now();
    await Promise.all(left);
    await pacer.turn(10);
    // The bucket was empty: the one real burst waits for its own 10 tokens (0.1 s), no more.
    expect(performance.now() - started).toBeLessThan(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(80);
  });
});
