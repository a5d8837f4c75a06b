import { Arg, Args, ArgsType, Authorized, Ctx, Field, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { ApiKey, ApiKeyConnection, CreateKeyPayload } from '../types/api-key.type.js';
import { CreateKeyInput } from '../types/create-key.input.js';
import { ApiKeyStatus, ApiKeyType, KeyEnvironment } from '../types/enums.js';
import { UpdateKeyInput } from '../types/update-key.input.js';
import { connection } from '../types/page-info.type.js';

@ArgsType()
class ApiKeysArgs {
  @Field(() => String, { nullable: true, description: "Defaults to the caller's merchant (all merchants for admin)." })
  merchantId?: string | null;

  @Field(() => ApiKeyStatus, { nullable: true })
  status?: ApiKeyStatus | null;

  @Field(() => ApiKeyType, { nullable: true })
  type?: ApiKeyType | null;

  @Field(() => KeyEnvironment, { nullable: true })
  environment?: KeyEnvironment | null;

  @Field(() => Int, { nullable: true, defaultValue: 20, description: 'At most 100.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@Resolver()
export class KeysResolver {
  @Authorized('keys:read')
  @Query(() => ApiKey, { nullable: true, description: 'The key with this id; null when there is none.' })
  apiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.keys.get(actorOf(ctx), id);
  }

  @Authorized('keys:read')
  @Query(() => ApiKeyConnection, { description: 'Keys, newest first.' })
  async apiKeys(@Args(() => ApiKeysArgs) args: ApiKeysArgs, @Ctx() ctx: GraphQLContext) {
    return connection(await ctx.services.keys.list(actorOf(ctx), args, args.first, args.after));
  }

  @Authorized('keys:write')
  @Mutation(() => CreateKeyPayload, { description: 'Creates a key; the payload holds its full value, once.' })
  createKey(@Arg('input', () => CreateKeyInput) input: CreateKeyInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.keys.create(actorOf(ctx), input);
  }

  @Authorized('keys:write')
  @Mutation(() => ApiKey, { description: 'Changes a key in place; effective on the next request on every instance. A revoked key cannot be updated.' })
  updateKey(@Arg('id', () => ID) id: string, @Arg('input', () => UpdateKeyInput) input: UpdateKeyInput, @Ctx() ctx: GraphQLContext) {
    return ctx.services.creditsService.updateKey(actorOf(ctx), id, input);
  }

  @Authorized('keys:write')
  @Mutation(() => ApiKey, { description: 'Stops a key from authenticating until it is enabled again.' })
  disableKey(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.keys.disable(actorOf(ctx), id, reason);
  }

  @Authorized('keys:write')
  @Mutation(() => ApiKey, { description: 'Lets a disabled key authenticate again.' })
  enableKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ctx.services.keys.enable(actorOf(ctx), id);
  }

  @Authorized('keys:write')
  @Mutation(() => ApiKey, { description: 'Revokes a key for good.' })
  revokeKey(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.keys.revoke(actorOf(ctx), id, reason);
  }

  @Authorized('keys:write')
  @Mutation(() => CreateKeyPayload, { description: 'A new key like this one; this one expires after expireOldAfterSeconds.' })
  rotateKey(
    @Arg('id', () => ID) id: string,
    @Arg('expireOldAfterSeconds', () => Int, { nullable: true, defaultValue: 0 }) expireOldAfterSeconds: number | null,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ctx.services.keys.rotate(actorOf(ctx), id, expireOldAfterSeconds);
  }
}
