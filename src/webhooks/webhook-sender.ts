import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import type { AuditEventRecord } from '../audit/event-types.js';
import type { TargetGuard } from './target-guard.js';

/** How one attempt ended; `error` is the service's own short description, never the response body. */
export interface AttemptOutcome {
  delivered: boolean;
  /** Refused before connecting (the target is not one the service may call). */
  refused: boolean;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

/** What one attempt sends. */
export interface Delivery {
  url: string;
  /** `whsec_…`: the endpoint's signing secret. */
  secret: string;
  /** `webhook-id`: the same for every attempt at one event for one endpoint. */
  messageId: string;
  event: AuditEventRecord;
}

/** The body of a delivery (Standard Webhooks): the event's type and time, and the event as the feed sends it. */
export function deliveryBody(event: AuditEventRecord): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt.toISOString(), data: event });
}

/**
 * Sends signed deliveries (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) with undici: one POST, redirects not followed, a 2xx within the timeout
 * counts as delivered. Connections go through the target guard's lookup, so the address
 * connected to is one that was checked.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(
    private readonly guard: TargetGuard,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({
      connect: { lookup: guard.connectLookup(), timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  async send(delivery: Delivery, signal: AbortSignal): Promise<AttemptOutcome> {
    const started = performance.now();
    const outcome = (fields: Omit<AttemptOutcome, 'durationMs'>): AttemptOutcome => ({ ...fields, durationMs: Math.round(performance.now() - started) });
    const url = new URL(delivery.url);
    const refused = this.guard.literalProblem(url);
    if (refused) return outcome({ delivered: false, refused: true, httpStatus: null, error: `refused: ${refused}` });
    const body = deliveryBody(delivery.event);
    const now = new Date();
    const signature = new Webhook(delivery.secret).sign(delivery.messageId, now, body);
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'keyring-webhooks',
          'webhook-id': delivery.messageId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      // The answer's body is not read (nor kept): only its status decides.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const delivered = response.statusCode >= 200 && response.statusCode < 300;
      return outcome({ delivered, refused: false, httpStatus: response.statusCode, error: delivered ? null : `HTTP ${response.statusCode}` });
    } catch (error) {
      return outcome({ delivered: false, refused: error instanceof Error && error.name === 'TargetRefusedError', httpStatus: null, error: describe(error) });
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** A short description of a failed call: its kind and code, never a URL or a body. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return 'request failed';
  if (error.name === 'TargetRefusedError') return `refused: ${error.message}`;
  if (error.name === 'TimeoutError' || error.name === 'HeadersTimeoutError' || error.name === 'BodyTimeoutError' || error.name === 'ConnectTimeoutError') {
    return 'timed out';
  }
  if (error.name === 'AbortError') return 'aborted';
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `request failed (${code})` : 'request failed';
}
