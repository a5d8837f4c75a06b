import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('DATABASE_URL', () => {
  it('takes a SQLite file or a PostgreSQL URL', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:/tmp/keyring-config-test.db' }).databaseUrl).toBe('sqlite:/tmp/keyring-config-test.db');
    expect(loadConfig({ DATABASE_URL: 'postgres://127.0.0.1:5432/test' }).databaseUrl).toBe('postgres://127.0.0.1:5432/test');
  });

  it('refuses another scheme, and an in-memory SQLite database (the ledger thread opens the file itself)', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL.*sqlite: or postgres/);
    expect(() => loadConfig({ DATABASE_URL: 'sqlite::memory:' })).toThrow(/DATABASE_URL.*:memory:/);
  });
});
