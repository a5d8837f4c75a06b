import WebSocket from 'ws';

/** The frame graphql-ws sends for the first subscription of a socket, up to its payload. */
export const NEXT_PREFIX = '{"id":"1","type":"next","payload":';

/**
 * A bare WebSocket speaking graphql-transport-ws with one subscription (id "1"), keeping each
 * `next` payload as the raw text the server sent, so that frames can be compared byte for byte.
 * Cheaper than a graphql-ws client, for suites that hold a thousand of them.
 */
export interface RawFeed {
  /** Raw payloads of the `next` messages, in arrival order. */
  payloads: string[];
  /** Messages that were neither `connection_ack` nor a well-formed `next` (errors, completes, malformed frames). */
  other: string[];
  closeCode: number | null;
  close(): void;
  /** The socket itself (to pause reading, as a slow consumer does). */
  socket: WebSocket;
}

export function openRawFeed(url: string, key: string, query: string, variables: Record<string, unknown>): RawFeed {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const feed: RawFeed = { payloads: [], other: [], closeCode: null, close: () => socket.close(), socket };
  socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
  socket.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    if (text.startsWith(NEXT_PREFIX) && text.endsWith('}')) {
      feed.payloads.push(text.slice(NEXT_PREFIX.length, -1));
    } else if ((JSON.parse(text) as { type?: string }).type === 'connection_ack') {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
    } else feed.other.push(text);
  });
  socket.on('close', (code) => (feed.closeCode = code));
  socket.on('error', (error) => feed.other.push(String(error)));
  return feed;
}

/** The event of a raw payload (`{"data":{"auditEvents":{…}}}`). */
export function eventOf(payload: string): { id: string; [field: string]: unknown } {
  return (JSON.parse(payload) as { data: { auditEvents: { id: string } } }).data.auditEvents;
}
