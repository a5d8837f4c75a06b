import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { authChecker } from './auth-checker.js';
import { AuditResolver } from './resolvers/audit.resolver.js';
import { KeysResolver } from './resolvers/keys.resolver.js';
import { VerifyResolver } from './resolvers/verify.resolver.js';
import { ViewerResolver } from './resolvers/viewer.resolver.js';
import { DateTimeScalar } from './scalars.js';

export const RESOLVERS = [KeysResolver, ViewerResolver, AuditResolver, VerifyResolver] as const;

const NO_PUBSUB = {
  publish(): void {
    throw new Error('Topic-based subscriptions are not used: each @Subscription brings its own subscribe function.');
  },
  subscribe(): AsyncIterable<unknown> {
    throw new Error('Topic-based subscriptions are not used: each @Subscription brings its own subscribe function.');
  },
};

/** Builds the executable schema from the resolver classes. */
export function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...RESOLVERS],
    authChecker,
    authMode: 'error',
    validate: false,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    // Subscriptions bring their own iterators (the audit feed); type-graphql still wants a PubSub.
    pubSub: NO_PUBSUB,
  });
}
