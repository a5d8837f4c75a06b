import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../scalars.js';
import { AuditEventType } from './audit-event.type.js';
import { PageInfo } from './page-info.type.js';

export enum WebhookStatus {
  ACTIVE = 'ACTIVE',
  FAILING = 'FAILING',
  DISABLED = 'DISABLED',
}
registerEnumType(WebhookStatus, {
  name: 'WebhookStatus',
  description: 'FAILING: an event is being retried (later ones wait). DISABLED: by updateWebhook, or after WEBHOOK_DISABLE_AFTER_MS of failures.',
});

@ObjectType({ simpleResolvers: true, description: 'One attempt to deliver one event.' })
export class WebhookDelivery {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  eventId!: string;

  @Field(() => Int, { description: '1 for the first attempt at this event, then counting retries.' })
  attempt!: number;

  @Field(() => DateTimeScalar)
  at!: Date;

  @Field(() => Int, { nullable: true, description: "The receiver's HTTP status; null when none came back." })
  httpStatus!: number | null;

  @Field(() => String, { nullable: true })
  error!: string | null;

  @Field(() => Int)
  durationMs!: number;
}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => WebhookDelivery)
  node!: WebhookDelivery;
}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge])
  edges!: WebhookDeliveryEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@ObjectType({ description: 'A webhook endpoint: the events it wants are POSTed to it, signed (Standard Webhooks), in id order.' })
export class Webhook {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: "null: an admin's endpoint, which receives every merchant's events." })
  merchantId!: string | null;

  @Field(() => String)
  url!: string;

  @Field(() => [AuditEventType])
  types!: AuditEventType[];

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => WebhookStatus)
  status!: WebhookStatus;

  @Field(() => DateTimeScalar)
  createdAt!: Date;

  @Field(() => DateTimeScalar)
  updatedAt!: Date;

  @Field(() => ID, { nullable: true, description: 'The last event the endpoint acknowledged (2xx).' })
  lastDeliveredEventId!: string | null;

  @Field(() => String, { nullable: true, description: 'Why the event being retried failed.' })
  lastError!: string | null;
}

@ObjectType({ simpleResolvers: true })
export class WebhookEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Webhook)
  node!: Webhook;
}

@ObjectType({ simpleResolvers: true })
export class WebhookConnection {
  @Field(() => [WebhookEdge])
  edges!: WebhookEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}

@ObjectType({ simpleResolvers: true })
export class CreateWebhookPayload {
  @Field(() => Webhook)
  webhook!: Webhook;

  @Field(() => String, { description: 'The signing secret, `whsec_<base64>`. Shown once: store it now.' })
  secret!: string;
}

@InputType()
export class CreateWebhookInput {
  @Field(() => String, { nullable: true, description: "Defaults to the caller's merchant (for admin: every merchant's events)." })
  merchantId?: string | null;

  @Field(() => String, { description: 'https:// (http:// only with WEBHOOK_ALLOW_HTTP); a public address unless WEBHOOK_ALLOW_PRIVATE.' })
  url!: string;

  @Field(() => [AuditEventType], { description: 'The event types to deliver; at least one.' })
  types!: AuditEventType[];

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@InputType({ description: 'A field left out is unchanged.' })
export class UpdateWebhookInput {
  @Field(() => String, { nullable: true })
  url?: string | null;

  @Field(() => [AuditEventType], { nullable: true })
  types?: AuditEventType[] | null;

  @Field(() => Boolean, { nullable: true, description: 'false disables; true enables again, resuming after lastDeliveredEventId.' })
  enabled?: boolean | null;

  @Field(() => String, { nullable: true })
  description?: string | null;
}
