import 'reflect-metadata';
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { pino } from 'pino';
import { benchConfig } from './bench-config.js';
import { SYSTEM_ACTOR } from '../src/auth/principal.js';
import { start, type App } from '../src/server/app.js';

/** A line of the report, as bench/run.ts prints it (the BenchResult of bench/suite.ts, kept local so this file runs on its own). */
interface BenchResult {
  name: string;
  p99Ms?: number;
  cpuMicrosPerRequest?: number;
  target?: { ok: boolean; description: string };
  note?: string;
}

const SUBSCRIBERS = Number(process.env.FANOUT_SUBSCRIBERS ?? 1_000);
const EVENTS = 200;
const P99_TARGET_MS = 100;
const KIB_TARGET = 64;
/** Events a second in the steady-rate case (20,000 deliveries a second to 1,000 subscribers). */
const RATE = 20;
/** The grouped burst's deliveries a second, over the per-subscriber path's in the same run. */
const BURST_TARGET = 5;
/** The key id the benchmark's events carry and the subscribers filter on. */
const FEED_KEY = 'key_bench_feed';
const MERCHANT = 'bench';
/** How long the subscribers sit idle before their memory is read (V8 gives back young-generation space when allocation stops). */
const IDLE_MS = Number(process.env.FANOUT_IDLE_MS ?? 5_000);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** Wall-clock milliseconds, compared with the clients process's (performance.timeOrigin drifts apart between processes when the clock is adjusted). */
const now = () => Date.now();
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Memory = ReturnType<typeof memory>;
type Filters = 'same' | 'own';

async function waitUntil(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await pause(50);
  }
}

function memory() {
  gc();
  gc();
  const { heapUsed, heapTotal, external, rss } = process.memoryUsage();
  return { heapUsed, heapTotal, external, rss };
}

interface Arrival {
  first: number;
  last: number;
}

interface Clients {
  next(seq: number, timeoutMs?: number): Promise<Arrival>;
  report(): Promise<{ errors: number; closedEarly: number }>;
  stop(): Promise<void>;
}

/** Starts the subscribers' process and waits until the server has registered every subscription. */
async function startClients(app: App, key: string, count: number, filters: Filters): Promise<Clients> {
  const script = fileURLToPath(new URL('./fanout-clients.js', import.meta.url));
  const options = { url: `${app.url.replace(/^http/, 'ws')}/graphql`, key, count, keyId: FEED_KEY, filters, merchantId: MERCHANT };
  const child = fork(script, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const arrivals = new Map<number, Arrival>();
  const waiters = new Map<number, (value: Arrival) => void>();
  let reported: ((value: { errors: number; closedEarly: number }) => void) | null = null;
  child.on('message', (message: { seq?: number; first?: number; last?: number; errors?: number; closedEarly?: number }) => {
    if (typeof message.seq === 'number') {
      const value = { first: message.first!, last: message.last! };
      const waiter = waiters.get(message.seq);
      if (waiter) waiter(value);
      else arrivals.set(message.seq, value);
    } else if (typeof message.errors === 'number') reported?.({ errors: message.errors, closedEarly: message.closedEarly! });
  });
  const deadline = Date.now() + 120_000;
  const base = app.services.feed.stats.subscribers;
  while (app.services.feed.stats.subscribers < base + count) {
    if (Date.now() > deadline) throw new Error(`only ${app.services.feed.stats.subscribers - base} of ${count} subscribers registered`);
    await pause(50);
  }
  return {
    next(seq, timeoutMs = 10_000) {
      const ready = arrivals.get(seq);
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`event ${seq} did not reach every subscriber`)), timeoutMs);
        waiters.set(seq, (value) => {
          clearTimeout(timer);
          waiters.delete(seq);
          resolve(value);
        });
      });
    },
    report: () => new Promise((resolve) => ((reported = resolve), child.send({ report: true }))),
    stop: () => new Promise((resolve) => (child.once('exit', () => resolve()), child.send({ stop: true }))),
  };
}

/** One keyring server for the fan-out cases, its monitor key, and the writes of benchmark events. */
async function startServer(dir: string, groupedFanOut: boolean) {
  mkdirSync(dir);
  // One monitor key holds all 1,000 subscriptions from one address: the caps a merchant's keys
  // would meet are lifted here, since the fan-out itself is what is measured.
  const config = benchConfig(dir, 'warn', {
    FEED_MAX_SUBSCRIPTIONS_PER_KEY: '2000',
    FEED_MAX_SUBSCRIPTIONS_PER_MERCHANT: '2000',
    MAX_CONNECTIONS_PER_IP: '5000',
  });
  const app = await start(config, { logDestination: pino.destination({ dest: '/dev/null', sync: false }), onAdminKey: () => {}, groupedFanOut });
  const monitor = await app.services.keys.create(SYSTEM_ACTOR, {
    merchantId: MERCHANT,
    name: 'fan-out monitor',
    type: 'SECRET',
    scopes: ['audit:read'],
    rateLimit: { limit: 100_000, windowSeconds: 60 },
  });
  const write = (seq: number) => app.services.ledger.append({ type: 'KEY_USED', merchantId: MERCHANT, keyId: FEED_KEY, metadata: { seq } });
  return { app, monitor, write };
}
type Server = Awaited<ReturnType<typeof startServer>>;

/** A few events through every path before measuring. */
async function warmUp({ app, write }: Server, clients: Clients, from: number): Promise<void> {
  for (let seq = from; seq < from + 10; seq++) {
    write(seq);
    await app.services.ledger.flush();
    await clients.next(seq);
  }
}

/** Events one at a time, each after the previous one reached every subscriber: commit → first and last subscriber. */
async function oneAtATime({ app, write }: Server, clients: Clients, from: number) {
  const latencies: number[] = [];
  const firsts: number[] = [];
  const cpu = process.cpuUsage();
  for (let seq = from; seq < from + EVENTS; seq++) {
    write(seq);
    await app.services.ledger.flush();
    const committed = now();
    const { first, last } = await clients.next(seq);
    latencies.push(last - committed);
    firsts.push(first - committed);
    await pause(5);
  }
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  firsts.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), firstP50: percentile(firsts, 50), cpuPerDelivery: (used.user + used.system) / (EVENTS * SUBSCRIBERS) };
}

/** `RATE` events a second, written on a clock whatever the deliveries do: commit → last subscriber of each. */
async function steadyRate({ app, write }: Server, clients: Clients, from: number) {
  // The commit of each event is when a flush called right after it resolves: before its publication
  // (deferred a turn), so before any fan-out work, even when the server falls behind.
  const committed = new Map<number, number>();
  const arrivals: Array<Promise<Arrival>> = [];
  const cpu = process.cpuUsage();
  const begin = now();
  for (let seq = from; seq < from + EVENTS; seq++) {
    const due = begin + ((seq - from) * 1000) / RATE;
    if (due > now()) await pause(due - now());
    write(seq);
    void app.services.ledger.flush().then(() => committed.set(seq, now()));
    arrivals.push(clients.next(seq, 30_000));
  }
  const settled = await Promise.allSettled(arrivals);
  const used = process.cpuUsage(cpu);
  const latencies = settled.flatMap((result, index) => (result.status === 'fulfilled' ? [result.value.last - committed.get(from + index)!] : []));
  latencies.sort((a, b) => a - b);
  return {
    delivered: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuPerDelivery: (used.user + used.system) / (EVENTS * SUBSCRIBERS),
    seconds: (now() - begin) / 1000,
  };
}

/** `EVENTS` events committed at once: deliveries a second until the last subscriber has the last one. */
async function burst({ app, write }: Server, clients: Clients, from: number) {
  for (let seq = from; seq < from + EVENTS; seq++) write(seq);
  await app.services.ledger.flush();
  const committed = now();
  let lastArrival = 0;
  for (let seq = from; seq < from + EVENTS; seq++) lastArrival = Math.max(lastArrival, (await clients.next(seq, 120_000)).last);
  const ms = lastArrival - committed;
  return { ms, perSecond: (EVENTS * SUBSCRIBERS) / (ms / 1000) };
}

/**
 * The ceiling: the same burst's frames (graphql-ws `next` messages with the payload keyring
 * renders) sent by a bare `ws` loop to the same server-side sockets, with nothing else done.
 */
async function bareBroadcast({ app, monitor }: Server, clients: Clients, from: number) {
  const sockets = [...app.sockets.socketsOf(monitor.key.id)];
  const occurredAt = new Date().toISOString();
  const start = now();
  for (let seq = from; seq < from + EVENTS; seq++) {
    const payload = JSON.stringify({ data: { auditEvents: { id: String(1_000_000 + seq), type: 'KEY_USED', occurredAt, metadata: { seq } } } });
    for (const socket of sockets) socket.send(`{"id":"1","type":"next","payload":${payload}}`);
  }
  let lastArrival = 0;
  for (let seq = from; seq < from + EVENTS; seq++) lastArrival = Math.max(lastArrival, (await clients.next(seq, 120_000)).last);
  const ms = lastArrival - start;
  return { sockets: sockets.length, ms, perSecond: (EVENTS * sockets.length) / (ms / 1000) };
}

async function withClients<T>(server: Server, filters: Filters, run: (clients: Clients) => Promise<T>): Promise<T & { errors: number; closedEarly: number }> {
  const clients = await startClients(server.app, server.monitor.secret, SUBSCRIBERS, filters);
  try {
    const result = await run(clients);
    return { ...result, ...(await clients.report()) };
  } finally {
    await clients.stop();
    await waitUntil(() => server.app.services.feed.stats.subscribers === 0);
  }
}

/**
 * Fan-out of the live audit feed on one instance: 1,000 graphql-transport-ws subscribers (in a
 * child process) of one server with the grouped fan-out, then of one with the per-subscriber path
 * it replaced (each subscription executed and serialised by graphql-ws), in the same run.
 * Latency is from commit (the ledger's flush resolving) to the last subscriber's receipt:
 * with events one at a time, and at a steady 20 a second. Throughput: 200 events committed
 * at once, beside a bare `ws` broadcast of the same frames to the same sockets (the ceiling),
 * and with every subscriber filtering on its own (1,000 groups, the worst case). Memory: the
 * server's per idle subscriber (heap and RSS after GC, before and after they connect).
 */
export async function runFanout(log: (message: string) => void = console.log): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-fanout-'));
  let server: Server | undefined;
  try {
    server = await startServer(join(dir, 'grouped'), true);
    const grouped = server;
    // Two waves of subscribers: the first also pays for one-time growth (the young generation
    // grows under the connection burst and is not given back); the second, connected after the
    // first has gone, measures what each subscriber keeps in steady state.
    const cold = memory();
    const firstWave = await withClients(grouped, 'same', async () => {
      await pause(1_000);
      return { first: memory() };
    });
    await pause(1_000);
    const warm = memory();
    const same = await withClients(grouped, 'same', async (clients) => {
      await pause(IDLE_MS);
      const idle = memory();
      await warmUp(grouped, clients, -10);
      const groups = grouped.app.services.feed.stats.groups;
      const single = await oneAtATime(grouped, clients, 0);
      const steady = await steadyRate(grouped, clients, 1_000);
      const once = await burst(grouped, clients, 2_000);
      const ceiling = await bareBroadcast(grouped, clients, 3_000);
      return { idle, groups, single, steady, once, ceiling };
    });
    const per = (to: Memory, from: Memory, field: keyof Memory) => round((to[field] - from[field]) / SUBSCRIBERS / 1024);
    const heapPer = per(same.idle, warm, 'heapUsed');
    // RSS moves with V8's heap sizing more than with what is live; the first wave's growth is the conservative figure.
    const rssPer = Math.max(per(firstWave.first, cold, 'rss'), per(same.idle, warm, 'rss'));
    log(`fan-out: ${SUBSCRIBERS} idle subscribers, each: heap used +${heapPer} KiB, RSS +${per(same.idle, warm, 'rss')} KiB in steady state (first wave: RSS +${per(firstWave.first, cold, 'rss')} KiB)`);
    log(`fan-out, grouped (${same.groups} group): one at a time p50 ${round(same.single.p50)} ms, p99 ${round(same.single.p99)} ms; ${RATE}/s: ${same.steady.delivered}/${EVENTS} delivered, p50 ${round(same.steady.p50)} ms, p99 ${round(same.steady.p99)} ms; burst ${Math.round(same.once.perSecond)} deliveries/s; bare ws ${Math.round(same.ceiling.perSecond)}/s to ${same.ceiling.sockets} sockets`);
    const ownGrouped = await withClients(grouped, 'own', async (clients) => {
      await warmUp(grouped, clients, 4_000);
      const groups = grouped.app.services.feed.stats.groups;
      return { groups, once: await burst(grouped, clients, 5_000) };
    });
    log(`fan-out, grouped, own filters (${ownGrouped.groups} groups): burst ${Math.round(ownGrouped.once.perSecond)} deliveries/s`);
    await grouped.app.stop();
    server = undefined;

    server = await startServer(join(dir, 'per-subscriber'), false);
    const before = server;
    // The path being replaced may not keep up on a loaded machine: a wave that fails is reported, not fatal.
    const attempt = async <T>(run: () => Promise<T>): Promise<T | null> => {
      try {
        return await run();
      } catch (error) {
        log(`fan-out, per subscriber: ${(error as Error).message}`);
        return null;
      }
    };
    const sameBefore = await attempt(() =>
      withClients(before, 'same', async (clients) => {
        await warmUp(before, clients, -10);
        const steady = await steadyRate(before, clients, 1_000);
        const once = await burst(before, clients, 2_000);
        return { steady, once };
      }),
    );
    if (sameBefore) log(`fan-out, per subscriber: ${RATE}/s: ${sameBefore.steady.delivered}/${EVENTS} delivered, p50 ${round(sameBefore.steady.p50)} ms, p99 ${round(sameBefore.steady.p99)} ms; burst ${Math.round(sameBefore.once.perSecond)} deliveries/s`);
    const ownBefore = await attempt(() =>
      withClients(before, 'own', async (clients) => {
        await warmUp(before, clients, 4_000);
        return { once: await burst(before, clients, 5_000) };
      }),
    );
    if (ownBefore) log(`fan-out, per subscriber, own filters: burst ${Math.round(ownBefore.once.perSecond)} deliveries/s`);

    const clean = [same, ownGrouped].every((wave) => wave.errors === 0 && wave.closedEarly <= 0);
    const beforeBurst = sameBefore?.once.perSecond ?? 0;
    const speedup = same.once.perSecond / beforeBurst;
    const n = SUBSCRIBERS.toLocaleString('en');
    const deliveries = (value: number) => `${Math.round(value).toLocaleString('en')} deliveries/s`;
    return [
      {
        name: `fan-out: ${EVENTS} events one at a time to ${n} graphql-ws subscribers, commit → last subscriber (CPU per delivery)`,
        p99Ms: round(same.single.p99),
        cpuMicrosPerRequest: same.single.cpuPerDelivery,
        note: `p50 ${round(same.single.p50)} ms; first subscriber p50 ${round(same.single.firstP50)} ms`,
      },
      {
        name: `fan-out: ${RATE} events/s to ${n} subscribers (${(RATE * SUBSCRIBERS).toLocaleString('en')} deliveries/s), commit → last subscriber (CPU per delivery)`,
        p99Ms: round(same.steady.p99),
        cpuMicrosPerRequest: same.steady.cpuPerDelivery,
        target: {
          ok: same.steady.delivered === EVENTS && same.steady.p99 < P99_TARGET_MS && clean,
          description: `every event delivered (${same.steady.delivered}/${EVENTS}), p99 < ${P99_TARGET_MS} ms (p50 ${round(same.steady.p50)} ms; per-subscriber path: ${sameBefore ? `p99 ${round(sameBefore.steady.p99)} ms, ${sameBefore.steady.delivered}/${EVENTS}` : 'failed'})`,
        },
      },
      {
        name: `fan-out: ${EVENTS} events at once to ${n} subscribers`,
        target: {
          ok: sameBefore !== null && speedup >= BURST_TARGET,
          description:
            `≥ ${BURST_TARGET} × the per-subscriber path: ${deliveries(same.once.perSecond)} vs ${sameBefore ? deliveries(beforeBurst) : 'failed'} (${round(speedup, 2)} ×); ` +
            `bare ws broadcast of the same frames ${deliveries(same.ceiling.perSecond)} (grouped at ${round(same.once.perSecond / same.ceiling.perSecond, 2)} × the ceiling)`,
        },
      },
      {
        name: `fan-out: ${EVENTS} events at once to ${n} subscribers with a filter each (${ownGrouped.groups} groups)`,
        target: {
          ok: ownGrouped.once.perSecond >= (ownBefore?.once.perSecond ?? Infinity),
          description: `no slower than the per-subscriber path: ${deliveries(ownGrouped.once.perSecond)} vs ${ownBefore ? deliveries(ownBefore.once.perSecond) : 'failed'}`,
        },
      },
      {
        name: `fan-out: server memory per idle subscriber (${n} connected, after GC)`,
        target: { ok: Math.max(heapPer, rssPer) < KIB_TARGET, description: `< ${KIB_TARGET} KiB (heap used ${heapPer} KiB, RSS ${rssPer} KiB)` },
      },
    ];
  } finally {
    await server?.app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The suite bench/run.ts finds (every `bench/*.suite.ts`); after keyring's own cases. */
const fanout = {
  name: 'fanout',
  order: 20,
  run: ({ log }: { log(message: string): void }) => runFanout(log),
};

export default fanout;

// Runnable on its own: `npm run build && node dist/bench/fanout.suite.js`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runFanout();
  console.log(JSON.stringify(results, null, 2));
}
