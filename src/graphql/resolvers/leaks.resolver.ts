import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { LeakReportReceipt } from '../types/leak-report.type.js';

@Resolver()
export class LeaksResolver {
  @Authorized('leaks:report')
  @Mutation(() => LeakReportReceipt, {
    description:
      'Reports key values found where they should not be (at most 1,000). Each that names a SECRET or TOKENIZATION key not revoked yet gets KEY_LEAKED and is revoked (or disabled, LEAKED_KEY_ACTION) at once.',
  })
  reportLeakedKeys(
    @Arg('keys', () => [String]) keys: string[],
    @Arg('url', () => String, { nullable: true, description: 'Where the values were found (at most 2,048 characters).' }) url: string | null,
    @Arg('source', () => String, { nullable: true, description: 'What found them, or what kind of place it was (at most 100 characters).' }) source: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.leaks.receive(actorOf(ctx), keys, url, source);
  }
}
