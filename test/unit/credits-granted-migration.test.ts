import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sqliteMigrations } from '../../src/db/migrations/index.js';

type MigrationClass = (typeof sqliteMigrations)[number]['class'];

/** A migration's SQL, as it would run. */
function statements(Migration: MigrationClass): string[] {
  const migration = new Migration(undefined as never, undefined as never);
  migration.up();
  return migration.getQueries().map(String);
}

describe('migration 20261203-credits-granted', () => {
  it('gives keys that already have credits without a refill their stored count as their first grant', () => {
    const db = new Database(':memory:');
    try {
      const index = sqliteMigrations.findIndex((migration) => migration.name === '20261203-credits-granted');
      expect(index).toBe(sqliteMigrations.length - 1);
      for (const migration of sqliteMigrations.slice(0, index)) for (const sql of statements(migration.class)) db.exec(sql);
      const insert = db.prepare(
        "insert into api_key (id, merchant_id, name, type, environment, scopes, prefix, last4, digest, rate_limit, rate_window_seconds, created_at, updated_at, credits_remaining, credit_period, credit_refill_amount, credit_refill_interval) values (?, 'm', 'k', 'SECRET', 'TEST', '[]', 'sk_test_', 'abcd', ?, 60, 60, 0, 0, ?, ?, ?, ?)",
      );
      insert.run('key_unlimited', 'd1', null, null, null, null);
      insert.run('key_plain', 'd2', 37, null, null, null);
      insert.run('key_refilled', 'd3', 4, 20_000, 100, 'DAILY');
      for (const sql of statements(sqliteMigrations[index]!.class)) db.exec(sql);
      expect(db.prepare('select id, credits_granted, credit_grant from api_key order by id').all()).toEqual([
        { id: 'key_plain', credits_granted: 37, credit_grant: 1 },
        { id: 'key_refilled', credits_granted: null, credit_grant: 1 },
        { id: 'key_unlimited', credits_granted: null, credit_grant: null },
      ]);
    } finally {
      db.close();
    }
  });
});
