import { CloseCode as GraphQLWsCloseCode } from 'graphql-ws/client';

/**
 * The wire protocol's own rules, shared by the server, the CLI and the console (which gets
 * them as a generated module, see console.route.ts): WebSocket close codes and audit event ids.
 * Plain values and pure functions only, with no Node or server import.
 */

/** Every close code the service sends, and the ones a client sees from its own side. graphql-ws's own where it has one. */
export const CloseCode = {
  /** The client (or the server, once a lazy client has nothing to listen to) closed normally. */
  Normal: 1000,
  /** The server is shutting down: reconnect, to this instance or another. */
  GoingAway: 1001,
  /** The connection dropped without a close frame (reported by the client side only). */
  Abnormal: 1006,
  /** The audit ledger's backlog is full (see Ledger.full): try again later (RFC 6455's 1013). */
  TryAgainLater: 1013,
  /** The socket does not read fast enough: its queue passed the cap. */
  SlowConsumer: 4008,
  /** Missing, malformed, unknown, disabled, revoked or expired key on connection_init. */
  Unauthorized: GraphQLWsCloseCode.Unauthorized,
  /**
   * The key behind an open socket was disabled, revoked or has expired, lost a scope it had, or
   * no longer allows the socket's address (updateKey); or the key is used from outside its IP allowlist.
   */
  Forbidden: GraphQLWsCloseCode.Forbidden,
  BadRequest: GraphQLWsCloseCode.BadRequest,
  SubprotocolNotAcceptable: GraphQLWsCloseCode.SubprotocolNotAcceptable,
  /**
   * The client address has used up its failed attempts: no key is looked up until its window
   * ends. graphql-ws gives this number to a repeated connection_init; both mean "too many".
   */
  TooManyRequests: GraphQLWsCloseCode.TooManyInitialisationRequests,
  /** graphql-ws's client terminated the socket itself (for example, no pong in time). */
  Terminated: 4499,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which reconnecting with the same key and document cannot help. */
export const FATAL_CLOSE_CODES: readonly number[] = [
  CloseCode.Unauthorized,
  CloseCode.Forbidden,
  CloseCode.BadRequest,
  CloseCode.SubprotocolNotAcceptable,
];

/**
 * An audit event id as written on the wire: a decimal integer without leading zeros that
 * fits a signed 64-bit column. `0` names the position before the first event, so it is a
 * valid `after` (the whole stored history) though no event carries it.
 */
export const EVENT_ID_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

/** True when `value` is an audit event id (EVENT_ID_PATTERN). */
export function isEventId(value: unknown): value is string {
  return typeof value === 'string' && EVENT_ID_PATTERN.test(value);
}

/** Orders two event ids exactly, without float rounding past 2^53 (they are decimal, without leading zeros). */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
