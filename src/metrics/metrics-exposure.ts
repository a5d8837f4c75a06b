import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from './metrics.js';

type Route = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/** Where /metrics is served: routes for the API port, and a listener of its own to close at stop. */
export interface MetricsExposure {
  /** Routes for the API port (none when /metrics lives on its own listener or is off). */
  routes: Route[];
  /** The metrics listener's port, when it has one. */
  port?: number;
  close(): Promise<void>;
}

/**
 * Exposes /metrics (versions, auth-failure counts: not for anyone) by the settings:
 * - `METRICS_PORT` set: on its own listener (`METRICS_HOST`, loopback by default) only;
 * - else `METRICS_TOKEN` set: on the API port, to requests bearing the token;
 * - else outside production: on the API port, open (as for local development);
 * - else (production with neither): not served, and a warning says how to turn it on.
 * A token, when set, is required on either listener.
 */
export async function exposeMetrics(
  metrics: Metrics,
  config: Pick<Config, 'production' | 'metricsToken' | 'metricsPort' | 'metricsHost'>,
  logger: Logger,
): Promise<MetricsExposure> {
  const route = metrics.route({ token: config.metricsToken });
  if (config.metricsPort === undefined) {
    if (config.metricsToken || !config.production) return { routes: [route], close: async () => {} };
    logger.warn('/metrics is not served: in production set METRICS_TOKEN or METRICS_PORT');
    return { routes: [], close: async () => {} };
  }
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    void Promise.resolve(route(req, res)).then(
      (handled) => {
        if (!handled) res.writeHead(404, { 'content-length': 0 }).end();
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics scrape failed');
        if (!res.headersSent) res.writeHead(500, { 'content-length': 0 });
        res.end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metricsPort, config.metricsHost, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, host: config.metricsHost }, 'metrics listening');
  return {
    routes: [],
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
