import { Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar, JSONObjectScalar } from '../scalars.js';
import { ApiKeyStatus, ApiKeyType, KeyEnvironment } from './enums.js';
import { PageInfo } from './page-info.type.js';

@ObjectType({ simpleResolvers: true, description: 'A rate limit: `limit` requests per `windowSeconds`.' })
export class RateLimit {
  @Field(() => Int)
  limit!: number;

  @Field(() => Int)
  windowSeconds!: number;
}

@ObjectType({ simpleResolvers: true, description: 'An API key. The value of a SECRET key is never shown after creation.' })
export class ApiKey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  merchantId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => ApiKeyType)
  type!: ApiKeyType;

  @Field(() => KeyEnvironment)
  environment!: KeyEnvironment;

  @Field(() => ApiKeyStatus)
  status!: ApiKeyStatus;

  @Field(() => [String])
  scopes!: string[];

  @Field(() => String, { description: 'Kind and environment, e.g. sk_live_.' })
  prefix!: string;

  @Field(() => String, { description: 'The last four characters of the key.' })
  last4!: string;

  @Field(() => String, { nullable: true, description: 'The full value: PUBLIC and TOKENIZATION keys only; null for SECRET keys.' })
  value!: string | null;

  @Field(() => RateLimit)
  rateLimit!: RateLimit;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => Boolean, { description: 'True once expiresAt has passed: an expired key authenticates nothing.' })
  expired!: boolean;

  @Field(() => DateTimeScalar, { nullable: true })
  lastUsedAt!: Date | null;

  @Field(() => Int)
  usageCount!: number;

  @Field(() => DateTimeScalar, { nullable: true })
  disabledAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => String, { nullable: true })
  statusReason!: string | null;

  @Field(() => ID, { nullable: true, description: 'The key that created this one; null for keys made by the operator.' })
  createdById!: string | null;

  @Field(() => ID, { nullable: true, description: 'The key this one replaced through rotateKey.' })
  rotatedFromId!: string | null;

  @Field(() => JSONObjectScalar, { nullable: true, description: 'Your own data on the key.' })
  metadata!: Record<string, unknown> | null;

  @Field(() => [String], { description: "Addresses and CIDR ranges the key's own requests may come from, normalised; empty: any address." })
  allowedIps!: string[];
}

@ObjectType({ simpleResolvers: true })
export class ApiKeyEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => ApiKey)
  node!: ApiKey;
}

@ObjectType({ simpleResolvers: true })
export class ApiKeyConnection {
  @Field(() => [ApiKeyEdge])
  edges!: ApiKeyEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@ObjectType({ simpleResolvers: true })
export class CreateKeyPayload {
  @Field(() => ApiKey)
  key!: ApiKey;

  @Field(() => String, { description: 'The full key value. Shown once: store it now.' })
  secret!: string;
}
