import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { JSONObjectScalar } from '../scalars.js';
import { ApiKey } from './api-key.type.js';
import { RateLimitStatus } from './viewer.type.js';

export enum VerificationCode {
  VALID = 'VALID',
  NOT_FOUND = 'NOT_FOUND',
  MALFORMED = 'MALFORMED',
  DISABLED = 'DISABLED',
  REVOKED = 'REVOKED',
  EXPIRED = 'EXPIRED',
  INSUFFICIENT_SCOPE = 'INSUFFICIENT_SCOPE',
  RATE_LIMITED = 'RATE_LIMITED',
  IP_NOT_ALLOWED = 'IP_NOT_ALLOWED',
  USAGE_EXCEEDED = 'USAGE_EXCEEDED',
}

registerEnumType(VerificationCode, {
  name: 'VerificationCode',
  description: 'Why a presented key is or is not good for the request it came with.',
  valuesConfig: {
    NOT_FOUND: { description: 'No such key, or a key of another merchant.' },
    MALFORMED: { description: 'Not shaped like a key, or its checksum does not match.' },
    INSUFFICIENT_SCOPE: { description: 'The key lacks one of the required scopes.' },
    RATE_LIMITED: { description: 'The key is over its own rate limit.' },
    IP_NOT_ALLOWED: { description: "context.ip is outside the key's IP allowlist, or missing for a key that has one." },
    USAGE_EXCEEDED: { description: 'The key has fewer credits left than the cost.' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'The answer of verifyKey.' })
export class KeyVerification {
  @Field(() => Boolean, { description: 'True only when code is VALID.' })
  valid!: boolean;

  @Field(() => VerificationCode)
  code!: VerificationCode;

  @Field(() => ApiKey, { nullable: true, description: 'The verified key; null when it was not found or is malformed.' })
  key?: ApiKey | null;

  @Field(() => RateLimitStatus, {
    nullable: true,
    description: "The verified key's own limit figures after this verification; null when the key was not usable.",
  })
  rateLimit!: RateLimitStatus | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: "The verified key's metadata, answered from memory; null when the key was not found or has none." })
  metadata!: Record<string, unknown> | null;
  @Field(() => Int, { nullable: true, description: "The verified key's credits left after this call; null: unlimited (or not reached)." })
  credits!: number | null;

  /** Read by the `key` field resolver only, so the key's full record is loaded only when asked for. */
  keyId!: string | null;
}

@InputType({ description: 'What your service knows of the request it verifies a key for.' })
export class VerifyContext {
  @Field(() => String, { nullable: true, description: 'The end client\'s address, as your service saw it; checked against the key\'s IP allowlist.' })
  ip?: string | null;
}
