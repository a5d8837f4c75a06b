import { Migration } from '@mikro-orm/migrations';

/** Webhook endpoints and their delivery attempts, on PostgreSQL. */
export class WebhooksPostgresql extends Migration {
  override name = '20261202-webhooks';

  override up(): void {
    this.addSql(
      `create table "webhook" ("id" varchar(40) not null, "merchant_id" varchar(64) null, "url" varchar(2048) not null, "types" jsonb not null, "description" varchar(500) null, "status" varchar(16) not null default 'ACTIVE', "secret_cipher" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "cursor_event_id" bigint not null, "last_delivered_event_id" bigint null, "last_error" varchar(500) null, "attempts" int not null default 0, "failing_since" timestamptz null, "next_attempt_at" timestamptz null, "lease_owner" varchar(40) null, "lease_expires_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql('create index "webhook_merchant_id_created_at_index" on "webhook" ("merchant_id", "created_at");');
    this.addSql(
      'create table "webhook_delivery" ("id" bigserial primary key, "webhook_id" varchar(40) not null, "event_id" bigint not null, "attempt" int not null, "at" timestamptz not null, "http_status" int null, "error" varchar(500) null, "duration_ms" int not null);',
    );
    this.addSql('create index "webhook_delivery_webhook_id_id_index" on "webhook_delivery" ("webhook_id", "id");');
  }

  override down(): void {
    this.addSql('drop table if exists "webhook_delivery";');
    this.addSql('drop table if exists "webhook";');
  }
}
