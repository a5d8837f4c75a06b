import WebSocket from 'ws';

/**
 * The fan-out benchmark's subscribers, in a process of their own so that the server's CPU
 * is measured alone. Opens `count` sockets speaking graphql-transport-ws (bare `ws`, each
 * with one subscription, id "1", so a bare broadcast can send every socket the same frame)
 * on the audit feed, and reports over IPC, for each benchmark event (`metadata.seq`), the
 * wall-clock time at which the last subscriber received it. A frame is checked for its
 * graphql-ws `next` prefix and its seq read without parsing the rest, so that the clients
 * cost little next to the server (with graphql-ws's client they were the bottleneck).
 *
 * Filters: `same` gives every subscriber the same variables (one group on the server);
 * `own` gives each its own (a different set of event types, each with KEY_USED, and with or
 * without its merchant named), so that every subscriber is a group of its own.
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
const NEXT = Buffer.from('{"id":"1","type":"next","payload":{"data":{"auditEvents":{');
const SEQ = Buffer.from('"seq":');
/** Wall-clock milliseconds, compared with the server process's (performance.timeOrigin drifts apart between processes when the clock is adjusted). */
const now = () => Date.now();

/** Subscriber i's variables: all alike, or a filter of its own that still selects the benchmark's events. */
function variablesOf(i: number): Record<string, unknown> {
  if (options.filters === 'same') return { keyId: options.keyId };
  const subset = OTHER_TYPES.filter((_, bit) => (i >> bit) & 1);
  const named = i >> OTHER_TYPES.length ? { merchantId: options.merchantId } : {};
  return { keyId: options.keyId, types: ['KEY_USED', ...subset], ...named };
}

const received = new Map<number, { count: number; first: number }>();
const sockets: WebSocket[] = [];
let errors = 0;
let closedEarly = 0;
let stopping = false;

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

function onMessage(socket: WebSocket, data: Buffer, i: number): void {
  if (data.subarray(0, NEXT.length).equals(NEXT)) {
    const at = data.indexOf(SEQ);
    if (at < 0) return;
    const seq = Number.parseInt(data.toString('latin1', at + SEQ.length, at + SEQ.length + 12), 10);
    if (Number.isFinite(seq)) onEvent(seq);
    return;
  }
  const message = JSON.parse(data.toString('utf8')) as { type?: string };
  if (message.type === 'connection_ack') {
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: QUERY, variables: variablesOf(i) } }));
  } else if (message.type === 'ping') socket.send('{"type":"pong"}');
  else if (message.type !== 'pong') errors += 1;
}

for (let i = 0; i < options.count; i++) {
  const socket = new WebSocket(options.url, 'graphql-transport-ws');
  sockets.push(socket);
  socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${options.key}` } })));
  socket.on('message', (data: Buffer) => onMessage(socket, data, i));
  socket.on('error', () => void (errors += 1));
  socket.on('close', (code) => {
    if (stopping) return;
    closedEarly += 1;
    if (closedEarly <= 3) console.error(`subscriber closed early: ${code}`);
  });
  // Connections in small waves, as monitors would arrive, rather than 1,000 handshakes at once.
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
process.send!({ opened: sockets.length });

process.on('message', (message: { stop?: boolean; report?: boolean }) => {
  if (message?.report) process.send!({ errors, closedEarly });
  if (!message?.stop) return;
  stopping = true;
  let open = sockets.length;
  const exit = () => (open -= 1) === 0 && process.exit(0);
  for (const socket of sockets) {
    if (socket.readyState === WebSocket.CLOSED) exit();
    else {
      socket.once('close', exit);
      socket.close(1000);
    }
  }
});
