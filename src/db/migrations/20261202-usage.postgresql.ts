import { Migration } from '@mikro-orm/migrations';

const COUNTS = '"valid" int not null default 0, "rate_limited" int not null default 0, "usage_exceeded" int not null default 0, "denied" int not null default 0, "credits_spent" bigint not null default 0';

/** keyUsage's rollups (per key and minute, hour, day; bucket = its start in epoch ms) the fold's progress, and each key's last address, on PostgreSQL. */
export class UsagePostgresql extends Migration {
  override name = '20261202-usage';

  override up(): void {
    for (const grain of ['minute', 'hour', 'day']) {
      this.addSql(`create table "key_usage_${grain}" ("key_id" varchar(40) not null, "bucket" bigint not null, ${COUNTS}, primary key ("key_id", "bucket"));`);
      // Folding (minutes) and retention (all) read by age across every key.
      this.addSql(`create index "key_usage_${grain}_bucket_index" on "key_usage_${grain}" ("bucket");`);
    }
    // Minutes before folded_until are in the hour and day tables; later ones are folded at query time.
    this.addSql('create table "key_usage_fold" ("id" int not null primary key, "folded_until" bigint not null);');
    this.addSql('insert into "key_usage_fold" ("id", "folded_until") values (1, 0);');
    this.addSql('alter table "api_key" add column "last_ip" varchar(64) null;');
  }

  override down(): void {
    this.addSql('alter table "api_key" drop column "last_ip";');
    this.addSql('drop table if exists "key_usage_fold";');
    for (const grain of ['day', 'hour', 'minute']) this.addSql(`drop table if exists "key_usage_${grain}";`);
  }
}
