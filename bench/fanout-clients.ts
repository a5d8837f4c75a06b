import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * The fan-out benchmark's subscribers, in a process of their own so that the server's CPU
 * is measured alone. Opens `count` graphql-ws clients (one socket each) on the audit feed,
 * and reports over IPC, for each benchmark event (`metadata.seq`), the wall-clock time at
 * which the last subscriber received it.
 */
interface Options {
  url: string;
  key: string;
  count: number;
  keyId: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const QUERY = 'subscription Bench($keyId: ID) { auditEvents(keyId: $keyId) { id type occurredAt metadata } }';
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
    shouldRetry: () => false,
    on: { closed: () => void (closedEarly += 1) },
  });
  clients.push(client);
  client.subscribe<{ auditEvents: { metadata: { seq: number } } }>(
    { query: QUERY, variables: { keyId: options.keyId } },
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
