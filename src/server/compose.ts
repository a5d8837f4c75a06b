import { AccessPolicy } from '../auth/access-policy.js';
import { Authenticator } from '../auth/authenticator.js';
import { AuditFeed } from '../audit/audit-feed.js';
import { AuditStore } from '../audit/audit-store.js';
import { AuditService } from '../audit/audit.service.js';
import type { EventBus } from '../audit/event-bus.js';
import { createEventBus } from '../audit/redis-event-bus.js';
import { startRetention } from '../audit/retention.js';
import { Ledger } from '../audit/ledger.js';
import type { Config } from '../config.js';
import { openDatabase, type Database, type DatabaseOptions } from '../db/orm.js';
import type { Services } from '../graphql/context.js';
import { KeyCache } from '../keys/key-cache.js';
import { ExpirySweeper } from '../keys/expiry-sweeper.js';
import { KeyTransaction } from '../keys/key-transaction.js';
import { KnownKeys } from '../keys/known-keys.js';
import { KeysService } from '../keys/keys.service.js';
import { LeakReports } from '../keys/leak-reports.js';
import { ScopeCatalogue } from '../keys/scopes.js';
import { VerifyService } from '../keys/verify.service.js';
import type { Logger } from '../logger.js';
import { createLimiter, Throttle } from '../throttle/throttle.js';
import { LocalCreditCounter, type CreditCounter } from '../throttle/credit-counter.js';
import { Credits } from '../throttle/credits.js';
import { RedisCreditCounter } from '../throttle/redis-credit-counter.js';
import { creditLoader, CreditsService } from '../keys/credits.service.js';
import { UsageService } from '../usage/usage.service.js';
import { TargetGuard, type HostResolver } from '../webhooks/target-guard.js';
import { WebhookDispatcher } from '../webhooks/webhook-dispatcher.js';
import { SecretBox } from '../webhooks/webhook-secret.js';
import { WebhooksService } from '../webhooks/webhooks.service.js';

/** What changing keys needs: all the CLI runs on, and the base of the server's services. */
export interface KeyServices {
  db: Database;
  bus: EventBus;
  ledger: Ledger;
  catalogue: ScopeCatalogue;
  policy: AccessPolicy;
  /** Key writes with their events, published after commit (the first admin key's too). */
  transaction: KeyTransaction;
  keys: KeysService;
}

/**
 * The one shutdown path: a disposer per long-lived resource, run once, in reverse order of
 * creation; a failing step is logged and the next still runs. Resolves to the steps' errors,
 * for a caller that must not report success after one (the CLI).
 */
export class Shutdown {
  private readonly steps: Array<() => Promise<void> | void> = [];
  private running: Promise<unknown[]> | undefined;

  constructor(private readonly logger: Logger) {}

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  run(): Promise<unknown[]> {
    return (this.running ??= this.disposeAll());
  }

  private async disposeAll(): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
        this.logger.error({ err: error }, 'error during shutdown');
      }
    }
    return errors;
  }
}

export interface ComposeOptions {
  database?: DatabaseOptions;
  /** 'keys': only what changing keys needs, with no background work (the CLI); 'all' by default. */
  only?: 'keys' | 'all';
  /** The one clock of credit refills and expiry sweeps (default Date.now); tests move it. */
  now?: () => number;
  /** How webhook hosts are resolved (default: the system's DNS); tests resolve names of their own. */
  resolver?: HostResolver;
}

export interface Composition<S> {
  services: S;
  /** Every part's disposer; the caller adds its own (HTTP server, sockets) to the same path. */
  shutdown: Shutdown;
}

/**
 * Builds the service's parts from the config, the one place they are wired: the server's
 * start(), the CLI's local commands and the benchmark's instances all come through here.
 * On a failure part-way, what was built is disposed of before the error is rethrown.
 */
export async function compose(config: Config, logger: Logger, options: ComposeOptions & { only: 'keys' }): Promise<Composition<KeyServices>>;
export async function compose(config: Config, logger: Logger, options?: ComposeOptions): Promise<Composition<Services & KeyServices>>;
export async function compose(config: Config, logger: Logger, options: ComposeOptions = {}): Promise<Composition<KeyServices | (Services & KeyServices)>> {
  const shutdown = new Shutdown(logger);
  try {
    const now = options.now ?? Date.now;
    const core = await composeKeys(config, logger, shutdown, options.database, now);
    const services = options.only === 'keys' ? core : await composeServing(config, logger, shutdown, core, now, options.resolver);
    return { services, shutdown };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

async function composeKeys(config: Config, logger: Logger, shutdown: Shutdown, database: DatabaseOptions | undefined, now: () => number): Promise<KeyServices> {
  const db = await openDatabase(config.databaseUrl, database);
  shutdown.add(() => db.close());
  // With REDIS_URL, every instance hears of a change at once (the CLI's too).
  const bus = createEventBus(config, logger);
  shutdown.add(() => bus.close());
  const ledger = new Ledger(db, bus, logger, config.ledgerFlushMs, config.ledgerMaxPending, config.auditRefusalWindowSeconds * 1_000);
  shutdown.add(() => ledger.stop());
  const catalogue = new ScopeCatalogue(config.extraScopes);
  const policy = new AccessPolicy(ledger);
  const transaction = new KeyTransaction(db, ledger, bus);
  const keys = new KeysService(transaction, policy, catalogue, { ...keyLimitsOf(config), now });
  return { db, bus, ledger, catalogue, policy, transaction, keys };
}

/** The limit a key gets when its creator names none (the first admin key's too). */
export function keyLimitsOf(config: Config): { defaultRateLimit: number; defaultRateWindowSeconds: number } {
  return { defaultRateLimit: config.defaultRateLimit, defaultRateWindowSeconds: config.defaultRateWindowSeconds };
}

/** The parts that answer requests, and the background work of a serving instance. */
async function composeServing(
  config: Config,
  logger: Logger,
  shutdown: Shutdown,
  core: KeyServices,
  now: () => number,
  resolver: HostResolver | undefined,
): Promise<Services & KeyServices> {
  const { db, bus, ledger, catalogue, policy, transaction, keys } = core;
  // With several instances, invalidations come over the bus; while it is down, cached keys are trusted briefly only.
  const cache = new KeyCache(config.keyCacheSize, { inSync: () => bus.healthy(), unsyncedTtlMs: config.keyCacheUnsyncedTtlMs });
  // Every instance's key changes name the key's digest and merchant, creations included: the map of known keys learns new ones from them.
  const known = new KnownKeys(db);
  bus.onKeyChange((change) => {
    cache.invalidate(change.digest);
    known.add(change.digest, change.merchantId);
  });
  bus.onResync(() => {
    cache.clear();
    // Keys made elsewhere while the bus was away were not heard of: read the digests again.
    known.load().catch((error: unknown) => logger.error({ err: error }, 'could not reload the known key digests'));
  });
  await known.load();
  const store = new AuditStore(db);
  const audit = new AuditService(store, policy);
  const feed = new AuditFeed(store, audit, bus, logger, {
    maxQueuedBytes: config.wsMaxBufferedBytes,
    maxPerKey: config.feedMaxSubscriptionsPerKey,
    maxPerMerchant: config.feedMaxSubscriptionsPerMerchant,
    replayEventsPerSecond: config.feedReplayEventsPerSecond,
  });
  await feed.start();
  shutdown.add(() => feed.stop());
  const authenticator = new Authenticator(db, cache, known);
  const limiter = createLimiter(config, logger);
  shutdown.add(() => limiter.close());
  // A shared limiter that is not up yet would answer the first requests by its outage policy.
  const [limiterUp, busUp] = await Promise.all([limiter.ready(2_000), bus.ready(2_000)]);
  if (!limiterUp) logger.warn('rate limiter store not reachable at start; counting per instance meanwhile');
  if (!busUp) logger.warn('event bus not reachable at start; other instances cannot be heard until it is');
  const throttle = new Throttle(limiter, ledger, {
    ipLimit: config.ipRateLimit,
    ipWindowSeconds: config.ipRateWindowSeconds,
    failOpenForKeys: config.limiterFailOpenForKeys,
    failOpenForAnonymous: config.limiterFailOpenForAnonymous,
  });
  // Credits are counted where the rate limit is: in process, or in Redis with REDIS_URL.
  const load = creditLoader(transaction, now);
  const counter: CreditCounter = config.redisUrl
    ? new RedisCreditCounter({ url: config.redisUrl, prefix: config.redisPrefix, logger, failOpen: config.limiterFailOpenForKeys }, load)
    : new LocalCreditCounter(load);
  shutdown.add(() => counter.close());
  const credits = new Credits(counter, ledger, now);
  const creditsService = new CreditsService(transaction, policy, credits, keys);
  const verify = new VerifyService(authenticator, throttle, ledger, catalogue, policy, credits);

  const leaks = new LeakReports(transaction, config.leakedKeyAction);

  const expiries = new ExpirySweeper(transaction, { noticeSeconds: config.keyExpiryNoticeSeconds, now: () => new Date(now()) });
  const sweeper = setInterval(() => {
    expiries.sweep().catch((error) => logger.error({ err: error }, 'expiry sweep failed'));
  }, config.expirySweepMs);
  sweeper.unref();
  shutdown.add(() => clearInterval(sweeper));
  shutdown.add(
    startRetention(db, logger, {
      retentionDays: config.auditRetentionDays,
      intervalMs: config.auditPruneIntervalMs,
      firstRunMs: Math.min(5_000, config.auditPruneIntervalMs),
    }),
  );
  const usage = new UsageService(db, policy);
  const hooks = config.webhooks;
  const guard = new TargetGuard({ allowHttp: hooks.allowHttp, allowPrivate: hooks.allowPrivate, resolver });
  const box = new SecretBox({ key: hooks.secretKey, file: hooks.secretKeyFile });
  const webhooks = new WebhooksService(transaction, policy, guard, box);
  // Loaded here: the CLI's key-only composition never sends a webhook and skips loading undici.
  const { WebhookSender } = await import('../webhooks/webhook-sender.js');
  const dispatcher = new WebhookDispatcher(db, transaction, bus, new WebhookSender(guard, hooks.timeoutMs), box, logger, hooks);
  dispatcher.start();
  // Stopped before the ledger and the database: an acknowledged delivery in flight is still recorded.
  shutdown.add(() => dispatcher.stop());
  return { db, keys, policy, transaction, catalogue, ledger, bus, authenticator, limiter, throttle, verify, leaks, audit, feed, credits, creditsService, usage, webhooks, dispatcher };
}
