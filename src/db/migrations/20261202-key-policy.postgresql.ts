import { Migration } from '@mikro-orm/migrations';

/** A key's own metadata and its IP allowlist (empty: any address), on PostgreSQL. */
export class KeyPolicyPostgresql extends Migration {
  override name = '20261202-key-policy';

  override up(): void {
    this.addSql(`alter table "api_key" add column "metadata" jsonb null, add column "allowed_ips" jsonb not null default '[]';`);
  }

  override down(): void {
    this.addSql('alter table "api_key" drop column "allowed_ips", drop column "metadata";');
  }
}
