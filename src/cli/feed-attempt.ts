import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { FEED_EVENT_FIELDS, type FeedEvent } from './event-line.js';

const FEED = `subscription CliTail($types: [AuditEventType!], $keyId: ID, $merchantId: String, $after: String) {
  auditEvents(types: $types, keyId: $keyId, merchantId: $merchantId, after: $after) { ${FEED_EVENT_FIELDS} }
}`;

/** How often a ping goes out, and how long a pong may take before the socket counts as dead. */
const PING_EVERY_MS = 15_000;
const PONG_WITHIN_MS = 10_000;

export interface FeedFilter {
  types?: string[];
  keyId?: string;
  merchantId?: string;
}

export interface GraphQLProblem {
  message: string;
  extensions?: { code?: string; retryAfter?: number; errors?: unknown; fields?: unknown };
}

/** How one connection ended. */
export type AttemptEnd =
  | { kind: 'stopped' }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'failed'; message: string }
  | { kind: 'errors'; errors: GraphQLProblem[] }
  | { kind: 'completed' };

export interface AttemptResult {
  end: AttemptEnd;
  /** Whether the server acknowledged the connection. */
  connected: boolean;
  /** How long the acknowledged connection lasted, in ms (0 if never acknowledged). */
  upMs: number;
}

export interface AttemptOptions {
  wsUrl: string;
  apiKey: string;
  filter: FeedFilter;
  after: string | null;
  onEvent(event: FeedEvent): void;
  /** The server acknowledged the connection (the key was accepted). */
  onConnected?(): void;
  signal: AbortSignal;
}

/**
 * One graphql-ws connection to the feed, with no retries of its own: it resolves with how it
 * ended, and the caller decides whether and when to come back (and from which id). The
 * client is disposed before this resolves, so nothing is left open behind it.
 */
export function followOnce(options: AttemptOptions): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let connectedAt = 0;
    let pongTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const client: Client = createClient({
      url: options.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${options.apiKey}` },
      retryAttempts: 0,
      shouldRetry: () => false,
      keepAlive: PING_EVERY_MS,
      on: {
        connected: () => {
          connectedAt = Date.now();
          options.onConnected?.();
        },
        // A half-open TCP connection never closes by itself; an unanswered ping ends it.
        ping: (received) => {
          if (!received) pongTimer = setTimeout(() => client.terminate(), PONG_WITHIN_MS);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
      },
    });

    const finish = (end: AttemptEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(pongTimer);
      options.signal.removeEventListener('abort', onAbort);
      const upMs = connectedAt ? Date.now() - connectedAt : 0;
      void close(client, connectedAt > 0).then(() => resolve({ end, connected: connectedAt > 0, upMs }));
    };
    const onAbort = () => finish({ kind: 'stopped' });
    if (options.signal.aborted) return finish({ kind: 'stopped' });
    options.signal.addEventListener('abort', onAbort, { once: true });

    const variables = { ...options.filter, after: options.after };
    client.subscribe<{ auditEvents: FeedEvent }>(
      { query: FEED, variables, operationName: 'CliTail' },
      {
        next: (result) => {
          if (settled) return;
          if (result.errors?.length) return finish({ kind: 'errors', errors: result.errors as GraphQLProblem[] });
          if (result.data?.auditEvents) options.onEvent(result.data.auditEvents);
        },
        error: (error) => finish(classify(error)),
        complete: () => finish({ kind: 'completed' }),
      },
    );
  });
}

/** A close event, an `error` message's GraphQL errors, or a socket error. */
function classify(error: unknown): AttemptEnd {
  if (Array.isArray(error)) return { kind: 'errors', errors: error as GraphQLProblem[] };
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'number' && 'reason' in error) {
    return { kind: 'closed', code: error.code, reason: String(error.reason ?? '') };
  }
  const message = error && typeof error === 'object' && 'message' in error ? String(error.message) : String(error);
  return { kind: 'failed', message: message || 'connection failed' };
}

/** Closes cleanly (1000) when connected; a connection still being made is cut off. */
async function close(client: Client, connected: boolean): Promise<void> {
  if (!connected) client.terminate();
  let timer: NodeJS.Timeout | undefined;
  const disposed = Promise.resolve(client.dispose()).catch(() => undefined);
  await Promise.race([disposed, new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
  clearTimeout(timer);
  client.terminate();
}
