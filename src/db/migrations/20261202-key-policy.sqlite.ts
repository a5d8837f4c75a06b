import { Migration } from '@mikro-orm/migrations';

/** A key's own metadata and its IP allowlist (empty: any address), on SQLite. */
export class KeyPolicySqlite extends Migration {
  override name = '20261202-key-policy';

  override up(): void {
    this.addSql('alter table `api_key` add column `metadata` json null;');
    this.addSql("alter table `api_key` add column `allowed_ips` json not null default '[]';");
  }

  override down(): void {
    this.addSql('alter table `api_key` drop column `allowed_ips`;');
    this.addSql('alter table `api_key` drop column `metadata`;');
  }
}
