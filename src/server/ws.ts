import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { principalOf, type Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { GraphQLContext, Services } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import { credentialFrom } from './credentials.js';
import { clientIp } from './http.js';
import { randomUUID } from 'node:crypto';

/** Close codes this service uses on top of graphql-ws's own. */
export const CloseCode = {
  Unauthorized: 4401,
  Forbidden: 4403,
  SlowConsumer: 4008,
  GoingAway: 1001,
} as const;

export type WsExtra = {
  socket: WebSocket;
  request: IncomingMessage;
  principal?: Principal;
  ip?: string;
};

export interface WsHandles {
  /** Open sockets per authenticating key. */
  socketsByKey: Map<string, Set<WebSocket>>;
  closeAll(code: number, reason: string): Promise<void>;
}

/**
 * graphql-ws on the HTTP server's port and path. Credentials are checked on
 * connection_init (4401 when bad); sockets whose key stops being valid close with 4403.
 */
export function attachWebSockets(server: HttpServer, schema: GraphQLSchema, config: Config, services: Services, logger: Logger): WsHandles {
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });
  server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/graphql' && path !== '/graphql/') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  const socketsByKey = new Map<string, Set<WebSocket>>();
  const track = (keyId: string, socket: WebSocket) => {
    let set = socketsByKey.get(keyId);
    if (!set) socketsByKey.set(keyId, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0) socketsByKey.delete(keyId);
    });
  };

  const stopWatching = services.bus.onKeyChange((change) => {
    if (change.status === 'ACTIVE') return;
    for (const socket of socketsByKey.get(change.keyId) ?? []) socket.close(CloseCode.Forbidden, 'Key is no longer valid');
  });

  const disposable = useServer<Record<string, unknown>, WsExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        const extra = ctx.extra as WsExtra;
        const params = ctx.connectionParams ?? {};
        const credential = credentialFrom(params.authorization ?? params.Authorization, params.apiKey ?? params['x-api-key']);
        extra.ip = clientIp(extra.request, config.trustProxy);
        const check = typeof credential === 'string' ? await services.authenticator.check(credential) : null;
        if (!check || check.status !== 'VALID') {
          const record = check && 'record' in check ? check.record : null;
          services.ledger.append({
            type: 'AUTH_FAILED',
            merchantId: record?.merchantId ?? null,
            keyId: record?.id ?? null,
            ip: extra.ip,
            reason: check?.status ?? (credential === null ? 'MISSING' : 'MALFORMED'),
            metadata: { transport: 'websocket' },
          });
          extra.socket.close(CloseCode.Unauthorized, 'Unauthorized');
          return false;
        }
        extra.principal = principalOf(check.record);
        track(check.record.id, extra.socket);
        return true;
      },
      context: (ctx, id, payload): GraphQLContext => {
        const extra = ctx.extra as WsExtra;
        return {
          requestId: randomUUID(),
          ip: extra.ip ?? null,
          principal: extra.principal ?? null,
          services,
          state: { operationName: payload.operationName ?? null },
          rateLimit: null,
        };
      },
    },
    wss,
  );

  return {
    socketsByKey,
    async closeAll(code, reason) {
      stopWatching();
      for (const client of wss.clients) client.close(code, reason);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      logger.debug('websocket server closed');
    },
  };
}
