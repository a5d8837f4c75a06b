import type { AuthCheckerFn } from 'type-graphql';
import { UnauthenticatedError } from '../errors.js';
import type { GraphQLContext } from './context.js';
import { actorOf } from './context.js';
import { grants } from '../keys/scopes.js';

/**
 * The one scope checker behind every `@Authorized(...)`: any valid key passes an empty
 * list; otherwise the key must hold every listed scope (`admin` holds them all).
 * A refusal is recorded as ACCESS_DENIED and answered FORBIDDEN.
 */
export const authChecker: AuthCheckerFn<GraphQLContext> = ({ context, info }, scopes) => {
  const principal = context.principal;
  if (!principal) throw new UnauthenticatedError();
  const missing = scopes.filter((scope) => !grants(principal.scopes, scope));
  if (missing.length === 0) return true;
  return context.services.policy.deny(actorOf(context), info.fieldName, 'missing scope', { scopes: missing });
};
