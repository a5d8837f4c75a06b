import { Migration } from '@mikro-orm/migrations';

const COUNTS = '"valid" int not null default 0, "rate_limited" int not null default 0, "usage_exceeded" int not null default 0, "denied" int not null default 0, "credits_spent" bigint not null default 0';

/** keyUsage's rollups (per key and minute, hour, day; bucket = its start in epoch ms) the fold's progress, and each key's last address, on PostgreSQL. */
export class UsagePostgresql extends Migration {
  override name = '20261202-usage';

  override up(): void {
    // Minutes are keyed by minute, then key (a batch's cells are the current minute's: few pages);
    // the index for queries by key changes only when a cell is new.
    this.addSql(`create table "key_usage_minute" ("key_id" varchar(40) not null, "bucket" bigint not null, ${COUNTS}, primary key ("bucket", "key_id"));`);
    this.addSql('create index "key_usage_minute_key_id_bucket_index" on "key_usage_minute" ("key_id", "bucket");');
    for (const grain of ['hour', 'day']) {
      this.addSql(`create table "key_usage_${grain}" ("key_id" varchar(40) not null, "bucket" bigint not null, ${COUNTS}, primary key ("key_id", "bucket"));`);
      // Retention deletes by age across every key.
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
