import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../scalars.js';

export enum UsageGranularity {
  MINUTE = 'MINUTE',
  HOUR = 'HOUR',
  DAY = 'DAY',
}
registerEnumType(UsageGranularity, { name: 'UsageGranularity', description: 'The step of keyUsage buckets, aligned to UTC.' });

@ObjectType({ simpleResolvers: true, description: "A key's usage by outcome." })
export class UsageCounts {
  @Field(() => Int, {
    description: "The key's own authenticated requests and its successful verifications (KEY_USED); an own request refused for scope after it was authenticated counts here and in denied.",
  })
  valid!: number;

  @Field(() => Int, { description: 'Requests and verifications refused over the key’s rate limit.' })
  rateLimited!: number;

  @Field(() => Int, { description: 'Requests and verifications refused for want of credits (USAGE_EXCEEDED).' })
  usageExceeded!: number;

  @Field(() => Int, { description: 'Scope and IP refusals (ACCESS_DENIED).' })
  denied!: number;

  @Field(() => Int, { description: 'Credits spent by the valid ones.' })
  creditsSpent!: number;
}

@ObjectType({ simpleResolvers: true, description: 'One step of keyUsage.' })
export class UsageBucket {
  @Field(() => DateTimeScalar, { description: 'Where the bucket starts (UTC-aligned); it lasts one step.' })
  start!: Date;

  @Field(() => UsageCounts)
  counts!: UsageCounts;
}

@ObjectType({ simpleResolvers: true, description: "One key's usage over a window, current within the ledger's flush interval; kept 400 days." })
export class KeyUsage {
  @Field(() => ID)
  keyId!: string;

  @Field(() => UsageCounts, { description: 'The sum of the buckets.' })
  total!: UsageCounts;

  @Field(() => [UsageBucket], { description: 'One per step from the bucket that holds `from` up to `to`, empty ones included.' })
  buckets!: UsageBucket[];

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the key was last used (ever, not only in the window).' })
  lastUsedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'The address of that last use.' })
  lastIp!: string | null;
}
