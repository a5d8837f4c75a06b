import { execute, type ExecutionArgs, type ExecutionResult, type GraphQLError } from 'graphql';
import { MessageType, type SubscribePayload } from 'graphql-ws';
import type { WebSocket } from 'ws';
import type { AuditEventRecord } from '../audit/event-types.js';
import type { FeedFrames, Rendered } from '../audit/feed-subscription.js';
import type { GraphQLContext } from '../graphql/context.js';

export interface FeedFramesOptions {
  socket: WebSocket;
  /** The graphql-ws operation id. */
  id: string;
  payload: SubscribePayload;
  args: ExecutionArgs;
  context: GraphQLContext;
  /** Errors as the client gets them (the WebSocket edge's formatError), with this operation's request id. */
  format(errors: readonly GraphQLError[]): unknown[];
  /** Called after a send that left more than the socket may buffer (closes it with 4008). */
  maxBufferedBytes: number;
  slowConsumer(socket: WebSocket): void;
}

/**
 * A feed subscription's live events sent as graphql-ws `next` messages without graphql-ws:
 * the feed renders an event once per group of equal subscriptions (`render`: what graphql-ws
 * would execute and serialise for this subscription, its `onNext` formatting included), and
 * each member wraps the shared payload in its own frame, `{"id":…,"type":"next","payload":…}`,
 * the message graphql-ws would have sent. graphql-ws still owns the subscription (subscribe,
 * complete, errors, the replay before live); its iterator simply yields nothing once live.
 *
 * The shape is what the payload can depend on besides the event and the selector: the document,
 * the operation, the variables, and the scopes the field checks read.
 */
export function feedFrames(options: FeedFramesOptions): FeedFrames {
  const { socket, id, payload, args, context } = options;
  const prefix = `{"id":${JSON.stringify(id)},"type":"${MessageType.Next}","payload":`;
  const principal = context.principal;
  const shape = JSON.stringify([
    payload.query,
    payload.operationName ?? null,
    payload.variables ?? null,
    principal ? [principal.admin, [...principal.scopes].sort()] : null,
  ]);
  const rendered = (result: ExecutionResult): Rendered =>
    result.errors
      ? { payload: JSON.stringify({ ...result, errors: options.format(result.errors) }), shared: false }
      : { payload: JSON.stringify(result), shared: true };
  return {
    shape,
    render(event: AuditEventRecord) {
      const result = execute({
        schema: args.schema,
        document: args.document,
        operationName: args.operationName,
        variableValues: args.variableValues,
        rootValue: event,
        contextValue: context,
      });
      return result instanceof Promise ? result.then(rendered) : rendered(result);
    },
    send(shared: string) {
      if (socket.readyState !== socket.OPEN) return;
      socket.send(`${prefix}${shared}}`);
      if (socket.bufferedAmount > options.maxBufferedBytes) options.slowConsumer(socket);
    },
  };
}
