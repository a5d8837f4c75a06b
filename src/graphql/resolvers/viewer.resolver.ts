import { Authorized, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { actorOf, type GraphQLContext } from '../context.js';
import { ApiKey } from '../types/api-key.type.js';
import { Credits } from '../types/credits.type.js';
import { ScopeDefinition, Viewer } from '../types/viewer.type.js';

@Resolver(() => Viewer)
export class ViewerResolver {
  @Authorized()
  @Query(() => Viewer, { description: 'The key making the request: who am I, and my limits.' })
  viewer(@Ctx() ctx: GraphQLContext): Viewer {
    const principal = ctx.principal!;
    const key = principal.key;
    return {
      keyId: key.id,
      merchantId: key.merchantId,
      name: key.name,
      type: key.type as Viewer['type'],
      environment: key.environment as Viewer['environment'],
      scopes: [...key.scopes],
      admin: principal.admin,
      expiresAt: key.expiresAt,
      rateLimit: ctx.rateLimit,
    };
  }

  @FieldResolver(() => ApiKey, { description: 'The full record of the key making the request.' })
  key(@Root() viewer: Viewer, @Ctx() ctx: GraphQLContext) {
    return ctx.services.keys.get(actorOf(ctx), viewer.keyId);
  }

  @FieldResolver(() => Credits, { nullable: true, description: "The calling key's credits left after this request; null: unlimited." })
  credits(@Ctx() ctx: GraphQLContext) {
    const key = ctx.principal!.key;
    return ctx.services.credits.view(key.id, key.credits);
  }

  // Any valid key may read the catalogue: it names no merchant's data, and a front end needs it to offer scopes.
  @Authorized()
  @Query(() => [ScopeDefinition], { description: 'The scope catalogue.' })
  scopes(@Ctx() ctx: GraphQLContext): ScopeDefinition[] {
    return ctx.services.catalogue.list();
  }
}
