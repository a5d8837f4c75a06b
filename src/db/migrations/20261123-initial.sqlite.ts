import { Migration } from '@mikro-orm/migrations';

/** Keys and the event ledger, on SQLite. */
export class InitialSqlite extends Migration {
  override name = '20261123-initial';

  override up(): void {
    this.addSql(
      "create table `api_key` (`id` text not null primary key, `merchant_id` text not null, `name` text not null, `type` text not null, `environment` text not null, `status` text not null default 'ACTIVE', `scopes` json not null, `prefix` text not null, `last4` text not null, `digest` text not null, `value` text null, `rate_limit` integer not null, `rate_window_seconds` integer not null, `created_at` datetime not null, `updated_at` datetime not null, `expires_at` datetime null, `expiry_recorded_at` datetime null, `last_used_at` datetime null, `usage_count` integer not null default 0, `disabled_at` datetime null, `revoked_at` datetime null, `status_reason` text null, `created_by_id` text null, `rotated_from_id` text null);",
    );
    this.addSql('create unique index `api_key_digest_unique` on `api_key` (`digest`);');
    this.addSql('create index `api_key_expires_at_index` on `api_key` (`expires_at`);');
    this.addSql('create index `api_key_merchant_id_created_at_index` on `api_key` (`merchant_id`, `created_at`);');
    this.addSql(
      'create table `audit_event` (`id` integer not null primary key autoincrement, `type` text not null, `occurred_at` datetime not null, `merchant_id` text null, `key_id` text null, `actor_key_id` text null, `request_id` text null, `operation_name` text null, `ip` text null, `reason` text null, `metadata` json null);',
    );
    this.addSql('create index `audit_event_type_occurred_at_index` on `audit_event` (`type`, `occurred_at`);');
    this.addSql('create index `audit_event_key_id_id_index` on `audit_event` (`key_id`, `id`);');
    this.addSql('create index `audit_event_merchant_id_id_index` on `audit_event` (`merchant_id`, `id`);');
  }

  override down(): void {
    this.addSql('drop table if exists `audit_event`;');
    this.addSql('drop table if exists `api_key`;');
  }
}
