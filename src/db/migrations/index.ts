import { InitialPostgresql } from './20261123-initial.postgresql.js';
import { InitialSqlite } from './20261123-initial.sqlite.js';
import { UsagePostgresql } from './20261202-usage.postgresql.js';
import { UsageSqlite } from './20261202-usage.sqlite.js';

/**
 * Committed migrations, in order, one list per driver (their DDL differs: autoincrement
 * against bigserial, json against jsonb). A new migration is added to both lists.
 */
export const sqliteMigrations = [
  { name: '20261123-initial', class: InitialSqlite },
  { name: '20261202-usage', class: UsageSqlite },
];
export const postgresMigrations = [
  { name: '20261123-initial', class: InitialPostgresql },
  { name: '20261202-usage', class: UsagePostgresql },
];
