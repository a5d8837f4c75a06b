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
