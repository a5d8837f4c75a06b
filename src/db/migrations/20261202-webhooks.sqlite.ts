import { Migration } from '@mikro-orm/migrations';

/** Webhook endpoints and their delivery attempts, on SQLite. */
export class WebhooksSqlite extends Migration {
  override name = '20261202-webhooks';

  override up(): void {
    this.addSql(
      "create table `webhook` (`id` text not null primary key, `merchant_id` text null, `url` text not null, `types` json not null, `description` text null, `status` text not null default 'ACTIVE', `secret_cipher` text not null, `created_at` datetime not null, `updated_at` datetime not null, `cursor_event_id` integer not null, `last_delivered_event_id` integer null, `last_error` text null, `attempts` integer not null default 0, `failing_since` datetime null, `next_attempt_at` datetime null, `lease_owner` text null, `lease_expires_at` datetime null);",
    );
    this.addSql('create index `webhook_merchant_id_created_at_index` on `webhook` (`merchant_id`, `created_at`);');
    this.addSql(
      'create table `webhook_delivery` (`id` integer not null primary key autoincrement, `webhook_id` text not null, `event_id` integer not null, `attempt` integer not null, `at` datetime not null, `http_status` integer null, `error` text null, `duration_ms` integer not null);',
    );
    this.addSql('create index `webhook_delivery_webhook_id_id_index` on `webhook_delivery` (`webhook_id`, `id`);');
  }

  override down(): void {
    this.addSql('drop table if exists `webhook_delivery`;');
    this.addSql('drop table if exists `webhook`;');
  }
}
