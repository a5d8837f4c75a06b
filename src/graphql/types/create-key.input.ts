import { Field, InputType, Int } from 'type-graphql';
import { DateTimeScalar, JSONObjectScalar } from '../scalars.js';
import { CreditsInput } from './credits.type.js';
import { ApiKeyType, KeyEnvironment } from './enums.js';

@InputType()
export class RateLimitInput {
  @Field(() => Int, { description: '1 to 100000 requests.' })
  limit!: number;

  @Field(() => Int, { description: '1 to 86400 seconds.' })
  windowSeconds!: number;
}

@InputType()
export class CreateKeyInput {
  @Field(() => String, { nullable: true, description: "Defaults to the caller's merchant; another one needs admin." })
  merchantId?: string | null;

  @Field(() => String, { description: '1 to 100 characters, without < or >.' })
  name!: string;

  @Field(() => ApiKeyType)
  type!: ApiKeyType;

  @Field(() => KeyEnvironment, { nullable: true, defaultValue: KeyEnvironment.TEST, description: 'Defaults to TEST; an explicit null means TEST too.' })
  environment?: KeyEnvironment | null;

  @Field(() => [String], {
    description: 'Scopes from the catalogue; at most those the caller holds. PUBLIC and TOKENIZATION keys never hold keys:*, audit:read, webhooks:*, leaks:report or admin.',
  })
  scopes!: string[];

  @Field(() => DateTimeScalar, { nullable: true })
  expiresAt?: Date | null;

  @Field(() => RateLimitInput, { nullable: true, description: 'Defaults to 30 requests per 60 seconds.' })
  rateLimit?: RateLimitInput | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Your own data on the key: a JSON object of at most 4 KiB; verifyKey returns it.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => [String], {
    nullable: true,
    description: "IPv4/IPv6 addresses or CIDR ranges (at most 100) the key's own requests may come from; empty or null: any address.",
  })
  allowedIps?: string[] | null;
  @Field(() => CreditsInput, { nullable: true, description: 'Usage credits; absent or null: unlimited.' })
  credits?: CreditsInput | null;
}
