import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditFeed } from '../../src/audit/audit-feed.js';
import { AccessPolicy } from '../../src/auth/access-policy.js';
import { SYSTEM_ACTOR } from '../../src/auth/principal.js';
import type { AuditStore } from '../../src/audit/audit-store.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { LocalEventBus } from '../../src/audit/event-bus.js';
import { matches, type EventSelector } from '../../src/audit/event-filter.js';
import { compareIds } from '../../src/protocol.js';
import type { AuditEventRecord } from '../../src/audit/event-types.js';
import type { FeedFrames, FeedSink, Rendered } from '../../src/audit/feed-subscription.js';
import { waitFor } from '../helpers/server.js';
import { keyUsedRecord } from '../helpers/event-record.js';

/** The ledger as a sorted array; `visible` ids are the committed ones a reader can see. */
class MemoryStore {
  rows: AuditEventRecord[] = [];
  reads = 0;
  add(id: number, merchantId = 'm1'): AuditEventRecord {
    const row = keyUsedRecord(id, merchantId);
    this.rows.push(row);
    this.rows.sort((a, b) => compareIds(a.id, b.id));
    return row;
  }
  async maxId() {
    return this.rows.at(-1)?.id ?? '0';
  }
  async since(after: string, limit: number) {
    this.reads += 1;
    return this.rows.filter((r) => compareIds(r.id, after) > 0).slice(0, limit);
  }
  rangeReads = 0;
  async range(selector: EventSelector, after: string, until: string, limit: number) {
    this.rangeReads += 1;
    await new Promise((resolve) => setTimeout(resolve, 1));
    return this.rows.filter((r) => compareIds(r.id, after) > 0 && compareIds(r.id, until) <= 0 && matches(selector, r)).slice(0, limit);
  }
}

const logger = pino({ level: 'silent' });
const DONE = { done: true, value: undefined };
const admin = SYSTEM_ACTOR;

async function collect(iterator: AsyncIterator<AuditEventRecord>, count: number, into: string[] = []): Promise<string[]> {
  while (into.length < count) {
    const next = await iterator.next();
    if (next.done) break;
    into.push(next.value.id);
  }
  return into;
}

describe('AuditFeed sequencer', () => {
  let feed: AuditFeed | undefined;
  afterEach(() => feed?.stop());

  const setup = async (gapGraceMs = 100, pageSize = 5) => {
    const store = new MemoryStore();
    const bus = new LocalEventBus();
    const audit = new AuditService(store as unknown as AuditStore, new AccessPolicy({ append: () => {} }));
    feed = new AuditFeed(store as unknown as AuditStore, audit, bus, logger, { maxQueuedBytes: 1 << 20, gapGraceMs, pageSize });
    return { store, bus, feed };
  };

  it('fans out a batch that continues the head directly, without reading the store', async () => {
    const { store, bus, feed } = await setup();
    await feed.start();
    const sub = feed.subscribe(admin, {});
    const received = collect(sub, 3);
    bus.publishEvents([store.add(1), store.add(2), store.add(3)]);
    expect(await received).toEqual(['1', '2', '3']);
    expect(store.reads).toBe(0);
    expect(feed.stats.directBatches).toBe(1);
  });

  it('reads the store on a bare wake-up (a bus that carries no events, as a Redis one may)', async () => {
    const store = new MemoryStore();
    let listener: (events: readonly AuditEventRecord[]) => void = () => {};
    const bus = { onEvents: (l: typeof listener) => ((listener = l), () => {}) } as unknown as LocalEventBus;
    const audit = new AuditService(store as unknown as AuditStore, new AccessPolicy({ append: () => {} }));
    feed = new AuditFeed(store as unknown as AuditStore, audit, bus, logger, { maxQueuedBytes: 1 << 20 });
    await feed.start();
    const received = collect(feed.subscribe(admin, {}), 2);
    store.add(1);
    store.add(2);
    listener([]);
    expect(await received).toEqual(['1', '2']);
    expect(store.reads).toBe(1);
  });

  it('puts publications that arrive out of id order back in order, with one read', async () => {
    const { store, bus, feed } = await setup();
    await feed.start();
    const subs = [feed.subscribe(admin, {}), feed.subscribe(admin, {})];
    const received = subs.map((sub) => collect(sub, 4));
    const [a, b, c, d] = [store.add(1), store.add(2), store.add(3), store.add(4)];
    bus.publishEvents([c!, d!]);
    bus.publishEvents([a!, b!]);
    expect(await Promise.all(received)).toEqual([
      ['1', '2', '3', '4'],
      ['1', '2', '3', '4'],
    ]);
    // One read for both subscribers; the late batch is already behind the head.
    expect(store.reads).toBe(1);
  });

  it('waits for a hole in the ids, then steps over it once the grace period has passed', async () => {
    const { store, bus, feed } = await setup(150);
    await feed.start();
    const sub = feed.subscribe(admin, {});
    const received: string[] = [];
    const done = collect(sub, 4, received);
    store.add(1);
    store.add(2);
    const late = store.add(4); // id 3 belongs to a transaction that has not committed (yet)
    const started = Date.now();
    bus.publishEvents([late]);
    await waitFor(() => received.length === 2);
    expect(received).toEqual(['1', '2']);
    // id 3 commits within the grace period: it is delivered before 4.
    bus.publishEvents([store.add(3)]);
    await waitFor(() => received.length === 4);
    expect(received).toEqual(['1', '2', '3', '4']);
    expect(feed.stats.gapsSkipped).toBe(0);

    // id 6 never commits (rolled back): 7 arrives after the grace period, not before.
    const seven = store.add(7);
    store.add(5);
    bus.publishEvents([store.rows.find((r) => r.id === '5')!, seven]);
    const more = collect(sub, 2);
    const t0 = Date.now();
    expect(await more).toEqual(['5', '7']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(feed.stats.gapsSkipped).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    await done;
  });

  it('resumes exactly: replay in pages up to the head, then live, no duplicate', async () => {
    const { store, bus, feed } = await setup(100, 5);
    for (let id = 1; id <= 23; id++) store.add(id, id % 3 === 0 ? 'm2' : 'm1');
    await feed.start();
    const all = feed.subscribe(admin, { after: '4' });
    const m1 = feed.subscribe(admin, { after: '0', merchantId: 'm1' });
    // Live events are written while the replays are still running.
    const writer = (async () => {
      for (let id = 24; id <= 40; id++) {
        const row = store.add(id, id % 3 === 0 ? 'm2' : 'm1');
        bus.publishEvents([row]);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const got = await collect(all, 36);
    await writer;
    expect(got).toEqual(Array.from({ length: 36 }, (_, i) => String(i + 5)));
    const gotM1 = await collect(m1, 27);
    expect(gotM1).toEqual(store.rows.filter((r) => r.merchantId === 'm1').map((r) => r.id));
  });

  it('replays what it fanned out lately from memory, and reads the store for older events and across a hole it stepped over', async () => {
    const { store, bus, feed } = await setup(50, 5);
    for (let id = 1; id <= 10; id++) store.add(id);
    await feed.start();
    for (let id = 11; id <= 20; id++) bus.publishEvents([store.add(id)]);
    await waitFor(() => feed.stats.head === '20');
    // From before the start: the store up to the head the feed started from, then memory.
    expect(await collect(feed.subscribe(admin, { after: '3' }), 17)).toEqual(Array.from({ length: 17 }, (_, i) => String(i + 4)));
    expect(store.rangeReads).toBe(2);
    store.rangeReads = 0;
    expect(await collect(feed.subscribe(admin, { after: '12' }), 8)).toEqual(Array.from({ length: 8 }, (_, i) => String(i + 13)));
    expect(store.rangeReads).toBe(0);

    // 21 does not commit within the grace period: the feed steps over it. It commits later: a replay across it reads the store, which has it.
    bus.publishEvents([store.add(22)]);
    await waitFor(() => feed.stats.head === '22');
    expect(feed.stats.gapsSkipped).toBe(1);
    store.add(21);
    bus.publishEvents([store.add(23)]);
    await waitFor(() => feed.stats.head === '23');
    expect(await collect(feed.subscribe(admin, { after: '15' }), 8)).toEqual(Array.from({ length: 8 }, (_, i) => String(i + 16)));
    expect(store.rangeReads).toBeGreaterThan(0);
    store.rangeReads = 0;
    expect(await collect(feed.subscribe(admin, { after: '21' }), 2)).toEqual(['22', '23']);
    expect(store.rangeReads).toBe(0);
  });

  it('keeps a reading subscriber whose replay outlasts its live buffer: the replay is extended instead', async () => {
    const store = new MemoryStore();
    const bus = new LocalEventBus();
    const audit = new AuditService(store as unknown as AuditStore, new AccessPolicy({ append: () => {} }));
    feed = new AuditFeed(store as unknown as AuditStore, audit, bus, logger, { maxQueuedBytes: 2_000, pageSize: 5 });
    for (let id = 1; id <= 60; id++) store.add(id);
    await feed.start();
    let overflowed = 0;
    const sub = feed.subscribe(admin, { after: '0' }, { overflow: () => (overflowed += 1) });
    const writer = (async () => {
      for (let id = 61; id <= 160; id++) {
        bus.publishEvents([store.add(id)]);
        if (id % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const got: string[] = [];
    while (got.length < 160) {
      const next = await sub.next();
      if (next.done) break;
      got.push(next.value.id);
    }
    await writer;
    expect(overflowed).toBe(0);
    expect(sub.replayExtensions).toBeGreaterThan(0);
    expect(got).toEqual(Array.from({ length: 160 }, (_, i) => String(i + 1)));
  });

  it('closes a subscriber whose queue passes the cap, and only that one', async () => {
    const store = new MemoryStore();
    const bus = new LocalEventBus();
    const audit = new AuditService(store as unknown as AuditStore, new AccessPolicy({ append: () => {} }));
    feed = new AuditFeed(store as unknown as AuditStore, audit, bus, logger, { maxQueuedBytes: 4_000 });
    await feed.start();
    let overflowed = 0;
    const slow = feed.subscribe(admin, {}, { overflow: () => (overflowed += 1) });
    const fast = feed.subscribe(admin, {});
    const received: string[] = [];
    const reading = collect(fast, 100, received);
    for (let id = 1; id <= 100; id++) {
      bus.publishEvents([store.add(id)]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await reading).toHaveLength(100);
    expect(overflowed).toBe(1);
    expect(slow.queuedBytes).toBe(0);
    expect(await slow.next()).toEqual({ done: true, value: undefined });
    expect(feed.stats.subscribers).toBe(1);
  });

  it('ends a parked subscriber on return() and unregisters it', async () => {
    const { feed } = await setup();
    await feed.start();
    const sub = feed.subscribe(admin, {});
    const pending = sub.next();
    expect(feed.stats.subscribers).toBe(1);
    await sub.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(feed.stats.subscribers).toBe(0);
  });
});

/** A transport that renders and sends frames itself, recording what it sent. */
class FakeFrames implements FeedFrames {
  sent: string[] = [];
  renders = 0;
  pending = 0;
  constructor(
    readonly shape: string,
    private readonly options: { async?: boolean; personal?: string; fail?: boolean } = {},
  ) {}
  render(event: AuditEventRecord): Rendered | Promise<Rendered> {
    this.renders += 1;
    if (this.options.fail) throw new Error('render failed');
    const rendered = { payload: `${this.shape}:${event.id}${this.options.personal ?? ''}`, shared: this.options.personal === undefined };
    // Later events resolve sooner: order must come from the group, not from the renders.
    return this.options.async ? new Promise((resolve) => setTimeout(() => resolve(rendered), 20 - (Number(event.id) % 20))) : rendered;
  }
  send(payload: string): void {
    this.sent.push(payload);
  }
  sink(overrides: Partial<FeedSink> = {}): FeedSink {
    return { overflow: () => {}, pendingBytes: () => this.pending, frames: this, ...overrides };
  }
}

describe('AuditFeed grouped fan-out (subscriptions with frames)', () => {
  let feed: AuditFeed | undefined;
  afterEach(() => feed?.stop());

  const setup = async (maxQueuedBytes = 1 << 20) => {
    const store = new MemoryStore();
    const bus = new LocalEventBus();
    const audit = new AuditService(store as unknown as AuditStore, new AccessPolicy({ append: () => {} }));
    feed = new AuditFeed(store as unknown as AuditStore, audit, bus, logger, { maxQueuedBytes, pageSize: 5 });
    return { store, bus, feed };
  };
  /** Starts a live subscription's consumer, as graphql-ws does: it asks once and is never answered until the end. */
  const consume = (sub: AsyncIterator<AuditEventRecord>) => void sub.next();

  it('renders each event once per group, in id order even when renders finish out of order, and sends every member the same payload', async () => {
    const { store, bus, feed } = await setup();
    await feed.start();
    const a = [new FakeFrames('A', { async: true }), new FakeFrames('A', { async: true }), new FakeFrames('A', { async: true })];
    const b = new FakeFrames('B');
    for (const frames of a) consume(feed.subscribe(admin, {}, frames.sink()));
    consume(feed.subscribe(admin, { merchantId: 'm2' }, b.sink()));
    expect(feed.stats.groups).toBe(2);
    for (let id = 1; id <= 30; id++) {
      bus.publishEvents([store.add(id, id % 3 === 0 ? 'm2' : 'm1')]);
      if (id % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const all = Array.from({ length: 30 }, (_, i) => `A:${i + 1}`);
    await waitFor(() => a.every((frames) => frames.sent.length === 30));
    for (const frames of a) expect(frames.sent).toEqual(all);
    expect(b.sent).toEqual(Array.from({ length: 10 }, (_, i) => `B:${(i + 1) * 3}`));
    expect(a.reduce((sum, frames) => sum + frames.renders, 0)).toBe(30);
    expect(feed.stats.renders).toBe(40);
  });

  it('resumes exactly: the replay as frames, then live frames, no gap and no duplicate while events are written', async () => {
    const { store, bus, feed } = await setup();
    for (let id = 1; id <= 23; id++) store.add(id);
    await feed.start();
    const frames = new FakeFrames('A', { async: true });
    const other = new FakeFrames('A', { async: true });
    consume(feed.subscribe(admin, {}, other.sink()));
    const sub = feed.subscribe(admin, { after: '4' }, frames.sink());
    const writer = (async () => {
      for (let id = 24; id <= 60; id++) {
        bus.publishEvents([store.add(id)]);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    // The iterator yields nothing: the replay, and then live events, go out as frames.
    let yielded = false;
    void sub.next().then((result) => (yielded = !result.done));
    await writer;
    await waitFor(() => frames.sent.at(-1) === 'A:60');
    expect(frames.sent).toEqual(Array.from({ length: 56 }, (_, i) => `A:${i + 5}`));
    expect(other.sent).toEqual(Array.from({ length: 37 }, (_, i) => `A:${i + 24}`));
    await sub.return!();
    expect(yielded).toBe(false);
  });

  it('renders a replayed event once for the group, whichever member replays it first; a payload of its own is rendered for each', async () => {
    const { store, feed } = await setup();
    for (let id = 1; id <= 40; id++) store.add(id);
    await feed.start();
    const replaying = [new FakeFrames('A'), new FakeFrames('A'), new FakeFrames('A')];
    for (const frames of replaying) consume(feed.subscribe(admin, { after: '0' }, frames.sink()));
    const personal = new FakeFrames('B', { personal: '/own' });
    consume(feed.subscribe(admin, { after: '30' }, personal.sink()));
    await waitFor(() => replaying.every((frames) => frames.sent.length === 40) && personal.sent.length === 10);
    for (const frames of replaying) expect(frames.sent).toEqual(Array.from({ length: 40 }, (_, i) => `A:${i + 1}`));
    expect(replaying.reduce((renders, frames) => renders + frames.renders, 0)).toBe(40);
    expect(personal.sent).toEqual(Array.from({ length: 10 }, (_, i) => `B:${i + 31}/own`));
  });

  it('sends a replay as frames at the pace of a slow consumer: it waits for the transport to drain, and the subscriber is not closed', async () => {
    const { store, bus, feed } = await setup(3_000);
    for (let id = 1; id <= 100; id++) store.add(id);
    await feed.start();
    const frames = new FakeFrames('A');
    let release: (() => void) | null = null;
    let overflowed = 0;
    const sink = frames.sink({
      overflow: () => (overflowed += 1),
      drained: () => (frames.sent.length === 30 && !release ? new Promise<void>((resolve) => (release = resolve)) : undefined),
    });
    const sub = feed.subscribe(admin, { after: '0' }, sink);
    consume(sub);
    await waitFor(() => release !== null);
    // The transport holds what was sent: nothing more is sent while live events come, past the cap.
    for (let id = 101; id <= 140; id++) bus.publishEvents([store.add(id)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(frames.sent.length).toBe(30);
    release!();
    await waitFor(() => frames.sent.length === 140);
    expect(frames.sent).toEqual(Array.from({ length: 140 }, (_, i) => `A:${i + 1}`));
    expect(overflowed).toBe(0);
    expect(sub.replayExtensions).toBeGreaterThan(0);
  });

  it('ends a subscription whose replayed event cannot be rendered with the error, rather than leave a gap', async () => {
    const { store, feed } = await setup();
    for (let id = 1; id <= 3; id++) store.add(id);
    await feed.start();
    const sub = feed.subscribe(admin, { after: '0' }, new FakeFrames('A', { fail: true }).sink());
    await expect(sub.next()).rejects.toThrow('render failed');
    expect(feed.stats.subscribers).toBe(0);
  });

  it('closes a member whose socket holds more than the cap, and only that one', async () => {
    const { store, bus, feed } = await setup(4_000);
    await feed.start();
    let overflowed = 0;
    const slow = new FakeFrames('A');
    const fast = new FakeFrames('A');
    const sub = feed.subscribe(admin, {}, slow.sink({ overflow: () => (overflowed += 1) }));
    consume(sub);
    consume(feed.subscribe(admin, {}, fast.sink()));
    await new Promise((resolve) => setImmediate(resolve));
    bus.publishEvents([store.add(1)]);
    await waitFor(() => fast.sent.length === 1);
    slow.pending = 5_000;
    bus.publishEvents([store.add(2)]);
    bus.publishEvents([store.add(3)]);
    await waitFor(() => fast.sent.length === 3);
    expect(overflowed).toBe(1);
    expect(slow.sent).toEqual(['A:1', 'A:2']);
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    expect(feed.stats.subscribers).toBe(1);
  });

  it("renders a payload that is a member's own again for each member", async () => {
    const { store, bus, feed } = await setup();
    await feed.start();
    const one = new FakeFrames('A', { personal: '/one' });
    const two = new FakeFrames('A', { personal: '/two' });
    consume(feed.subscribe(admin, {}, one.sink()));
    consume(feed.subscribe(admin, {}, two.sink()));
    await new Promise((resolve) => setImmediate(resolve));
    bus.publishEvents([store.add(1), store.add(2)]);
    await waitFor(() => two.sent.length === 2);
    expect(one.sent).toEqual(['A:1/one', 'A:2/one']);
    expect(two.sent).toEqual(['A:1/two', 'A:2/two']);
  });

  it('ends every member of a group whose render fails, rather than leave a gap', async () => {
    const { store, bus, feed } = await setup();
    await feed.start();
    const subs = [feed.subscribe(admin, {}, new FakeFrames('A', { fail: true }).sink()), feed.subscribe(admin, {}, new FakeFrames('A').sink())];
    const ends = subs.map((sub) => sub.next());
    const healthy = new FakeFrames('B');
    consume(feed.subscribe(admin, { merchantId: 'm1' }, healthy.sink()));
    bus.publishEvents([store.add(1)]);
    expect(await Promise.all(ends)).toEqual([DONE, DONE]);
    await waitFor(() => healthy.sent.length === 1);
    expect(feed.stats.subscribers).toBe(1);
  });
});
