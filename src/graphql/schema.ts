import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { authChecker } from './auth-checker.js';
import { resolveRootFieldsDirectly } from './direct-resolvers.js';
import { AuditResolver } from './resolvers/audit.resolver.js';
import { CreditsResolver } from './resolvers/credits.resolver.js';
import { KeysResolver } from './resolvers/keys.resolver.js';
import { LeaksResolver } from './resolvers/leaks.resolver.js';
import { UsageResolver } from './resolvers/usage.resolver.js';
import { VerifyResolver } from './resolvers/verify.resolver.js';
import { ViewerResolver } from './resolvers/viewer.resolver.js';
import { WebhooksResolver } from './resolvers/webhooks.resolver.js';
import { DateTimeScalar } from './scalars.js';

export const RESOLVERS = [KeysResolver, ViewerResolver, AuditResolver, VerifyResolver, CreditsResolver, LeaksResolver, UsageResolver, WebhooksResolver] as const;

const NO_PUBSUB = {
  publish(): void {
    throw new Error('Topic-based subscriptions are not used: each @Subscription brings its own subscribe function.');
  },
  subscribe(): AsyncIterable<unknown> {
    throw new Error('Topic-based subscriptions are not used: each @Subscription brings its own subscribe function.');
  },
};

/** Builds the executable schema from the resolver classes. */
export async function createSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [...RESOLVERS],
    authChecker,
    authMode: 'error',
    validate: false,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    // Subscriptions bring their own iterators (the audit feed); type-graphql still wants a PubSub.
    pubSub: NO_PUBSUB,
  });
  // A subscription field resolves each event to itself. Scope and tenancy are checked once, at
  // subscribe (type-graphql wraps `subscribe` with the auth checker), and a key that stops being
  // valid closes its socket; re-running the resolver middleware for every event and every
  // subscriber cost about a tenth of the fan-out's CPU.
  resolveRootFieldsDirectly(schema, RESOLVERS, authChecker);
  for (const field of Object.values(schema.getSubscriptionType()?.getFields() ?? {})) field.resolve = (event: unknown) => event;
  return schema;
}
