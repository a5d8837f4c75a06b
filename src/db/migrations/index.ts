import { CreditsPostgresql } from './20261202-credits.postgresql.js';
import { CreditsSqlite } from './20261202-credits.sqlite.js';
import { CreditsGrantedPostgresql } from './20261203-credits-granted.postgresql.js';
import { CreditsGrantedSqlite } from './20261203-credits-granted.sqlite.js';
import { InitialPostgresql } from './20261123-initial.postgresql.js';
import { InitialSqlite } from './20261123-initial.sqlite.js';
import { KeyPolicyPostgresql } from './20261202-key-policy.postgresql.js';
import { KeyPolicySqlite } from './20261202-key-policy.sqlite.js';
import { LeaksPostgresql } from './20261202-leaks.postgresql.js';
import { LeaksSqlite } from './20261202-leaks.sqlite.js';
import { UsagePostgresql } from './20261202-usage.postgresql.js';
import { UsageSqlite } from './20261202-usage.sqlite.js';
import { WebhooksPostgresql } from './20261202-webhooks.postgresql.js';
import { WebhooksSqlite } from './20261202-webhooks.sqlite.js';

/**
 * Committed migrations, in order, one list per driver (their DDL differs: autoincrement
 * against bigserial, json against jsonb). A new migration is added to both lists.
 */
export const sqliteMigrations = [
  { name: '20261123-initial', class: InitialSqlite },
  { name: '20261202-credits', class: CreditsSqlite },
  { name: '20261202-key-policy', class: KeyPolicySqlite },
  { name: '20261202-leaks', class: LeaksSqlite },
  { name: '20261202-usage', class: UsageSqlite },
  { name: '20261202-webhooks', class: WebhooksSqlite },
  { name: '20261203-credits-granted', class: CreditsGrantedSqlite },
];
export const postgresMigrations = [
  { name: '20261123-initial', class: InitialPostgresql },
  { name: '20261202-credits', class: CreditsPostgresql },
  { name: '20261202-key-policy', class: KeyPolicyPostgresql },
  { name: '20261202-leaks', class: LeaksPostgresql },
  { name: '20261202-usage', class: UsagePostgresql },
  { name: '20261202-webhooks', class: WebhooksPostgresql },
  { name: '20261203-credits-granted', class: CreditsGrantedPostgresql },
];
