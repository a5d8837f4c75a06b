import { Migration } from '@mikro-orm/migrations';

const COUNTS = '"valid" int not null default 0, "rate_limited" int not null default 0, "usage_exceeded" int not null default 0, "denied" int not null default 0, "credits_spent" bigint not null default 0';

/** keyUsage's rollups (per key and minute, hour, day; bucket = its start in epoch ms) and each key's last use, on PostgreSQL. */
export class UsagePostgresql extends Migration {
  override name = '20261202-usage';

  override up(): void {
    for (const grain of ['minute', 'hour', 'day']) {
      this.addSql(`create table "key_usage_${grain}" ("key_id" varchar(40) not null, "bucket" bigint not null, ${COUNTS}, primary key ("key_id", "bucket"));`);
      // Retention deletes by age across every key.
      this.addSql(`create index "key_usage_${grain}_bucket_index" on "key_usage_${grain}" ("bucket");`);
    }
    this.addSql('create table "key_usage_last" ("key_id" varchar(40) not null primary key, "used_at" bigint not null, "ip" varchar(64) null);');
  }

  override down(): void {
    this.addSql('drop table if exists "key_usage_last";');
    for (const grain of ['day', 'hour', 'minute']) this.addSql(`drop table if exists "key_usage_${grain}";`);
  }
}
