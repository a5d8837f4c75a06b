import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { ApiKey } from '../types/api-key.type.js';
import { Credits } from '../types/credits.type.js';
import type { StoredCredits } from '../../keys/credits.js';

@Resolver(() => ApiKey)
export class CreditsResolver {
  @Authorized('keys:write')
  @Mutation(() => ApiKey, { description: "Adds credits to a key with credits (after any refill that came due)." })
  grantCredits(
    @Arg('id', () => ID) id: string,
    @Arg('amount', () => Int, { description: '1 to 1000000000.' }) amount: number,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.creditsService.grant(actorOf(ctx), id, amount, reason);
  }

  // The live count (the credit counter's), not the stored one, which lags by a ledger flush.
  @FieldResolver(() => Credits, { nullable: true, description: 'Usage credits; null: unlimited.' })
  credits(@Root() key: ApiKey & { credits?: StoredCredits | null }, @Ctx() ctx: GraphQLContext) {
    return ctx.services.credits.view(key.id, key.credits ?? null);
  }
}
