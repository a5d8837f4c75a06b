import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { Config } from '../config.js';
import type { DatabaseOptions } from '../db/orm.js';
import type { HostResolver } from '../webhooks/target-guard.js';
import type { Services } from '../graphql/context.js';
import { createSchema } from '../graphql/schema.js';
import { createLogger, type Logger } from '../logger.js';
import { consoleRoute } from '../console/console.route.js';
import { createApollo } from './apollo.js';
import { ensureAdminKey } from '../keys/first-admin-key.js';
import { compose, keyLimitsOf } from './compose.js';
import { createHttpHandler } from './http.js';
import { leakRoute } from './leak-route.js';
import { Metrics } from '../metrics/metrics.js';
import { exposeMetrics } from '../metrics/metrics-exposure.js';
import { CloseCode } from '../protocol.js';
import { guardConnections, httpServerOptions } from './connection-guard.js';
import { attachWebSockets, type WsHandles } from './ws.js';
import type { SocketRegistry } from './ws-sockets.js';

export interface StartOptions {
  /** Where JSON log lines go (default: stdout). */
  logDestination?: DestinationStream;
  /** Receives the first admin key's value (default: printed on stdout, once). */
  onAdminKey?: (value: string) => void;
  database?: DatabaseOptions;
  /** The one clock of credit refills and expiry sweeps (default Date.now). */
  now?: () => number;
  /**
   * False: every feed subscription's events are executed and serialised one by one by graphql-ws,
   * as before the grouped fan-out; the benchmark's reference. Default true.
   */
  groupedFanOut?: boolean;
  /** How webhook hosts are resolved (default: the system's DNS). */
  webhookResolver?: HostResolver;
}

export interface App {
  url: string;
  port: number;
  services: Services;
  logger: Logger;
  server: Server;
  /** The open WebSockets, by the key that authenticated them. */
  sockets: SocketRegistry;
  /** Graceful stop: no new connections, in-flight requests finish, events flushed, sockets closed with 1001. */
  stop(): Promise<void>;
}

/** Wires every part of the service (compose()) and starts listening. Each resource gets one disposer, run in reverse order. */
export async function start(config: Config, options: StartOptions = {}): Promise<App> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const { services, shutdown } = await compose(config, logger, { database: options.database, now: options.now, resolver: options.webhookResolver });
  const { db, keys, ledger, limiter, feed, bus } = services;
  try {
    const adminKey = await ensureAdminKey(services.transaction, keyLimitsOf(config));
    if (adminKey) {
      if (options.onAdminKey) options.onAdminKey(adminKey);
      else process.stdout.write(`Admin key (shown once): ${adminKey}\n`);
    }

    const schema = await createSchema();
    const apollo = createApollo(schema, config, logger);
    await apollo.start();
    shutdown.add(() => apollo.stop());

    // The socket registry exists once the WebSocket server is attached; metrics read it lazily.
    let ws: WsHandles | undefined;
    const metrics = new Metrics({
      bus,
      ledgerStats: () => ledger.stats,
      limiterDegradedTakes: () => limiter.degradedTakes(),
      openSockets: () => ws?.sockets.size ?? 0,
      openSubscriptions: () => feed.stats.subscribers,
      webhookAttempts: (listener) => services.dispatcher.onAttempt(listener),
      webhookLag: () => services.dispatcher.lag(),
    });
    shutdown.add(() => metrics.close());
    const exposed = await exposeMetrics(metrics, config, logger);
    shutdown.add(() => exposed.close());
    const routes = [...exposed.routes, ...(config.console ? [consoleRoute()] : []), leakRoute(config, services.leaks, logger)];
    const observe = metrics.observeRequest.bind(metrics);
    const server = createServer(httpServerOptions(config), createHttpHandler({ config, logger, apollo, services, routes, observe }));
    guardConnections(server, config, logger);
    ws = attachWebSockets(server, schema, config, services, logger, { groupedFanOut: options.groupedFanOut ?? true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    shutdown.add(() => closeServer(server, config.shutdownGraceMs));
    shutdown.add(() => ws!.closeAll(CloseCode.GoingAway, 'Server is shutting down'));

    const port = (server.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    logger.info({ port, database: db.dialect }, 'keyring listening');
    // Log lines are buffered; supervisors and tests wait for this one.
    logger.flush();
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
      port,
      services,
      logger,
      server,
      sockets: ws.sockets,
      stop: () => shutdown.run().then(() => logger.flush?.()),
    };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

/**
 * One plain line for the person who just ran `npm start`: where the API, Sandbox and the console
 * are (Sandbox and the console only where this configuration serves them). Log lines stay JSON.
 */
export function readyLine(url: string, config: Config): string {
  const parts = [`API ${url}/graphql`];
  if (!config.production) parts.push(`Sandbox ${url}/graphql (in a browser)`);
  if (config.console) parts.push(`console ${url}/console`);
  return `keyring ready: ${parts.join(' · ')}\n`;
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
