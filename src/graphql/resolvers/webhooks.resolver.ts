import { Arg, Args, ArgsType, Authorized, Ctx, Field, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { WebhookView } from '../../webhooks/webhook-view.js';
import { actorOf, type GraphQLContext } from '../context.js';
import { connection } from '../types/page-info.type.js';
import {
  CreateWebhookInput,
  CreateWebhookPayload,
  UpdateWebhookInput,
  Webhook,
  WebhookConnection,
  WebhookDeliveryConnection,
} from '../types/webhook.type.js';

@ArgsType()
class WebhooksArgs {
  @Field(() => String, { nullable: true, description: "Defaults to the caller's merchant (every endpoint for admin)." })
  merchantId?: string | null;

  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'At most 100.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@ArgsType()
class DeliveriesArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'At most 100.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@Resolver(() => Webhook)
export class WebhooksResolver {
  @Authorized('webhooks:read')
  @Query(() => WebhookConnection, { description: 'Webhook endpoints, newest first.' })
  async webhooks(@Args(() => WebhooksArgs) args: WebhooksArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.webhooks.list(actorOf(ctx), args.merchantId, args.first, args.after));
  }

  @Authorized('webhooks:write')
  @Mutation(() => CreateWebhookPayload, { description: 'Creates an endpoint; it receives the events committed from now on. The payload holds its signing secret, once.' })
  createWebhook(@Arg('input', () => CreateWebhookInput) input: CreateWebhookInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.webhooks.create(actorOf(ctx), input);
  }

  @Authorized('webhooks:write')
  @Mutation(() => Webhook, { description: 'Changes the url, types, description, or enables / disables an endpoint.' })
  updateWebhook(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateWebhookInput) input: UpdateWebhookInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.webhooks.update(actorOf(ctx), id, input);
  }

  @Authorized('webhooks:write')
  @Mutation(() => Boolean, { description: 'Deletes an endpoint and its delivery records.' })
  deleteWebhook(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.webhooks.delete(actorOf(ctx), id);
  }

  // The endpoint itself was served under the access policy; its attempts go with it.
  @FieldResolver(() => WebhookDeliveryConnection, { description: 'Delivery attempts, newest first (the newest WEBHOOK_DELIVERIES_KEPT are kept).' })
  async deliveries(@Root() webhook: WebhookView, @Args(() => DeliveriesArgs) args: DeliveriesArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.webhooks.deliveries(webhook.id, args.first, args.after));
  }
}
