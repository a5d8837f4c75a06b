import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventBus } from '../audit/event-bus.js';
import type { LedgerStats } from '../audit/ledger.js';

/** What the metrics read from the running service when scraped. */
export interface MetricSources {
  bus: EventBus;
  ledgerStats: () => LedgerStats;
  limiterDegradedTakes: () => number;
  openSockets: () => number;
  openSubscriptions: () => number;
  /** Registers a listener for every webhook delivery attempt; returns its removal. */
  webhookAttempts: (listener: (attempt: { delivered: boolean; refused: boolean; durationMs: number }) => void) => () => void;
  webhookLag: () => number;
}

/**
 * Prometheus metrics (prom-client), one registry per service instance so tests can run
 * several in one process. Counters fed by the event bus see every event after commit,
 * so they never count something the ledger did not keep.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'code'>;
  private readonly duration: Histogram<'operation'>;
  private readonly stopBus: () => void;
  private readonly stopWebhooks: () => void;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keyring_' });
    this.requests = new Counter({
      name: 'keyring_requests_total',
      help: 'GraphQL requests by operation and outcome code (OK or the error code).',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'keyring_request_duration_seconds',
      help: 'GraphQL request duration in seconds.',
      labelNames: ['operation'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const published = new Counter({
      name: 'keyring_events_published_total',
      help: 'Audit events published after commit, by type.',
      labelNames: ['type'],
      registers,
    });
    const rateLimited = new Counter({ name: 'keyring_rate_limited_total', help: 'Requests refused over a rate limit.', registers });
    const authFailed = new Counter({ name: 'keyring_auth_failed_total', help: 'Refused credentials.', registers });
    const accessDenied = new Counter({ name: 'keyring_access_denied_total', help: 'Refused scopes or merchants.', registers });
    this.stopBus = sources.bus.onEvents((events) => {
      for (const event of events) {
        published.inc({ type: event.type });
        // A folded refusal's summary stands for metadata.count refusals beyond the first row.
        const refusals = event.metadata?.summary === true && typeof event.metadata.count === 'number' ? event.metadata.count : 1;
        if (event.type === 'RATE_LIMITED') rateLimited.inc(refusals);
        else if (event.type === 'AUTH_FAILED') authFailed.inc(refusals);
        else if (event.type === 'ACCESS_DENIED') accessDenied.inc();
      }
    });
    new Counter({
      name: 'keyring_events_written_total',
      help: 'Audit events committed to the ledger.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.ledgerStats().written);
      },
    });
    new Counter({
      name: 'keyring_rate_limit_degraded_total',
      help: 'Rate-limit decisions made without the shared store (REDIS_URL out of reach): counted on this instance alone, or refused by the fail-closed policy.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.limiterDegradedTakes());
      },
    });
    new Gauge({
      name: 'keyring_ledger_pending_events',
      help: 'Events buffered for the next ledger flush.',
      registers,
      collect() {
        this.set(sources.ledgerStats().pending);
      },
    });
    new Gauge({
      name: 'keyring_ledger_flush_lag_seconds',
      help: 'Age of the oldest event in the last ledger flush when it committed.',
      registers,
      collect() {
        this.set(sources.ledgerStats().lastFlushLagMs / 1000);
      },
    });
    const deliveries = new Counter({
      name: 'keyring_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (anything else), refused (a target the guard refused).',
      labelNames: ['outcome'],
      registers,
    });
    const latency = new Histogram({
      name: 'keyring_webhook_delivery_duration_seconds',
      help: 'Webhook delivery attempt duration in seconds.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.stopWebhooks = sources.webhookAttempts((attempt) => {
      deliveries.inc({ outcome: attempt.delivered ? 'delivered' : attempt.refused ? 'refused' : 'failed' });
      latency.observe(attempt.durationMs / 1000);
    });
    new Gauge({
      name: 'keyring_webhook_lag_events',
      help: 'Events waiting for the webhook endpoints this instance delivers.',
      registers,
      collect() {
        this.set(sources.webhookLag());
      },
    });
    new Gauge({
      name: 'keyring_open_sockets',
      help: 'Open WebSocket connections.',
      registers,
      collect() {
        this.set(sources.openSockets());
      },
    });
    new Gauge({
      name: 'keyring_open_subscriptions',
      help: 'Active GraphQL subscriptions.',
      registers,
      collect() {
        this.set(sources.openSubscriptions());
      },
    });
  }

  /** Records one finished GraphQL request. */
  observeRequest(operation: string | null, code: string, seconds: number): void {
    const label = operation ?? 'unknown';
    this.requests.inc({ operation: label, code });
    this.duration.observe({ operation: label }, seconds);
  }

  /**
   * GET /metrics in the Prometheus text format; with a `token`, only for a request that
   * presents it as `Authorization: Bearer <token>` (401 otherwise).
   */
  route(options: { token?: string } = {}): (req: IncomingMessage, res: ServerResponse) => boolean | Promise<true> {
    const expected = options.token === undefined ? undefined : digest(options.token);
    return (req, res) => {
      if ((req.url ?? '').split('?')[0] !== '/metrics' || req.method !== 'GET') return false;
      if (expected && !presents(req, expected)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-length': 0 });
        res.end();
        return true;
      }
      return this.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(body);
        return true as const;
      });
    };
  }

  close(): void {
    this.stopBus();
    this.stopWebhooks();
    this.registry.clear();
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether the request's bearer token is the expected one; digests of equal length make the comparison constant-time whatever was sent. */
function presents(req: IncomingMessage, expected: Buffer): boolean {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
  return timingSafeEqual(digest(match?.[1] ?? ''), expected);
}
