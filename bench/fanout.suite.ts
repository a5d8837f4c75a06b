import 'reflect-metadata';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

const SUBSCRIBERS = 1_000;
const EVENTS = 200;
const P99_TARGET_MS = 100;
const KIB_TARGET = 50;
/** The key id the benchmark's events carry and the subscribers filter on. */
const FEED_KEY = 'key_bench_feed';
/** How long the subscribers sit idle before their memory is read (V8 gives back young-generation space when allocation stops). */
const IDLE_MS = Number(process.env.FANOUT_IDLE_MS ?? 5_000);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const now = () => performance.timeOrigin + performance.now();
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

type Memory = ReturnType<typeof memory>;

async function waitUntil(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function memory() {
  gc();
  gc();
  const { heapUsed, heapTotal, external, rss } = process.memoryUsage();
  return { heapUsed, heapTotal, external, rss };
}

interface Clients {
  next(seq: number, timeoutMs?: number): Promise<{ first: number; last: number }>;
  report(): Promise<{ errors: number; closedEarly: number }>;
  stop(): Promise<void>;
}

/** Starts the subscribers' process and waits until the server has registered every subscription. */
async function startClients(app: App, key: string, count: number): Promise<Clients> {
  const script = fileURLToPath(new URL('./fanout-clients.js', import.meta.url));
  const options = { url: `${app.url.replace(/^http/, 'ws')}/graphql`, key, count, keyId: FEED_KEY };
  const child = fork(script, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const arrivals = new Map<number, { first: number; last: number }>();
  const waiters = new Map<number, (value: { first: number; last: number }) => void>();
  let reported: ((value: { errors: number; closedEarly: number }) => void) | null = null;
  child.on('message', (message: { seq?: number; first?: number; last?: number; errors?: number; closedEarly?: number }) => {
    if (typeof message.seq === 'number') {
      const value = { first: message.first!, last: message.last! };
      const waiter = waiters.get(message.seq);
      if (waiter) waiter(value);
      else arrivals.set(message.seq, value);
    } else if (typeof message.errors === 'number') reported?.({ errors: message.errors, closedEarly: message.closedEarly! });
  });
  const deadline = Date.now() + 60_000;
  while (app.services.feed.stats.subscribers < count) {
    if (Date.now() > deadline) throw new Error(`only ${app.services.feed.stats.subscribers} of ${count} subscribers registered`);
    await new Promise((resolve) => setTimeout(resolve, 50));
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

/**
 * Fan-out of the live audit feed on one instance: 1,000 graphql-ws subscribers (in a child
 * process) and 200 events. Latency is from commit (the ledger's flush resolving) to the
 * last subscriber's receipt, per event, with events paced so each is measured alone; then
 * the same 200 events in one burst for deliveries per second; and the server's memory per
 * idle subscriber (heap and RSS after GC, before and after the subscribers connect).
 */
export async function runFanout(log: (message: string) => void = console.log): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-fanout-'));
  // One monitor key holds all 1,000 subscriptions from one address: the caps a merchant's keys
  // would meet are lifted here, since the fan-out itself is what is measured.
  const config = benchConfig(dir, 'warn', {
    FEED_MAX_SUBSCRIPTIONS_PER_KEY: '2000',
    FEED_MAX_SUBSCRIPTIONS_PER_MERCHANT: '2000',
    MAX_CONNECTIONS_PER_IP: '5000',
  });
  const app = await start(config, { logDestination: pino.destination({ dest: '/dev/null', sync: false }), onAdminKey: () => {} });
  const { ledger, keys } = app.services;
  const monitor = await keys.create(SYSTEM_ACTOR, {
    merchantId: 'bench',
    name: 'fan-out monitor',
    type: 'SECRET',
    scopes: ['audit:read'],
    rateLimit: { limit: 100_000, windowSeconds: 60 },
  });
  const write = (seq: number) => ledger.append({ type: 'KEY_USED', merchantId: 'bench', keyId: FEED_KEY, metadata: { seq } });
  let clients: Clients | undefined;
  try {
    // Two waves of subscribers: the first also pays for one-time growth (the young generation
    // grows under the connection burst and is not given back); the second, connected after the
    // first has gone, measures what each subscriber keeps in steady state.
    const cold = memory();
    clients = await startClients(app, monitor.secret, SUBSCRIBERS);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const first = memory();
    await clients.stop();
    await waitUntil(() => app.services.feed.stats.subscribers === 0);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const warm = memory();
    clients = await startClients(app, monitor.secret, SUBSCRIBERS);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const idle = memory();
    const per = (to: Memory, from: Memory, field: keyof Memory) => round((to[field] - from[field]) / SUBSCRIBERS / 1024);
    const heapPer = per(idle, warm, 'heapUsed');
    // RSS moves with V8's heap sizing more than with what is live; the first wave's growth is the conservative figure.
    const rssPer = Math.max(per(first, cold, 'rss'), per(idle, warm, 'rss'));
    log(
      `fan-out: ${SUBSCRIBERS} idle subscribers, each: heap used +${heapPer} KiB, RSS +${per(idle, warm, 'rss')} KiB in steady state ` +
        `(first wave: heap used +${per(first, cold, 'heapUsed')} KiB, heap total +${per(first, cold, 'heapTotal')} KiB, RSS +${per(first, cold, 'rss')} KiB)`,
    );

    // Warm-up: a few events through every path before measuring.
    for (let seq = -10; seq < 0; seq++) {
      write(seq);
      await ledger.flush();
      await clients.next(seq);
    }

    const latencies: number[] = [];
    const firsts: number[] = [];
    const cpu = process.cpuUsage();
    for (let seq = 0; seq < EVENTS; seq++) {
      write(seq);
      await ledger.flush();
      const committed = now();
      const { first, last } = await clients.next(seq);
      latencies.push(last - committed);
      firsts.push(first - committed);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const used = process.cpuUsage(cpu);
    const cpuPerDelivery = (used.user + used.system) / (EVENTS * SUBSCRIBERS);
    latencies.sort((a, b) => a - b);
    firsts.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    log(`fan-out: commit → last subscriber p50 ${round(p50)} ms, p99 ${round(p99)} ms (first subscriber p50 ${round(percentile(firsts, 50))} ms); server CPU ${round(cpuPerDelivery)} µs per delivery`);

    const burstStart = EVENTS;
    for (let seq = burstStart; seq < burstStart + EVENTS; seq++) write(seq);
    await ledger.flush();
    const committed = now();
    let lastArrival = 0;
    for (let seq = burstStart; seq < burstStart + EVENTS; seq++) lastArrival = Math.max(lastArrival, (await clients.next(seq, 60_000)).last);
    const burstMs = lastArrival - committed;
    const perSecond = (EVENTS * SUBSCRIBERS) / (burstMs / 1000);
    log(`fan-out: burst of ${EVENTS} events to ${SUBSCRIBERS} subscribers in ${round(burstMs)} ms: ${Math.round(perSecond)} deliveries/s`);
    const { errors, closedEarly } = await clients.report();
    if (errors > 0 || closedEarly > 0) log(`fan-out: ${errors} subscriber errors, ${closedEarly} sockets closed early`);

    return [
      {
        name: `fan-out: ${EVENTS} events one at a time to ${SUBSCRIBERS.toLocaleString('en')} graphql-ws subscribers, commit → last subscriber (CPU per delivery)`,
        p99Ms: round(p99),
        cpuMicrosPerRequest: cpuPerDelivery,
        target: {
          ok: p99 < P99_TARGET_MS && errors === 0 && closedEarly === 0,
          description: `p99 < ${P99_TARGET_MS} ms (p50 ${round(p50)} ms; first subscriber p50 ${round(percentile(firsts, 50))} ms)`,
        },
      },
      {
        name: `fan-out: ${EVENTS} events at once to ${SUBSCRIBERS.toLocaleString('en')} subscribers`,
        note: `${Math.round(perSecond).toLocaleString('en')} deliveries/s; the last delivery ${round(burstMs / 1000, 2)} s after the commit`,
      },
      {
        name: `fan-out: server memory per idle subscriber (${SUBSCRIBERS.toLocaleString('en')} connected, after GC)`,
        target: { ok: Math.max(heapPer, rssPer) < KIB_TARGET, description: `< ${KIB_TARGET} KiB (heap used ${heapPer} KiB, RSS ${rssPer} KiB)` },
      },
    ];
  } finally {
    await clients?.stop();
    await app.stop();
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
