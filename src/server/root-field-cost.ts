import type { GraphQLRequestContextDidResolveOperation } from '@apollo/server';
import { retryAfterSeconds } from '../auth/admission.js';
import { RateLimitedError } from '../errors.js';
import type { GraphQLContext } from '../graphql/context.js';
import { rateLimitFiguresOf, rateLimitHeaders } from './admission.js';
import { rootFields } from './operation-label.js';

/**
 * Each root field of a request counts one against the caller's key (contract §9.5): fifteen
 * aliased `createKey`s are fifteen requests, not one. Admission has counted one per HTTP
 * request before the document was read (`state.prepaid`); this takes the rest once the
 * operation is known, refreshes the `RateLimit-*` figures, and refuses with RATE_LIMITED (429)
 * when they do not fit. Each operation of a batch counts its own root fields. A hook of
 * Apollo's `didResolveOperation`, called by server/apollo.ts's request plugin.
 */
export async function chargeRootFields({ contextValue, document, operation, response }: GraphQLRequestContextDidResolveOperation<GraphQLContext>): Promise<void> {
  const { principal, state, services } = contextValue;
  if (!principal || !operation) return;
  const extra = rootFields(document, operation).count - (state.prepaid ?? 0);
  state.prepaid = 0;
  if (extra <= 0) return;
  const request = { requestId: contextValue.requestId, ip: contextValue.ip, operationName: state.operationName };
  const result = await services.throttle.key(principal.key, request, extra);
  for (const [name, value] of Object.entries(rateLimitHeaders(result))) response.http.headers.set(name, value);
  if (contextValue.rateLimit) Object.assign(contextValue.rateLimit, rateLimitFiguresOf(result));
  if (!result.allowed) throw new RateLimitedError(retryAfterSeconds(result));
}
