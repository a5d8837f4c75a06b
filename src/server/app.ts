import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { Authenticator } from '../auth/authenticator.js';
import { AuditFeed } from '../audit/audit-feed.js';
import { AuditStore } from '../audit/audit-store.js';
import { AuditService } from '../audit/audit.service.js';
import { createEventBus } from '../audit/redis-event-bus.js';
import { startRetention } from '../audit/retention.js';
import { Ledger } from '../audit/ledger.js';
import type { Config } from '../config.js';
import { openDatabase, type DatabaseOptions } from '../db/orm.js';
import type { Services } from '../graphql/context.js';
import { createSchema } from '../graphql/schema.js';
import { KeyCache } from '../keys/key-cache.js';
import { AccessPolicy } from '../auth/access-policy.js';
import { ExpirySweeper } from '../keys/expiry-sweeper.js';
import { ensureAdminKey } from '../keys/first-admin-key.js';
import { KeyTransaction } from '../keys/key-transaction.js';
import { KeysService } from '../keys/keys.service.js';
import { VerifyService } from '../keys/verify.service.js';
import { createLimiter, Throttle } from '../throttle/throttle.js';
import { ScopeCatalogue } from '../keys/scopes.js';
import { createLogger, type Logger } from '../logger.js';
import { consoleRoute } from '../console/console.route.js';
import { createApollo } from './apollo.js';
import { createHttpHandler } from './http.js';
import { Metrics } from '../metrics/metrics.js';
import { attachWebSockets, CloseCode, type WsHandles } from './ws.js';

export interface StartOptions {
  /** Where JSON log lines go (default: stdout). */
  logDestination?: DestinationStream;
  /** Receives the first admin key's value (default: printed on stdout, once). */
  onAdminKey?: (value: string) => void;
  database?: DatabaseOptions;
}

export interface App {
  url: string;
  port: number;
  services: Services;
  logger: Logger;
  server: Server;
  /** Graceful stop: no new connections, in-flight requests finish, events flushed, sockets closed with 1001. */
  stop(): Promise<void>;
}

/** Wires every part of the service and starts listening. Each resource gets one disposer, run in reverse order. */
export async function start(config: Config, options: StartOptions = {}): Promise<App> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const disposers: Array<() => Promise<void> | void> = [];
  const dispose = async () => {
    for (const step of disposers.reverse()) {
      try {
        await step();
      } catch (error) {
        logger.error({ err: error }, 'error during shutdown');
      }
    }
  };
  try {
    const db = await openDatabase(config.databaseUrl, options.database);
    disposers.push(() => db.close());
    const bus = createEventBus(config, logger);
    disposers.push(() => bus.close());
    const ledger = new Ledger(db, bus, logger, config.ledgerFlushMs, config.ledgerMaxPending);
    disposers.push(() => ledger.stop());
    // With several instances, invalidations come over the bus; while it is down, cached keys are trusted briefly only.
    const cache = new KeyCache(config.keyCacheSize, { inSync: () => bus.healthy(), unsyncedTtlMs: config.keyCacheUnsyncedTtlMs });
    bus.onKeyChange((change) => cache.invalidate(change.digest));
    bus.onResync(() => cache.clear());
    const catalogue = new ScopeCatalogue(config.extraScopes);
    const policy = new AccessPolicy(ledger);
    const keyTransaction = new KeyTransaction(db, ledger, bus);
    const keyLimits = { defaultRateLimit: config.defaultRateLimit, defaultRateWindowSeconds: config.defaultRateWindowSeconds };
    const keys = new KeysService(keyTransaction, policy, catalogue, keyLimits);
    const store = new AuditStore(db);
    const audit = new AuditService(store, policy);
    const feed = new AuditFeed(store, audit, bus, logger, { maxQueuedBytes: config.wsMaxBufferedBytes });
    await feed.start();
    disposers.push(() => feed.stop());
    const authenticator = new Authenticator(db, cache);
    const limiter = createLimiter(config, logger);
    disposers.push(() => limiter.close());
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
    const verify = new VerifyService(authenticator, throttle, ledger, catalogue, policy);
    const services: Services = { db, keys, policy, catalogue, ledger, bus, authenticator, limiter, throttle, verify, audit, feed };

    const adminKey = await ensureAdminKey(keyTransaction, keyLimits);
    if (adminKey) {
      if (options.onAdminKey) options.onAdminKey(adminKey);
      else process.stdout.write(`Admin key (shown once): ${adminKey}\n`);
    }

    const expiries = new ExpirySweeper(keyTransaction);
    const sweeper = setInterval(() => {
      expiries.recordExpiries().catch((error) => logger.error({ err: error }, 'expiry sweep failed'));
    }, config.expirySweepMs);
    sweeper.unref();
    disposers.push(() => clearInterval(sweeper));
    disposers.push(
      startRetention(db, logger, {
        retentionDays: config.auditRetentionDays,
        intervalMs: config.auditPruneIntervalMs,
        firstRunMs: Math.min(5_000, config.auditPruneIntervalMs),
      }),
    );

    const schema = await createSchema();
    const apollo = createApollo(schema, config, logger);
    await apollo.start();
    disposers.push(() => apollo.stop());

    // The socket registry exists once the WebSocket server is attached; metrics read it lazily.
    let ws: WsHandles | undefined;
    const metrics = new Metrics({
      bus,
      ledgerStats: () => ledger.stats,
      limiterDegradedTakes: () => limiter.degradedTakes(),
      openSockets: () => ws?.sockets.size ?? 0,
      openSubscriptions: () => feed.stats.subscribers,
    });
    disposers.push(() => metrics.close());
    const routes = [metrics.route(), ...(config.console ? [consoleRoute()] : [])];
    const observe = metrics.observeRequest.bind(metrics);
    const server = createServer({ keepAliveTimeout: 5_000 }, createHttpHandler({ config, logger, apollo, services, routes, observe }));
    ws = attachWebSockets(server, schema, config, services, logger);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    disposers.push(() => closeServer(server, config.shutdownGraceMs));
    disposers.push(() => ws!.closeAll(CloseCode.GoingAway, 'Server is shutting down'));

    const port = (server.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    logger.info({ port, database: db.dialect }, 'keyring listening');
    // Log lines are buffered; supervisors and tests wait for this one.
    logger.flush();
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      port,
      services,
      logger,
      server,
      stop: () => (stopping ??= dispose().then(() => logger.flush?.())),
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Stops accepting, lets in-flight requests finish (up to the grace period), then closes what is left. */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
