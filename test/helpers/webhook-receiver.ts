import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One delivery as the receiver took it: signature verified with the standardwebhooks package. */
export interface Received {
  messageId: string;
  type: string;
  eventId: string;
  merchantId: string | null;
  body: any;
  /** The status the receiver answered. */
  status: number;
}

export interface Receiver {
  url: string;
  /** Every request, in arrival order (answered 2xx or not). */
  received: Received[];
  /** The event ids acknowledged (2xx), in order. */
  acknowledged(): string[];
  /** Requests whose signature did not verify (each answered 400). */
  badSignatures: number;
  /** Answers the next `count` requests with `status` (500 by default). */
  failNext(count: number, status?: number): void;
  /** Answers every request with 503 until called with false. */
  setDown(down: boolean): void;
  /** Holds the `n`-th request from now (1 = the next) unanswered until `release()`. */
  holdArrival(n: number): { arrived: Promise<void>; release(): void };
  setSecret(secret: string): void;
  close(): Promise<void>;
}

/** A real HTTP receiver on port 0 that verifies every delivery's signature, counts, and fails on demand. */
export async function startReceiver(secret?: string): Promise<Receiver> {
  let verifier = secret ? new Webhook(secret) : null;
  let failures = 0;
  let failStatus = 500;
  let down = false;
  const holds = new Map<number, { resolveArrived: () => void; released: Promise<void> }>();
  let arrivals = 0;
  const receiver: Receiver = {
    url: '',
    received: [],
    badSignatures: 0,
    acknowledged: () => receiver.received.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.eventId),
    failNext(count, status = 500) {
      failures = count;
      failStatus = status;
    },
    setDown(value) {
      down = value;
    },
    holdArrival(n) {
      let resolveArrived!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (resolveArrived = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      holds.set(arrivals + n, { resolveArrived, released });
      return { arrived, release };
    },
    setSecret(value) {
      verifier = new Webhook(value);
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer(async (req, res) => {
    const text = await bodyOf(req);
    const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
    let body: any;
    try {
      if (!verifier) throw new Error('no secret set');
      body = verifier.verify(text, headers);
    } catch {
      receiver.badSignatures += 1;
      res.writeHead(400).end();
      return;
    }
    const eventId = String(body.data.id);
    const hold = holds.get(++arrivals);
    if (hold) {
      holds.delete(arrivals);
      hold.resolveArrived();
      await hold.released;
    }
    let status = 204;
    if (down) status = 503;
    else if (failures > 0) {
      failures -= 1;
      status = failStatus;
    }
    receiver.received.push({ messageId: headers['webhook-id'], type: body.type, eventId, merchantId: body.data.merchantId, body, status });
    // A redirect points back at this receiver: followed, it would be answered 204 at once.
    res.writeHead(status, status >= 300 && status < 400 ? { location: receiver.url } : {}).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export const CREATE_WEBHOOK = /* GraphQL */ `
  mutation($input: CreateWebhookInput!) {
    createWebhook(input: $input) { secret webhook { id merchantId url types status lastDeliveredEventId } }
  }
`;

export const WEBHOOK_ENV = { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_MS: '100', WEBHOOK_LEASE_MS: '1000' };
