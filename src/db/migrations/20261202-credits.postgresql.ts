import { Migration } from '@mikro-orm/migrations';

/** Usage credits on keys (contract §9.1), on PostgreSQL. */
export class CreditsPostgresql extends Migration {
  override name = '20261202-credits';

  override up(): void {
    this.addSql(
      'alter table "api_key" add column "credits_remaining" int null, add column "credit_period" int null, add column "credit_refill_amount" int null, add column "credit_refill_interval" varchar(8) null, add column "credit_refill_anchor_day" int null;',
    );
  }

  override down(): void {
    this.addSql(
      'alter table "api_key" drop column "credit_refill_anchor_day", drop column "credit_refill_interval", drop column "credit_refill_amount", drop column "credit_period", drop column "credits_remaining";',
    );
  }
}
