import { Arg, Args, ArgsType, Authorized, Ctx, Field, ID, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { SubscribeResolverData } from 'type-graphql';
import type { AuditEventRecord } from '../../audit/event-types.js';
import { actorOf, type GraphQLContext } from '../context.js';
import { AuditEventFilter } from '../types/audit-event-filter.input.js';
import { AuditEvent, AuditEventConnection, AuditEventOrder, AuditEventType } from '../types/audit-event.type.js';
import { connection } from '../types/page-info.type.js';

@ArgsType()
class AuditEventsArgs {
  @Field(() => AuditEventFilter, { nullable: true })
  filter?: AuditEventFilter | null;

  @Field(() => Int, { nullable: true, defaultValue: 50, description: 'At most 100.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'An event id (the cursor of an edge).' })
  after?: string | null;

  @Field(() => AuditEventOrder, { nullable: true, defaultValue: AuditEventOrder.DESC, description: 'Newest first (DESC) unless ASC.' })
  order?: AuditEventOrder | null;
}

interface FeedArgs {
  types?: AuditEventType[] | null;
  keyId?: string | null;
  merchantId?: string | null;
  after?: string | null;
}

function subscribeToFeed({ args, context }: SubscribeResolverData<unknown, FeedArgs, GraphQLContext>) {
  return context.services.feed.subscribe(actorOf(context), args, context.feedSink ?? undefined);
}

@Resolver()
export class AuditResolver {
  @Authorized('audit:read')
  @Query(() => AuditEventConnection, {
    description: 'Audit events, newest first by default (order: ASC for oldest first). Non-admin keys see their own merchant only.',
  })
  async auditEvents(@Args(() => AuditEventsArgs) args: AuditEventsArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.audit.list(actorOf(ctx), args.filter ?? {}, args.order, args.first, args.after));
  }

  @Authorized('audit:read')
  @Subscription(() => AuditEvent, {
    name: 'auditEvents',
    subscribe: subscribeToFeed,
    description:
      'Audit events as they are written, in id order. With `after: <id>`, every stored event after that id comes first, ' +
      'then live ones, with no gap and no duplicate. Non-admin keys see their own merchant only.',
  })
  auditEventFeed(
    @Root() event: AuditEventRecord,
    @Arg('types', () => [AuditEventType], { nullable: true }) _types: AuditEventType[] | null,
    @Arg('keyId', () => ID, { nullable: true }) _keyId: string | null,
    @Arg('merchantId', () => String, { nullable: true }) _merchantId: string | null,
    @Arg('after', () => String, { nullable: true, description: 'The last event id seen.' }) _after: string | null,
  ): AuditEventRecord {
    return event;
  }
}
