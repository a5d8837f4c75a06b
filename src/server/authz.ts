import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Ledger } from '../audit/ledger.js';
import { httpStatusOf, PayloadTooLargeError } from '../errors.js';
import type { Verification, VerifyService } from '../keys/verify.service.js';
import { rateLimitHeaders } from './admission.js';
import { credentialFromHeaders } from './credentials.js';

/** The path of forward authentication; Envoy's `path_prefix` appends the original path to it. */
export function isAuthzPath(path: string): boolean {
  return path === '/authz' || path.startsWith('/authz/');
}

/** What /authz answers: a status and headers, never a body; `code` names the outcome in the log line and metrics. */
export interface AuthzAnswer {
  status: number;
  code: string;
  headers: Record<string, string>;
  /** The judged key, when it was usable: for the log line. */
  keyId?: string;
  merchantId?: string;
}

const CODE_HEADER = 'x-keyring-code';
// The query parameters a gateway's configuration may set; anything else in the query is ignored
// (Envoy appends the original request's path and query to its path_prefix).
const DIGITS = /^[0-9]{1,7}$/;

/**
 * Forward authentication (contract §9.4) for NGINX `auth_request`, Traefik `forwardAuth` and
 * Envoy `ext_authz`: the key in `Authorization: Bearer` or `X-Api-Key`, judged by the very
 * decision of verifyKey (VerifyService.decide) with a gateway as the asker, so the key is its
 * own caller (its own limit, its own events; operationName `authz`). Throws BAD_USER_INPUT
 * for a bad `scopes` or `cost`.
 */
async function authorize(
  services: { verify: VerifyService; ledger: Ledger },
  request: { url: string; headers: IncomingHttpHeaders; requestId: string; ip: string },
): Promise<AuthzAnswer> {
  // Nothing is served unrecorded (admission's rule): the gateway is told to try again shortly.
  if (services.ledger.full) return { status: 503, code: 'SERVICE_UNAVAILABLE', headers: { [CODE_HEADER]: 'SERVICE_UNAVAILABLE', 'retry-after': '1' } };
  const at = request.url.indexOf('?');
  const query = at < 0 ? null : new URLSearchParams(request.url.slice(at + 1));
  const listed = query?.getAll('scopes') ?? [];
  const costs = query?.getAll('cost') ?? [];
  const credential = credentialFromHeaders(request.headers);
  const verification = await services.verify.decide(
    { kind: 'gateway', requestId: request.requestId, ip: request.ip },
    {
      // An unusable credential (another scheme, two different keys) is judged as a malformed key.
      key: credential === undefined ? '' : credential,
      requiredScopes: listed.length === 0 ? [] : listed.join(',').split(','),
      // A cost that is not one plain whole number is passed on as NaN, for the decision to refuse.
      cost: costs.length === 0 ? undefined : costs.length === 1 && DIGITS.test(costs[0]!) ? Number(costs[0]) : Number.NaN,
      clientIp: request.ip,
    },
  );
  return answerOf(verification);
}

function answerOf(verification: Verification): AuthzAnswer {
  const figures = verification.rateLimit ? rateLimitHeaders(verification.rateLimit) : {};
  switch (verification.code) {
    case 'VALID':
      return {
        status: 200,
        code: 'OK',
        keyId: verification.keyId!,
        merchantId: verification.merchantId!,
        headers: {
          'x-keyring-key-id': verification.keyId!,
          'x-keyring-merchant-id': verification.merchantId!,
          'x-keyring-scopes': verification.scopes!.join(','),
          ...figures,
        },
      };
    case 'INSUFFICIENT_SCOPE':
    case 'IP_NOT_ALLOWED':
      return { status: 403, code: verification.code, headers: { [CODE_HEADER]: verification.code, ...figures } };
    case 'RATE_LIMITED':
      return { status: 429, code: verification.code, headers: { [CODE_HEADER]: verification.code, ...figures } };
    case 'USAGE_EXCEEDED': {
      // The key is within its rate limit: Retry-After is the time to its next refill, and only when one is due.
      const wait: Record<string, string> = verification.refillInSeconds == null ? {} : { 'retry-after': String(verification.refillInSeconds) };
      return { status: 429, code: verification.code, headers: { [CODE_HEADER]: verification.code, ...figures, ...wait } };
    }
    case 'MISSING':
    case 'MALFORMED':
    case 'NOT_FOUND':
    case 'DISABLED':
    case 'REVOKED':
    case 'EXPIRED':
      // No, bad, disabled, revoked or expired key alike: which one is the key holder's business, not the client's.
      return { status: 401, code: 'UNAUTHENTICATED', headers: { [CODE_HEADER]: 'UNAUTHENTICATED', 'www-authenticate': 'Bearer' } };
    default: {
      // A code the decision gains (IP_NOT_ALLOWED, USAGE_EXCEEDED) fails to compile here until it has its answer.
      const unanswered: never = verification.code;
      throw new Error(`no /authz answer for ${String(unanswered)}`);
    }
  }
}

/** A coded error of the HTTP layer (bad input, a body over the limit) as /authz answers it: its status and code, no body. */
function answerOfError(error: GraphQLError): AuthzAnswer {
  const code = String(error.extensions.code);
  const status = code === 'BAD_USER_INPUT' ? 400 : httpStatusOf(error);
  const retryAfter = error.extensions.retryAfter;
  return { status, code, headers: { [CODE_HEADER]: code, ...(typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {}) } };
}

function sendAuthz(res: ServerResponse, answer: AuthzAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': 0 });
  res.end();
}

/**
 * The HTTP edge of /authz, behind the same connection guard, body limit, request id and log
 * line as every request; never GraphQL. Fills the log line's operationName, code and key.
 */
export async function serveAuthz(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { services: { verify: VerifyService; ledger: Ledger }; maxBodyBytes: number; readBody: (req: IncomingMessage, limit: number) => Promise<string> },
  request: { requestId: string; ip: string; log: Record<string, unknown> },
): Promise<void> {
  let answer: AuthzAnswer;
  try {
    // Gateways send no body (NGINX, Traefik) or a bounded one (Envoy's with_request_body): read within the limit, unused.
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) await deps.readBody(req, deps.maxBodyBytes);
    answer = await authorize(deps.services, { url: req.url ?? '/', headers: req.headers, requestId: request.requestId, ip: request.ip });
  } catch (error) {
    if (!(error instanceof GraphQLError && error.extensions?.code)) throw error;
    answer = answerOfError(error);
    if (error instanceof PayloadTooLargeError) res.setHeader('connection', 'close');
  }
  request.log.operationName = 'authz';
  request.log.code = answer.code;
  if (answer.keyId) {
    request.log.keyId = answer.keyId;
    request.log.merchantId = answer.merchantId;
  }
  sendAuthz(res, answer);
}
