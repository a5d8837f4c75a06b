import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * The fan-out benchmark's subscribers, in a process of their own so that the server's CPU
 * is measured alone. Opens `count` graphql-ws clients (one socket each) on the audit feed,
 * and reports over IPC, for each benchmark event (`metadata.seq`), the wall-clock time at
 * which the last subscriber received it.
 *
 * Filters: `same` gives every subscriber the same variables (one group on the server);
 * `own` gives each its own (a different set of event types, each with KEY_USED, and with or
 * without its merchant named), so that every subscriber is a group of its own. Each client's
 * one subscription has the id "1", so a bare broadcast can send every socket the same frame.
 */
interface Options {
  url: string;
  key: string;
  count: number;
  keyId: string;
  filters: 'same' | 'own';
  merchantId: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const QUERY =
  'subscription Bench($keyId: ID, $types: [AuditEventType!], $merchantId: String) ' +
  '{ auditEvents(keyId: $keyId, types: $types, merchantId: $merchantId) { id type occurredAt metadata } }';
const OTHER_TYPES = ['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED', 'KEY_REVOKED', 'KEY_ROTATED', 'KEY_EXPIRED', 'AUTH_FAILED', 'ACCESS_DENIED', 'RATE_LIMITED'];

/** Subscriber i's variables: all alike, or a filter of its own that still selects the benchmark's events. */
function variablesOf(i: number): Record<string, unknown> {
  if (options.filters === 'same') return { keyId: options.keyId };
  const subset = OTHER_TYPES.filter((_, bit) => (i >> bit) & 1);
  const named = i >> OTHER_TYPES.length ? { merchantId: options.merchantId } : {};
  return { keyId: options.keyId, types: ['KEY_USED', ...subset], ...named };
}
/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

const received = new Map<number, { count: number; first: number }>();
const clients: Client[] = [];
let errors = 0;
let closedEarly = 0;

function onEvent(seq: number): void {
  const at = now();
  const entry = received.get(seq);
  if (!entry) {
    received.set(seq, { count: 1, first: at });
    if (options.count === 1) process.send!({ seq, first: at, last: at });
    return;
  }
  entry.count += 1;
  if (entry.count === options.count) {
    process.send!({ seq, first: entry.first, last: at });
    received.delete(seq);
  }
}

for (let i = 0; i < options.count; i++) {
  const client = createClient({
    url: options.url,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${options.key}` },
    retryAttempts: 0,
    generateID: () => '1',
    shouldRetry: () => false,
    on: { closed: (event) => void ((closedEarly += 1), closedEarly > 0 && closedEarly <= 3 && console.error(`subscriber closed early: ${(event as { code?: number }).code}`)) },
  });
  clients.push(client);
  client.subscribe<{ auditEvents: { metadata: { seq: number } } }>(
    { query: QUERY, variables: variablesOf(i) },
    {
      next: (result) => {
        const seq = result.data?.auditEvents.metadata?.seq;
        if (typeof seq === 'number') onEvent(seq);
        if (result.errors) errors += 1;
      },
      error: () => void (errors += 1),
      complete: () => {},
    },
  );
  // Connections in small waves, as monitors would arrive, rather than 1,000 handshakes at once.
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
process.send!({ opened: clients.length });

process.on('message', (message: { stop?: boolean; report?: boolean }) => {
  if (message?.report) process.send!({ errors, closedEarly });
  if (!message?.stop) return;
  closedEarly = -Infinity; // closes from here on are ours
  void Promise.all(clients.map((client) => client.dispose())).finally(() => process.exit(0));
});
