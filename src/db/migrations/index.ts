import { InitialPostgresql } from './20261123-initial.postgresql.js';
import { InitialSqlite } from './20261123-initial.sqlite.js';
import { WebhooksPostgresql } from './20261202-webhooks.postgresql.js';
import { WebhooksSqlite } from './20261202-webhooks.sqlite.js';

/**
 * Committed migrations, in order, one list per driver (their DDL differs: autoincrement
 * against bigserial, json against jsonb). A new migration is added to both lists.
 */
export const sqliteMigrations = [
  { name: '20261123-initial', class: InitialSqlite },
  { name: '20261202-webhooks', class: WebhooksSqlite },
];
export const postgresMigrations = [
  { name: '20261123-initial', class: InitialPostgresql },
  { name: '20261202-webhooks', class: WebhooksPostgresql },
];
