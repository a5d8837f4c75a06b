import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { DateTimeScalar } from '../scalars.js';
import { KeyUsage, UsageGranularity } from '../types/key-usage.type.js';

@Resolver()
export class UsageResolver {
  @Authorized('keys:read')
  @Query(() => [KeyUsage], {
    description: 'Usage of up to 100 keys by outcome, per bucket (at most 1,440 MINUTE, 744 HOUR or 400 DAY buckets); another merchant’s key is FORBIDDEN.',
  })
  keyUsage(
    @Arg('keyIds', () => [ID]) keyIds: string[],
    @Arg('from', () => DateTimeScalar) from: Date,
    @Arg('to', () => DateTimeScalar) to: Date,
    @Arg('granularity', () => UsageGranularity, { nullable: true, defaultValue: UsageGranularity.HOUR }) granularity: UsageGranularity | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.usage.keyUsage(actorOf(ctx), { keyIds, from, to, granularity: granularity ?? UsageGranularity.HOUR });
  }
}
