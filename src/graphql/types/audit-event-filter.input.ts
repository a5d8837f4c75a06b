import { Field, ID, InputType } from 'type-graphql';
import { DateTimeScalar } from '../scalars.js';
import { AuditEventType } from './audit-event.type.js';

@InputType({ description: 'Which audit events to list; every field narrows the result.' })
export class AuditEventFilter {
  @Field(() => [AuditEventType], { nullable: true, description: 'Any of these types (all types when absent or empty).' })
  types?: AuditEventType[] | null;

  @Field(() => ID, { nullable: true })
  keyId?: string | null;

  @Field(() => String, {
    nullable: true,
    description: "Defaults to the caller's merchant (all merchants for admin); another merchant needs admin.",
  })
  merchantId?: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'occurredAt at or after this time.' })
  from?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'occurredAt before this time.' })
  to?: Date | null;
}
