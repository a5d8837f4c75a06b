import { Migration } from '@mikro-orm/migrations';

const COUNTS = '`valid` integer not null default 0, `rate_limited` integer not null default 0, `usage_exceeded` integer not null default 0, `denied` integer not null default 0, `credits_spent` integer not null default 0';

/** keyUsage's rollups (per key and minute, hour, day; bucket = its start in epoch ms) and each key's last use, on SQLite. */
export class UsageSqlite extends Migration {
  override name = '20261202-usage';

  override up(): void {
    for (const grain of ['minute', 'hour', 'day']) {
      this.addSql(`create table \`key_usage_${grain}\` (\`key_id\` text not null, \`bucket\` integer not null, ${COUNTS}, primary key (\`key_id\`, \`bucket\`)) without rowid;`);
      // Retention deletes by age across every key.
      this.addSql(`create index \`key_usage_${grain}_bucket_index\` on \`key_usage_${grain}\` (\`bucket\`);`);
    }
    this.addSql('create table `key_usage_last` (`key_id` text not null primary key, `used_at` integer not null, `ip` text null);');
  }

  override down(): void {
    this.addSql('drop table if exists `key_usage_last`;');
    for (const grain of ['day', 'hour', 'minute']) this.addSql(`drop table if exists \`key_usage_${grain}\`;`);
  }
}
