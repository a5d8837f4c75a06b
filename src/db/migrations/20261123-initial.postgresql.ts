import { Migration } from '@mikro-orm/migrations';

/** Keys and the event ledger, on PostgreSQL. */
export class InitialPostgresql extends Migration {
  override name = '20261123-initial';

  override up(): void {
    this.addSql(
      `create table "api_key" ("id" varchar(40) not null, "merchant_id" varchar(64) not null, "name" varchar(100) not null, "type" varchar(16) not null, "environment" varchar(8) not null, "status" varchar(16) not null default 'ACTIVE', "scopes" jsonb not null, "prefix" varchar(16) not null, "last4" varchar(4) not null, "digest" varchar(64) not null, "value" varchar(64) null, "rate_limit" int not null, "rate_window_seconds" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "expires_at" timestamptz null, "expiry_recorded_at" timestamptz null, "last_used_at" timestamptz null, "usage_count" int not null default 0, "disabled_at" timestamptz null, "revoked_at" timestamptz null, "status_reason" varchar(500) null, "created_by_id" varchar(40) null, "rotated_from_id" varchar(40) null, primary key ("id"));`,
    );
    this.addSql('alter table "api_key" add constraint "api_key_digest_unique" unique ("digest");');
    this.addSql('create index "api_key_expires_at_index" on "api_key" ("expires_at");');
    this.addSql('create index "api_key_merchant_id_created_at_index" on "api_key" ("merchant_id", "created_at");');
    this.addSql(
      'create table "audit_event" ("id" bigserial primary key, "type" varchar(32) not null, "occurred_at" timestamptz not null, "merchant_id" varchar(64) null, "key_id" varchar(40) null, "actor_key_id" varchar(40) null, "request_id" varchar(64) null, "operation_name" varchar(200) null, "ip" varchar(64) null, "reason" varchar(500) null, "metadata" jsonb null);',
    );
    this.addSql('create index "audit_event_type_occurred_at_index" on "audit_event" ("type", "occurred_at");');
    this.addSql('create index "audit_event_key_id_id_index" on "audit_event" ("key_id", "id");');
    this.addSql('create index "audit_event_merchant_id_id_index" on "audit_event" ("merchant_id", "id");');
  }

  override down(): void {
    this.addSql('drop table if exists "audit_event";');
    this.addSql('drop table if exists "api_key";');
  }
}
