import { Field, InputType } from 'type-graphql';
import { CreditsInput } from './credits.type.js';
import { DateTimeScalar, JSONObjectScalar } from '../scalars.js';
import { RateLimitInput } from './create-key.input.js';

/** A field left out stays as it is; an explicit null clears metadata, expiresAt, allowedIps and credits (unlimited). */
@InputType({ description: 'A field left out stays as it is; an explicit null clears metadata, expiresAt, allowedIps (any address) and credits (unlimited).' })
export class UpdateKeyInput {
  @Field(() => String, { nullable: true, description: '1 to 100 characters, without < or >.' })
  name?: string | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'A JSON object of at most 4 KiB; null clears it.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => [String], { nullable: true, description: 'At most the scopes the caller can grant.' })
  scopes?: string[] | null;

  @Field(() => RateLimitInput, { nullable: true, description: "Within the caller's own bounds." })
  rateLimit?: RateLimitInput | null;

  @Field(() => DateTimeScalar, { nullable: true, description: "In the future, and within the caller's own bounds; null: never expires." })
  expiresAt?: Date | null;

  @Field(() => [String], { nullable: true, description: 'At most 100 addresses or CIDR ranges; null or empty: any address.' })
  allowedIps?: string[] | null;

  @Field(() => CreditsInput, { nullable: true, description: 'Sets the credits anew (remaining now, and the refill); null: unlimited.' })
  credits?: CreditsInput | null;
}
