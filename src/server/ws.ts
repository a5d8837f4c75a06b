import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { getOperationAST, GraphQLError, Kind, type DocumentNode, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { admit, admitOperation } from '../auth/admission.js';
import { principalOf, type Principal } from '../auth/principal.js';
import type { FeedSink } from '../audit/feed-subscription.js';
import type { Config } from '../config.js';
import { formatError, LEDGER_FULL, LedgerFullError, RateLimitedError, TooManySubscriptionsError, UsageExceededError } from '../errors.js';
import { CloseCode } from '../protocol.js';
import type { GraphQLContext, Services } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import { credentialFrom } from './credentials.js';
import { clientAddress } from './client-address.js';
import { armor, parseFailure } from './query-limits.js';
import { documentCache } from './ws-documents.js';
import { operationLabel, rootFields } from './operation-label.js';
import { feedFrames } from './ws-feed-frames.js';
import { SocketRegistry } from './ws-sockets.js';
import { recordKeyUse } from './key-used.js';

/** How a refused connection is closed, by admission's outcome. */
const REFUSED = {
  unauthenticated: [CloseCode.Unauthorized, 'Unauthorized'],
  'rate-limited': [CloseCode.TooManyRequests, 'Too many requests'],
  'ip-not-allowed': [CloseCode.Forbidden, 'Forbidden'],
  // Opening a socket spends no credits (each subscribe does); kept for a complete map of refusals.
  'usage-exceeded': [CloseCode.TooManyRequests, 'No usage credits left'],
  'ledger-full': [CloseCode.TryAgainLater, LEDGER_FULL],
} as const;

export type WsExtra = {
  socket: WebSocket;
  request: IncomingMessage;
  principal?: Principal;
  /** The key the socket was opened with, to judge each subscribe by the key as it is then (updateKey). */
  credential?: string;
  ip?: string;
  /** The socket's flow control, shared by every subscription on it. */
  sink?: FeedSink;
  /** Request ids given to operations in onSubscribe, picked up by their context. */
  requestIds?: Map<string, string>;
};

export interface WsHandles {
  /** Open sockets, by the key that authenticated them. */
  sockets: SocketRegistry;
  closeAll(code: number, reason: string): Promise<void>;
}

/**
 * graphql-ws on the HTTP server's port and path. Credentials are checked on
 * connection_init (4401 when bad); sockets whose key stops being valid close with 4403
 * (SocketRegistry); a socket that cannot keep up closes with 4008; errors reach the client
 * through the same `formatError` as over HTTP. A feed subscription's live events are rendered once
 * per group of equal subscriptions and sent as ready-made frames (ws-feed-frames.ts), unless
 * `groupedFanOut` is off.
 */
export function attachWebSockets(
  server: HttpServer,
  schema: GraphQLSchema,
  config: Config,
  services: Services,
  logger: Logger,
  options: { groupedFanOut: boolean },
): WsHandles {
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });
  server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/graphql' && path !== '/graphql/') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  const sockets = new SocketRegistry(services, logger);
  const documents = documentCache({ maxTokens: config.maxTokens, maxCost: config.maxQueryCost, rules: armor(config).validationRules ?? [] });
  const development = config.nodeEnv === 'development';
  const format = (errors: readonly GraphQLError[], requestId: string | undefined) =>
    errors.map((error) => {
      let formatted = error.toJSON();
      // graphql-js's own errors about the request carry no code and no cause but another
      // GraphQLError. Parse and validation errors are tagged where they arise (onSubscribe); what
      // is left comes from execution: a variable whose value did not coerce (graphql-js points at
      // its definition; BAD_USER_INPUT, as Apollo tags it over HTTP) or an operation it could not
      // pick. Anything a resolver throws keeps its own code or is masked.
      const cause = error.originalError;
      if (!formatted.extensions?.code && (!cause || (cause instanceof GraphQLError && !cause.extensions?.code))) {
        const code = error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION ? 'BAD_USER_INPUT' : 'GRAPHQL_VALIDATION_FAILED';
        formatted = { ...formatted, extensions: { ...formatted.extensions, code } };
      }
      return formatError(formatted, error, { requestId, development, onInternal: (err) => logger.error({ err, requestId }, 'unexpected error') });
    });
  const slowConsumer = (socket: WebSocket) => {
    logger.warn({ bufferedAmount: socket.bufferedAmount }, 'closing a websocket that does not read fast enough');
    socket.close(CloseCode.SlowConsumer, 'Slow consumer');
  };

  const disposable = useServer<Record<string, unknown>, WsExtra>(
    {
      schema,
      onConnect: async (ctx) => {
        const extra = ctx.extra as WsExtra;
        const params = ctx.connectionParams ?? {};
        const credential = credentialFrom(params.authorization ?? params.Authorization, params.apiKey ?? params['x-api-key']);
        const ip = (extra.ip = clientAddress(extra.request, config.trustProxy));
        const socket = extra.socket;
        const admission = await admit(services, { credential, ip, requestId: null, transport: 'websocket', hold: (key) => sockets.track(socket, key, ip) });
        if (admission.outcome !== 'admitted' || !admission.principal) {
          const [code, reason] = REFUSED[admission.outcome === 'admitted' ? 'unauthenticated' : admission.outcome];
          socket.close(code, reason);
          return false;
        }
        extra.principal = admission.principal;
        extra.credential = credential!;
        extra.requestIds = new Map();
        const stream = extra.request.socket;
        extra.sink = {
          pendingBytes: () => socket.bufferedAmount,
          overflow: () => slowConsumer(socket),
          cork: corker(stream),
          drained: () => (stream.writableNeedDrain ? drain(stream) : undefined),
        };
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const extra = ctx.extra as WsExtra;
        const requestId = randomUUID();
        extra.requestIds?.set(id, requestId);
        // Parsed and validated here rather than by graphql-ws, so that a bad document is answered
        // with an error message (graphql-ws would close the socket on a syntax error).
        let document: DocumentNode | null = null;
        let failure: GraphQLError | null = null;
        try {
          document = documents.parse(payload.query);
        } catch (error) {
          failure = error instanceof GraphQLError ? parseFailure(error, payload.query, config.maxTokens) : new GraphQLError('The document could not be parsed.');
        }
        const operation = document ? getOperationAST(document, payload.operationName) : null;
        let spent: Record<string, unknown> | null = null;
        // Each subscribe counts against the key's limit, one per root field (aliases included);
        // over it, the operation gets RATE_LIMITED.
        if (extra.principal && extra.credential) {
          // The key may have changed since the socket opened (updateKey: scopes, rate limit): each
          // subscribe is judged by the key as it is now, from the cache as a request's is. A key no
          // longer valid keeps its old principal here: the socket registry is closing it (4403).
          const current = await services.authenticator.check(extra.credential);
          if (current.status === 'VALID') extra.principal = principalOf(current.record);
        }
        if (extra.principal) {
          const request = { requestId, ip: extra.ip ?? null, operationName: payload.operationName ?? null, transport: 'websocket' } as const;
          const principal = extra.principal;
          // A feed subscribe past its caps is refused before it is counted or recorded as KEY_USED.
          const room = operation?.operation === 'subscription' ? () => services.feed.fullFor(principal) : undefined;
          const admission = await admitOperation(services, principal, request, document && operation ? rootFields(document, operation).count : 1, room);
          if (admission.outcome === 'ledger-full') return [new LedgerFullError()];
          if (admission.outcome === 'over-capacity') return [new TooManySubscriptionsError(admission.full.scope, admission.full.limit)];
          if (admission.outcome === 'rate-limited') return [new RateLimitedError(admission.retryAfter)];
          if (admission.outcome === 'usage-exceeded') return [new UsageExceededError(admission.retryAfter)];
          spent = admission.spend?.metadata ?? null;
        }
        // An admitted subscribe is an authenticated request: it leaves KEY_USED whatever its outcome.
        if (extra.principal) {
          recordKeyUse(services.ledger, extra.principal, {
            requestId,
            ip: extra.ip ?? null,
            operationName: document ? operationLabel(operation, payload.operationName) : null,
            metadata: { transport: 'websocket', ...spent },
          });
        }
        if (!document) return [failure!];
        const problems = documents.validate(schema, document);
        if (problems.length > 0) return problems.map(validationFailure);
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
      },
      context: (ctx, id, payload, args): GraphQLContext => {
        const extra = ctx.extra as WsExtra;
        const requestId = extra.requestIds?.get(id) ?? randomUUID();
        extra.requestIds?.delete(id);
        const context: GraphQLContext = {
          requestId,
          ip: extra.ip ?? null,
          principal: extra.principal ?? null,
          services,
          state: { operationName: payload.operationName ?? null },
          rateLimit: null,
          feedSink: null,
        };
        if (extra.sink && options.groupedFanOut && getOperationAST(args.document, args.operationName)?.operation === 'subscription') {
          // The feed sends this operation's live events itself, rendered once per group of equal subscriptions.
          const frames = feedFrames({
            socket: extra.socket,
            id,
            payload,
            args,
            context,
            format: (errors) => format(errors, requestId),
            maxBufferedBytes: config.wsMaxBufferedBytes,
            slowConsumer,
          });
          context.feedSink = { ...extra.sink, frames };
        } else context.feedSink = extra.sink ?? null;
        return context;
      },
      onNext: (ctx, id, payload, args, result) => {
        const socket = (ctx.extra as WsExtra).socket;
        if (socket.bufferedAmount > config.wsMaxBufferedBytes) slowConsumer(socket);
        if (!result.errors) return;
        return { ...result, errors: format(result.errors, (args.contextValue as GraphQLContext | undefined)?.requestId) };
      },
      onError: (ctx, id, payload, errors) => {
        const extra = ctx.extra as WsExtra;
        const requestId = extra.requestIds?.get(id) ?? errors.map((error) => error.extensions?.requestId).find((value) => typeof value === 'string');
        extra.requestIds?.delete(id);
        return format(errors, requestId as string | undefined);
      },
    },
    wss,
  );

  return {
    sockets,
    async closeAll(code, reason) {
      sockets.dispose();
      for (const client of wss.clients) client.close(code, reason);
      await disposable.dispose();
      logger.debug('websocket server closed');
    },
  };
}

/** A validation error as Apollo tags it over HTTP (GRAPHQL_VALIDATION_FAILED), unless it already has a code (armor's). */
function validationFailure(error: GraphQLError): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, originalError: error.originalError, extensions: { ...error.extensions, code: 'GRAPHQL_VALIDATION_FAILED' } });
}

/**
 * Holds a socket's writes until the end of the current turn of the event loop, so that a burst of
 * replayed events leaves in one write rather than one system call per message.
 */
function corker(socket: Duplex): () => void {
  let corked = false;
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(() => {
      corked = false;
      socket.uncork();
    });
  };
}

/** Resolves once the socket has written out what it held, or has closed. */
function drain(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
