import { Migration } from '@mikro-orm/migrations';

/** Usage credits on keys (contract §9.1), on SQLite. */
export class CreditsSqlite extends Migration {
  override name = '20261202-credits';

  override up(): void {
    this.addSql('alter table `api_key` add column `credits_remaining` integer null;');
    this.addSql('alter table `api_key` add column `credit_period` integer null;');
    this.addSql('alter table `api_key` add column `credit_refill_amount` integer null;');
    this.addSql('alter table `api_key` add column `credit_refill_interval` text null;');
    this.addSql('alter table `api_key` add column `credit_refill_anchor_day` integer null;');
  }

  override down(): void {
    for (const column of ['credit_refill_anchor_day', 'credit_refill_interval', 'credit_refill_amount', 'credit_period', 'credits_remaining']) {
      this.addSql(`alter table \`api_key\` drop column \`${column}\`;`);
    }
  }
}
