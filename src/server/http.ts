import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { Config } from '../config.js';
import { BadRequestError, formatError, httpStatusOf, PayloadTooLargeError } from '../errors.js';
import type { GraphQLContext, Services } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import { requestScope } from './apollo.js';
import { refuseRepetition } from './query-limits.js';
import { admitHttp } from './admission.js';
import { recordKeyUse } from './key-used.js';
import { clientAddress } from './client-address.js';
import { isAuthzPath, serveAuthz } from './authz.js';

export interface HttpDeps {
  config: Config;
  logger: Logger;
  apollo: ApolloServer<GraphQLContext>;
  services: Services;
  /** Called once per finished GraphQL request (metrics). */
  observe?: (operation: string | null, code: string, seconds: number) => void;
  /** Extra routes (metrics, console): true (or a promise of it) when handled, false at once when not theirs. */
  routes?: Array<(req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,64}$/;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A GraphQL error response written by the HTTP layer itself, shaped like Apollo's; `Retry-After` when the error says when. */
export function sendGraphQLError(res: ServerResponse, error: GraphQLError, requestId: string): void {
  const formatted = formatError(error.toJSON(), error, { requestId, development: false });
  const retryAfter = error.extensions?.retryAfter;
  sendJson(res, httpStatusOf(error), { errors: [formatted] }, typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {});
}

/** The body as text, up to `limit` bytes; past it, the rest is discarded unread and PAYLOAD_TOO_LARGE thrown. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return collectBody(req, limit, (chunks) => (chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
}

/** The body's bytes as sent (a signature covers them, not their decoding), up to `limit` bytes, as readBody. */
export function readBodyBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  return collectBody(req, limit, (chunks) => Buffer.concat(chunks));
}

function collectBody<T>(req: IncomingMessage, limit: number, finish: (chunks: Buffer[]) => T): Promise<T> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new PayloadTooLargeError(limit));
  // Listeners rather than `for await`: an async iterator per request is measurable on the hot path.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      reject(new PayloadTooLargeError(limit));
    };
    req.on('data', onData);
    req.once('end', () => resolve(finish(chunks)));
    req.once('error', reject);
  });
}

function parseBody(req: IncomingMessage, text: string, batch: boolean): unknown {
  if (req.method !== 'POST') return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/graphql') return { query: text };
  if (type !== 'application/json' && type !== 'application/graphql-response+json') {
    throw new BadRequestError('POST bodies must be JSON (Content-Type: application/json).');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError('The request body is not valid JSON.');
  }
  if (Array.isArray(body)) {
    if (!batch) throw new BadRequestError('Batched requests are not enabled.');
    return body;
  }
  if (!body || typeof body !== 'object') throw new BadRequestError('The request body must be a JSON object.');
  const { query } = body as { query?: unknown };
  if (typeof query !== 'string' || query.trim() === '') {
    throw new BadRequestError('The request body must have a "query" string.');
  }
  return body;
}

/**
 * The HTTP layer around Apollo: request ids, body limits, credentials, and one log line
 * per request. Authentication happens here, before GraphQL parses anything.
 */
export function createHttpHandler(deps: HttpDeps) {
  const { config, logger, apollo, services } = deps;

  async function graphql(req: IncomingMessage, res: ServerResponse, requestId: string, ip: string, log: Record<string, unknown>) {
    const text = req.method === 'POST' ? await readBody(req, config.maxBodyBytes) : '';
    const { principal, rateLimit, creditsSpent } = await admitHttp(services, req.headers, res, requestId, ip);
    if (principal) Object.assign(log, { keyId: principal.keyId, merchantId: principal.merchantId });
    const context: GraphQLContext = {
      requestId,
      ip,
      principal,
      services,
      state: { operationName: null, prepaid: principal ? 1 : 0 },
      rateLimit,
    };
    // Every authenticated request leaves KEY_USED, whatever its outcome (a body or document
    // that never reaches execution included); batched, so it costs no write here.
    const recordUse = () => {
      if (!principal) return;
      // The credit admission spent rides on this event: the ledger's flush stores it.
      recordKeyUse(services.ledger, principal, { requestId, ip, operationName: context.state.operationName, metadata: creditsSpent ?? undefined });
    };
    const url = req.url ?? '/';
    let body: unknown;
    try {
      body = parseBody(req, text, config.batchRequests);
      // A GET carries its document in the query string; only a long one can be worth checking.
      refuseRepetition(req.method === 'GET' && url.length > 1_000 ? { query: new URLSearchParams(url.slice(url.indexOf('?') + 1)).get('query') } : body, config);
    } catch (error) {
      recordUse();
      throw error;
    }
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.includes('?') ? url.slice(url.indexOf('?')) : '', body },
      context: async () => context,
    });
    log.operationName = context.state.operationName;
    log.rootField = context.state.rootField ?? null;
    // Without an outcome from Apollo's plugin, the finish handler names the code by status.
    log.code = context.state.outcome;
    recordUse();
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const ip = clientAddress(req, config.trustProxy);
    const path = (req.url ?? '/').split('?')[0]!;
    const graphqlPath = path === '/graphql' || path === '/graphql/';
    const authzPath = !graphqlPath && isAuthzPath(path);
    // The request id is a field of the line rather than a child logger: a child per request is
    // measurable on the hot path, and the error logging through requestScope names the id itself.
    const log: Record<string, unknown> = { requestId, method: req.method, path, ip };
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      log.status = res.statusCode;
      log.durationMs = Math.round((Number(process.hrtime.bigint() - started) / 1e6) * 100) / 100;
      if (graphqlPath) log.code ??= res.statusCode >= 400 ? 'BAD_REQUEST' : 'OK';
      logger.info(log, 'request');
      if (graphqlPath) deps.observe?.((log.rootField as string | null | undefined) ?? null, log.code as string, Number(log.durationMs) / 1000);
      else if (authzPath) deps.observe?.('authz', log.code as string, Number(log.durationMs) / 1000);
    });

    void requestScope.run({ requestId, logger }, async () => {
      try {
        for (const route of deps.routes ?? []) {
          const handled = route(req, res);
          // A route that is not this request's answers false synchronously: no await on the hot path.
          if (handled === true || (handled !== false && (await handled))) return;
        }
        if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
          return sendJson(res, 200, { status: 'ok' });
        }
        if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
          const database = await services.db.ping();
          const pubsub = services.bus.healthy();
          // A limiter outage is served by the fail-open policy, so it is reported but does not fail readiness.
          const limiter = services.limiter.healthy();
          // A full ledger backlog refuses every request: the instance is not ready until it drains.
          const ledger = { pending: services.ledger.unwritten, full: services.ledger.full };
          const ready = database && !ledger.full;
          return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', database, pubsub, limiter, ledger });
        }
        if (graphqlPath) {
          return await graphql(req, res, requestId, ip, log);
        }
        if (authzPath) {
          return await serveAuthz(req, res, { services, maxBodyBytes: config.maxBodyBytes, readBody }, { requestId, ip, log });
        }
        sendJson(res, 404, { error: 'Not found', requestId });
      } catch (error) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (error instanceof Error && 'extensions' in error && (error as GraphQLError).extensions?.code) {
          if (error instanceof PayloadTooLargeError) res.setHeader('connection', 'close');
          log.code = (error as GraphQLError).extensions.code;
          return sendGraphQLError(res, error as GraphQLError, requestId);
        }
        logger.error({ err: error, requestId }, 'unexpected error');
        log.code = 'INTERNAL_SERVER_ERROR';
        sendJson(res, 500, {
          errors: [{ message: 'Internal server error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } }],
        });
      }
    });
  };
}
