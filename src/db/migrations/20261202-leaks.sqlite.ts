import { Migration } from '@mikro-orm/migrations';

/** When each key's KEY_EXPIRING notice was written, so every instance writes it once (SQLite). */
export class LeaksSqlite extends Migration {
  override name = '20261202-leaks';

  override up(): void {
    this.addSql('alter table `api_key` add column `expiry_notice_at` datetime null;');
  }

  override down(): void {
    this.addSql('alter table `api_key` drop column `expiry_notice_at`;');
  }
}
