import { Migration } from '@mikro-orm/migrations';

/**
 * What a key without a refill was granted, and which grant that is (CREDITS_LOW, contract §9.2),
 * on SQLite. A key that already has credits without a refill starts from its stored count as its first grant.
 */
export class CreditsGrantedSqlite extends Migration {
  override name = '20261203-credits-granted';

  override up(): void {
    this.addSql('alter table `api_key` add column `credits_granted` integer null;');
    this.addSql('alter table `api_key` add column `credit_grant` integer null;');
    this.addSql(
      'update `api_key` set `credit_grant` = 1, `credits_granted` = case when `credit_refill_amount` is null then `credits_remaining` else null end where `credits_remaining` is not null;',
    );
  }

  override down(): void {
    for (const column of ['credit_grant', 'credits_granted']) {
      this.addSql(`alter table \`api_key\` drop column \`${column}\`;`);
    }
  }
}
