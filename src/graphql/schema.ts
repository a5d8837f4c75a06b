import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { authChecker } from './auth-checker.js';
import { KeysResolver } from './resolvers/keys.resolver.js';
import { ViewerResolver } from './resolvers/viewer.resolver.js';
import { DateTimeScalar } from './scalars.js';

export const RESOLVERS = [KeysResolver, ViewerResolver] as const;

/** Builds the executable schema from the resolver classes. */
export function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...RESOLVERS],
    authChecker,
    authMode: 'error',
    validate: false,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
  });
}
