import { GraphQLError, Kind, type GraphQLFormattedError } from 'graphql';

/**
 * The closed set of coded errors a client can see, each with its HTTP status.
 * Everything else is masked as INTERNAL_SERVER_ERROR by `formatError` below.
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  RATE_LIMITED: 'RATE_LIMITED',
  USAGE_EXCEEDED: 'USAGE_EXCEEDED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  BAD_REQUEST: 'BAD_REQUEST',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

abstract class CodedError extends GraphQLError {
  constructor(message: string, code: ErrorCode, status: number, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extensions, http: { status } } });
  }
}

export class UnauthenticatedError extends CodedError {
  constructor() {
    super('Unauthenticated.', ErrorCode.UNAUTHENTICATED, 401);
  }
}

export class ForbiddenError extends CodedError {
  /** `status` 403: the request as a whole is refused at admission (a key used from outside its IP allowlist). */
  constructor(status: 200 | 403 = 200) {
    super('This action is unauthorized.', ErrorCode.FORBIDDEN, status);
  }
}

export class RateLimitedError extends CodedError {
  constructor(retryAfterSeconds: number) {
    const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
    super(`Too many requests. Retry in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`, ErrorCode.RATE_LIMITED, 429, {
      retryAfter,
    });
  }
}

/**
 * The key has no credits left for the request. `retryAfterSeconds` (seconds to the next
 * refill) only when a refill is due; without one, waiting does not help.
 */
export class UsageExceededError extends CodedError {
  constructor(retryAfterSeconds: number | null) {
    const retryAfter = retryAfterSeconds === null ? null : Math.max(1, Math.ceil(retryAfterSeconds));
    super(
      retryAfter === null ? 'This key has no usage credits left.' : `This key has no usage credits left. They refill in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
      ErrorCode.USAGE_EXCEEDED,
      429,
      retryAfter === null ? {} : { retryAfter },
    );
  }
}

/**
 * One problem with the caller's input: the sentence shown to people, and the path of the
 * argument or input field it is about as the API names it (`input.name`, `filter.keyId`,
 * `after`), null when no one field is to blame. Clients map fields, never sentences.
 */
export interface InputProblem {
  field: string | null;
  message: string;
}

/** The problems with every field path put under `prefix` (the argument that holds them, such as `input`). */
export function within(prefix: string, problems: readonly InputProblem[]): InputProblem[] {
  return problems.map((problem) => ({ field: problem.field === null ? prefix : `${prefix}.${problem.field}`, message: problem.message }));
}

/**
 * Invalid input: the first problem as the message, every problem in `extensions.errors`
 * (contract §4) and, at the same index, its field path in `extensions.fields`.
 */
export class BadUserInputError extends CodedError {
  constructor(problems: readonly InputProblem[]) {
    super(problems[0]?.message ?? 'Invalid input.', ErrorCode.BAD_USER_INPUT, 200, {
      errors: problems.map((problem) => problem.message),
      fields: problems.map((problem) => problem.field),
    });
  }

  /** One problem about one field. */
  static at(field: string | null, message: string): BadUserInputError {
    return new BadUserInputError([{ field, message }]);
  }
}

export class NotFoundError extends CodedError {
  constructor(what = 'API key') {
    super(`${what} not found.`, ErrorCode.NOT_FOUND, 200);
  }
}

/** A document over one of the query limits (depth, cost, aliases, directives, tokens). */
export class QueryTooComplexError extends CodedError {
  constructor(message: string) {
    super(message, ErrorCode.QUERY_TOO_COMPLEX, 400);
  }
}

export class PayloadTooLargeError extends CodedError {
  constructor(limit: number) {
    super(`Request body is larger than ${limit} bytes.`, ErrorCode.PAYLOAD_TOO_LARGE, 413);
  }
}

export class BadRequestError extends CodedError {
  constructor(message: string) {
    super(message, ErrorCode.BAD_REQUEST, 400);
  }
}

/**
 * A key (or its merchant) already holds as many live feed subscriptions as it may: the
 * subscribe is answered with this error and the socket stays open. Ending another
 * subscription makes room at once.
 */
export class TooManySubscriptionsError extends CodedError {
  constructor(scope: 'key' | 'merchant', limit: number) {
    super(`This ${scope} already has ${limit} open audit feed subscriptions; end one first.`, ErrorCode.TOO_MANY_SUBSCRIPTIONS, 429, { limit, scope });
  }
}

export const LEDGER_FULL = 'The audit ledger cannot record requests right now; retry shortly.';

/**
 * The service cannot record what it would do (the audit ledger's backlog is full: its database
 * has not taken a write for a while), so it does nothing rather than something unrecorded.
 * Retry after a second: the ledger retries a failed write every half second or so.
 */
export class LedgerFullError extends CodedError {
  constructor() {
    super(LEDGER_FULL, ErrorCode.SERVICE_UNAVAILABLE, 503, { retryAfter: 1 });
  }
}

/** Codes Apollo and graphql-js produce themselves, mapped onto the contract's set. */
const PASSTHROUGH: Record<string, ErrorCode> = {
  BAD_USER_INPUT: ErrorCode.BAD_USER_INPUT,
  GRAPHQL_PARSE_FAILED: ErrorCode.BAD_REQUEST,
  GRAPHQL_VALIDATION_FAILED: ErrorCode.BAD_REQUEST,
  BAD_REQUEST: ErrorCode.BAD_REQUEST,
  OPERATION_RESOLUTION_FAILURE: ErrorCode.BAD_REQUEST,
  PERSISTED_QUERY_NOT_SUPPORTED: ErrorCode.BAD_REQUEST,
  PERSISTED_QUERY_NOT_FOUND: ErrorCode.BAD_REQUEST,
};

/**
 * Nodes a validation error points at when it blames a value the caller wrote rather than the
 * shape of the document: graphql-js's ValuesOfCorrectTypeRule reports on the literal itself
 * (a wrong type, an unknown enum value or input field, a missing input field).
 */
const VALUE_KINDS = new Set<string>([Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT, Kind.OBJECT_FIELD]);

function blamesValue(error: unknown): boolean {
  const kind = error instanceof GraphQLError ? error.nodes?.[0]?.kind : undefined;
  return kind !== undefined && VALUE_KINDS.has(kind);
}

export interface FormatOptions {
  requestId: string | undefined;
  development: boolean;
  /**
   * For a document that did not parse: the refusal to show when it passed the token cap (the
   * parser then reports a plain syntax error), else null.
   */
  tooManyTokens?: (source: string) => string | null;
  /** Called for every error that is masked, so it is logged with its stack and request id. */
  onInternal?: (error: unknown) => void;
}

/** The one place that turns any error into what the client sees. */
export function formatError(formatted: GraphQLFormattedError, error: unknown, options: FormatOptions): GraphQLFormattedError {
  const original = unwrap(error);
  const extensions = { ...(formatted.extensions ?? {}) } as Record<string, unknown>;
  delete extensions.http;
  let code = extensions.code as string | undefined;
  let message = formatted.message;

  const tooLong = code === 'GRAPHQL_PARSE_FAILED' && original instanceof GraphQLError && original.source ? options.tooManyTokens?.(original.source.body) : null;
  if (original instanceof CodedError) {
    code = original.extensions.code as string;
  } else if (tooLong) {
    code = ErrorCode.QUERY_TOO_COMPLEX;
    message = tooLong;
  } else if (code && code in PASSTHROUGH) {
    // A literal of the wrong kind is the caller's input, as is anything a scalar's parser refused
    // (it marks its own errors; graphql-js reports both as validation failures).
    const input = blamesValue(error) || (original instanceof GraphQLError && original.extensions?.code === ErrorCode.BAD_USER_INPUT);
    code = input ? ErrorCode.BAD_USER_INPUT : PASSTHROUGH[code];
  } else if (code && (Object.values(ErrorCode) as string[]).includes(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
    // already one of ours (for example thrown by a plugin as a plain GraphQLError)
  } else {
    options.onInternal?.(original ?? error);
    code = ErrorCode.INTERNAL_SERVER_ERROR;
    message = 'Internal server error.';
    if (!options.development) delete extensions.stacktrace;
    for (const key of Object.keys(extensions)) if (key !== 'stacktrace') delete extensions[key];
  }
  if (!options.development) delete extensions.stacktrace;
  if (code === ErrorCode.BAD_USER_INPUT && !Array.isArray(extensions.errors)) {
    // graphql-js's own input problems name their field only in prose: no path to give.
    extensions.errors = [message];
    extensions.fields = [null];
  }
  extensions.code = code;
  extensions.requestId = options.requestId;
  return { ...formatted, message, extensions };
}

function unwrap(error: unknown): unknown {
  let current = error;
  for (let i = 0; i < 5 && current instanceof GraphQLError && current.originalError; i++) {
    current = current.originalError;
  }
  return current;
}

/** HTTP status for an error thrown before GraphQL execution begins. */
export function httpStatusOf(error: GraphQLError): number {
  const http = error.extensions?.http as { status?: number } | undefined;
  return http?.status ?? 200;
}
