import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../scalars.js';

export enum RefillInterval {
  DAILY = 'DAILY',
  MONTHLY = 'MONTHLY',
}

registerEnumType(RefillInterval, {
  name: 'RefillInterval',
  description: 'When credits refill, at 00:00 UTC.',
  valuesConfig: {
    DAILY: { description: 'Every day at 00:00 UTC.' },
    MONTHLY: { description: 'On anchorDay (1–31, default 1; a shorter month refills on its last day) at 00:00 UTC.' },
  },
});

@InputType()
export class CreditRefillInput {
  @Field(() => Int, { description: 'What a refill sets remaining to (it does not add): 1 to 1000000000.' })
  amount!: number;

  @Field(() => RefillInterval)
  interval!: RefillInterval;

  @Field(() => Int, { nullable: true, description: 'MONTHLY only: 1 to 31, default 1.' })
  anchorDay?: number | null;
}

@InputType()
export class CreditsInput {
  @Field(() => Int, { description: '0 to 1000000000.' })
  remaining!: number;

  @Field(() => CreditRefillInput, { nullable: true })
  refill?: CreditRefillInput | null;
}

@ObjectType({ simpleResolvers: true })
export class CreditRefill {
  @Field(() => Int)
  amount!: number;

  @Field(() => RefillInterval)
  interval!: RefillInterval;

  @Field(() => Int, { nullable: true })
  anchorDay!: number | null;
}

@ObjectType({ simpleResolvers: true, description: "A key's usage credits: each request of the key costs 1, each verifyKey of it its cost." })
export class Credits {
  @Field(() => Int, { description: 'Credits left now.' })
  remaining!: number;

  @Field(() => CreditRefill, { nullable: true })
  refill!: CreditRefill | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the next refill lands; null without a refill.' })
  nextRefillAt!: Date | null;
}
