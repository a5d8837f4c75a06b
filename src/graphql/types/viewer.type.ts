import { Field, Int, ObjectType, ID } from 'type-graphql';
import { DateTimeScalar } from '../scalars.js';
import { ApiKeyType, KeyEnvironment } from './enums.js';

@ObjectType({ simpleResolvers: true, description: 'Where a key stands against its rate limit.' })
export class RateLimitStatus {
  @Field(() => Int)
  limit!: number;

  @Field(() => Int)
  remaining!: number;

  @Field(() => DateTimeScalar)
  resetAt!: Date;
}

@ObjectType({ simpleResolvers: true, description: 'The key making the request.' })
export class Viewer {
  @Field(() => ID)
  keyId!: string;

  @Field(() => String)
  merchantId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => ApiKeyType)
  type!: ApiKeyType;

  @Field(() => KeyEnvironment)
  environment!: KeyEnvironment;

  @Field(() => [String])
  scopes!: string[];

  @Field(() => Boolean, { description: 'Holds the admin scope: every scope, every merchant.' })
  admin!: boolean;

  @Field(() => DateTimeScalar, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => RateLimitStatus, { nullable: true, description: "The key's limit figures after this request." })
  rateLimit!: RateLimitStatus | null;
}

@ObjectType({ simpleResolvers: true })
export class ScopeDefinition {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  description!: string;

  @Field(() => Boolean)
  builtIn!: boolean;
}
