import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'The answer of reportLeakedKeys: how many values were received, never which of them matched.' })
export class LeakReportReceipt {
  @Field(() => Int)
  received!: number;
}
