import type { AccessPolicy } from '../auth/access-policy.js';
import type { KeyActor, Principal } from '../auth/principal.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { AuditFeed } from '../audit/audit-feed.js';
import type { AuditService } from '../audit/audit.service.js';
import type { EventBus } from '../audit/event-bus.js';
import type { FeedSink } from '../audit/feed-subscription.js';
import type { Ledger } from '../audit/ledger.js';
import type { Database } from '../db/orm.js';
import type { KeysService } from '../keys/keys.service.js';
import type { LeakReports } from '../keys/leak-reports.js';
import type { ScopeCatalogue } from '../keys/scopes.js';
import type { VerifyService } from '../keys/verify.service.js';
import type { Limiter } from '../throttle/limiter.js';
import type { Throttle } from '../throttle/throttle.js';
import type { Credits } from '../throttle/credits.js';
import type { CreditsService } from '../keys/credits.service.js';
import type { UsageService } from '../usage/usage.service.js';
import { UnauthenticatedError } from '../errors.js';
import type { WebhookDispatcher } from '../webhooks/webhook-dispatcher.js';
import type { WebhooksService } from '../webhooks/webhooks.service.js';

/** Limit figures of the key (or client address) that made the request. */
export interface RateLimitFigures {
  limit: number;
  remaining: number;
  resetAt: Date;
}

/** The domain services resolvers call; built once per process in server/app.ts. */
export interface Services {
  db: Database;
  keys: KeysService;
  /** Who may do what: merchant scoping, grants, minting bounds, recorded refusals. */
  policy: AccessPolicy;
  catalogue: ScopeCatalogue;
  ledger: Ledger;
  bus: EventBus;
  authenticator: Authenticator;
  /** The rate limiter (in-process, or shared through Redis). */
  limiter: Limiter;
  /** Per-key and per-address limits on top of the limiter; records refusals. */
  throttle: Throttle;
  verify: VerifyService;
  /** Usage credits: the live counter and its rules; creditsService grants. */
  credits: Credits;
  creditsService: CreditsService;
  /** Leak reports (POST /leaks and reportLeakedKeys): leaked keys revoked or disabled. */
  leaks: LeakReports;
  audit: AuditService;
  feed: AuditFeed;
  /** keyUsage, from the rollups the ledger writes. */
  usage: UsageService;
  webhooks: WebhooksService;
  /** This instance's webhook delivery (leases, workers). */
  dispatcher: WebhookDispatcher;
}

/** What the request learns while it runs, read back by the HTTP layer for logs, events and metrics. */
export interface RequestState {
  operationName: string | null;
  /** First root field of the operation: a bounded label for metrics (client operation names are not). */
  rootField?: string | null;
  /** OK, or the code of the first error in the response. */
  outcome?: string | null;
  /** Requests admission already counted for this request's root fields (one per HTTP request). */
  prepaid?: number;
}

/** Per request (HTTP) or per operation (WebSocket). */
export interface GraphQLContext {
  requestId: string;
  ip: string | null;
  principal: Principal | null;
  services: Services;
  /**
   * Filled in while the request runs. A nested object on purpose: Apollo clones the
   * context shallowly per operation, and the HTTP layer reads these after execution.
   */
  state: RequestState;
  rateLimit: RateLimitFigures | null;
  /** Over WebSocket only: the socket's flow control, so a subscription can be capped and closed as a slow consumer. */
  feedSink?: FeedSink | null;
}

/** The key behind the request as the services' actor; a request without one has no rights at all. */
export function actorOf(context: GraphQLContext): KeyActor {
  if (!context.principal) throw new UnauthenticatedError();
  return {
    kind: 'key',
    principal: context.principal,
    requestId: context.requestId,
    ip: context.ip,
    operationName: context.state.operationName,
  };
}
