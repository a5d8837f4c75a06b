import { GraphQLScalarType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { AuthenticationError, AuthorizationError, getMetadataStorage, type AuthCheckerFn } from 'type-graphql';

/** Argument types type-graphql hands over unchanged (no input class to build, nothing to validate with `validate: false`). */
const PLAIN_ARGUMENT_TYPES: unknown[] = [String, Number, Boolean];

type ParamMetadata = { kind: string; index: number; name?: string; propertyName?: string; getType?: () => unknown };

/**
 * The root Query and Mutation fields of the given resolver classes whose parameters are plain
 * (`@Arg` of a scalar, `@Ctx()`, `@Info()`) and which have no middleware of their own, resolved
 * without type-graphql's per-call machinery: its async auth middleware, the promise per
 * argument (`validateArg` is async even with validation off) and the `Promise.all` over them
 * cost about a twentieth of a `verifyKey` request's CPU. What a call does is unchanged: the
 * same auth checker with the field's `@Authorized` roles first (refusing as `authMode: 'error'`
 * does), then the same method of one instance of the class with the same arguments, in order.
 * Any other field keeps type-graphql's resolver.
 */
export function resolveRootFieldsDirectly(schema: GraphQLSchema, resolvers: readonly Function[], authChecker: AuthCheckerFn<any>): void {
  const storage = getMetadataStorage();
  const fieldsOf = { Query: schema.getQueryType()?.getFields(), Mutation: schema.getMutationType()?.getFields() };
  const instances = new Map<Function, Record<string, (...params: unknown[]) => unknown>>();
  for (const [type, definitions] of [
    ['Query', storage.queries],
    ['Mutation', storage.mutations],
  ] as const) {
    for (const definition of definitions) {
      if (!resolvers.includes(definition.target) || (definition.middlewares?.length ?? 0) > 0) continue;
      const field = fieldsOf[type]?.[definition.schemaName];
      const params = [...(definition.params ?? [])].sort((a, b) => a.index - b.index) as ParamMetadata[];
      if (!field || !params.every(isPlain)) continue;
      if (!instances.has(definition.target)) instances.set(definition.target, new (definition.target as new () => Record<string, (...params: unknown[]) => unknown>)());
      const instance = instances.get(definition.target)!;
      const method = instance[definition.methodName]!;
      const roles = definition.roles;
      const resolve: GraphQLFieldResolver<unknown, unknown> = (root, args, context, info) => {
        const call = () => method.apply(instance, params.map((param) => (param.kind === 'arg' ? args[param.name!] : param.kind === 'context' ? context : info)));
        if (!roles) return call();
        const granted = authChecker({ root, args, context, info }, roles);
        // A checker that answers later (not the project's, but allowed by the type) is awaited first.
        if (granted instanceof Promise) return granted.then((ok: boolean) => (ok ? call() : refuse(roles)));
        return granted ? call() : refuse(roles);
      };
      field.resolve = resolve;
    }
  }
}

/** As type-graphql's auth middleware refuses in `authMode: 'error'`. */
function refuse(roles: readonly string[]): never {
  throw roles.length === 0 ? new AuthenticationError() : new AuthorizationError();
}

function isPlain(param: ParamMetadata): boolean {
  if (param.kind === 'context') return param.propertyName === undefined;
  if (param.kind === 'info') return true;
  if (param.kind !== 'arg') return false;
  const type = param.getType!();
  return PLAIN_ARGUMENT_TYPES.includes(type) || type instanceof GraphQLScalarType;
}
