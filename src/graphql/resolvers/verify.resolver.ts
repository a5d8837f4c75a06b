import { Arg, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { ApiKey } from '../types/api-key.type.js';
import { KeyVerification, VerifyContext } from '../types/verification.type.js';

@Resolver(() => KeyVerification)
export class VerifyResolver {
  @Authorized('keys:verify')
  @Query(() => KeyVerification, {
    description: "Whether a presented key is good for the required scopes; applies and counts the verified key's own limit.",
  })
  verifyKey(
    @Arg('key', () => String) key: string,
    @Arg('requiredScopes', () => [String], { nullable: true }) requiredScopes: string[] | null,
    @Arg('cost', () => Int, { nullable: true, defaultValue: 1, description: "Credits to spend from the verified key: 0 to 1000; 0 only checks." }) cost: number | null,
    @Arg('context', () => VerifyContext, { nullable: true }) context: VerifyContext | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.verify.verify(actorOf(ctx), { key, requiredScopes, cost: cost ?? 1, clientIp: context?.ip ?? null });
  }

  // A database read: only made when the client selects `key`, so the usual verification stays on the cache.
  @FieldResolver(() => ApiKey, { nullable: true })
  key(@Root() verification: KeyVerification, @Ctx() ctx: GraphQLContext) {
    return verification.keyId ? ctx.services.keys.get(actorOf(ctx), verification.keyId) : null;
  }
}
