import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TestServer } from './server.js';

export const FEED = /* GraphQL */ `
  subscription Feed($types: [AuditEventType!], $keyId: ID, $merchantId: String, $after: String) {
    auditEvents(types: $types, keyId: $keyId, merchantId: $merchantId, after: $after) {
      id type merchantId keyId actorKeyId reason operationName metadata occurredAt
    }
  }
`;

export interface FeedClient {
  client: Client;
  /** The events received, in arrival order. */
  events: Array<{ id: string; type: string; merchantId: string | null; keyId: string | null; [field: string]: unknown }>;
  /** Errors delivered in `next` payloads or as `error` messages. */
  errors: Array<{ message: string; extensions?: Record<string, any> }>;
  completed: boolean;
  /** The close code of the socket, once closed. */
  closeCode: number | null;
  closed: Promise<number>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client subscribed to the audit feed with `key`; nothing retries. */
export function openFeed(
  server: Pick<TestServer, 'url'>,
  key: string | null,
  variables: Record<string, unknown> = {},
  connectionParams?: Record<string, unknown>,
  query: string = FEED,
): FeedClient {
  let resolveClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => (resolveClosed = resolve));
  const feed: FeedClient = {
    client: undefined as unknown as Client,
    events: [],
    errors: [],
    completed: false,
    closeCode: null,
    closed,
    async dispose() {
      await feed.client.dispose();
    },
  };
  feed.client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: connectionParams ?? (key ? { authorization: `Bearer ${key}` } : {}),
    retryAttempts: 0,
    shouldRetry: () => false,
    on: {
      closed: (event) => {
        feed.closeCode = (event as { code: number }).code;
        resolveClosed(feed.closeCode);
      },
    },
  });
  feed.client.subscribe<{ auditEvents: FeedClient['events'][number] }>(
    { query, variables },
    {
      next: (result) => {
        if (result.data?.auditEvents) feed.events.push(result.data.auditEvents);
        if (result.errors) feed.errors.push(...(result.errors as FeedClient['errors']));
      },
      error: (error) => {
        if (Array.isArray(error)) feed.errors.push(...error);
        else if (!(error && typeof error === 'object' && 'code' in error)) feed.errors.push({ message: String(error) });
      },
      complete: () => {
        feed.completed = true;
      },
    },
  );
  return feed;
}
