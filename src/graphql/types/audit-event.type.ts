import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AuditEventType } from '../../audit/event-types.js';
import { DateTimeScalar, JSONObjectScalar } from '../scalars.js';
import { PageInfo } from './page-info.type.js';

export { AuditEventType };

registerEnumType(AuditEventType, { name: 'AuditEventType', description: 'What an audit event records.' });

export enum AuditEventOrder {
  ASC = 'ASC',
  DESC = 'DESC',
}
registerEnumType(AuditEventOrder, {
  name: 'AuditEventOrder',
  description: 'ASC: oldest first (increasing id). DESC: newest first (decreasing id), the default.',
});

// One field per column of src/audit/event-columns.ts, and the id: written out for the contract's
// descriptions, and held to the column list by test/unit/event-columns.test.ts.
@ObjectType({ simpleResolvers: true, description: 'One entry of the append-only audit ledger.' })
export class AuditEvent {
  @Field(() => ID, { description: 'Strictly increasing; also the cursor to resume from (`after`).' })
  id!: string;

  @Field(() => AuditEventType)
  type!: AuditEventType;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => String, { nullable: true })
  merchantId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The key the event is about.' })
  keyId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The key that performed the action; null for the operator and the system.' })
  actorKeyId!: string | null;

  @Field(() => String, { nullable: true })
  requestId!: string | null;

  @Field(() => String, { nullable: true })
  operationName!: string | null;

  @Field(() => String, { nullable: true })
  ip!: string | null;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => JSONObjectScalar, { nullable: true })
  metadata!: Record<string, unknown> | null;
}

@ObjectType({ simpleResolvers: true })
export class AuditEventEdge {
  @Field(() => String, { description: "The event's id." })
  cursor!: string;

  @Field(() => AuditEvent)
  node!: AuditEvent;
}

@ObjectType({ simpleResolvers: true })
export class AuditEventConnection {
  @Field(() => [AuditEventEdge])
  edges!: AuditEventEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}
