import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLNonNull, GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { EVENT_COLUMNS, EVENT_TABLE, type EventColumn } from '../../src/audit/event-columns.js';
import { toRow } from '../../src/audit/event-row.js';
import { FEED_EVENT_FIELDS } from '../../src/cli/event-line.js';
import { postgresMigrations, sqliteMigrations } from '../../src/db/migrations/index.js';
import { openDatabase, type Database } from '../../src/db/orm.js';
import { createSchema } from '../../src/graphql/schema.js';

/** A column as DDL states it: its type there and whether it takes null. */
type Declared = Record<string, { type: string; nullable: boolean }>;

const DDL_TYPES: Record<'sqlite' | 'postgresql', (column: EventColumn) => string> = {
  sqlite: (column) => ({ string: 'text', datetime: 'datetime', json: 'json' })[column.type],
  postgresql: (column) => ({ string: `varchar(${column.length})`, datetime: 'timestamptz', json: 'jsonb' })[column.type],
};

function expected(dialect: 'sqlite' | 'postgresql'): Declared {
  return Object.fromEntries(EVENT_COLUMNS.map((column) => [column.name, { type: DDL_TYPES[dialect](column), nullable: column.nullable }]));
}

/** The audit_event columns (but the id) that a driver's migrations create, from their SQL. */
function migrated(migrations: ReadonlyArray<{ class: new (driver: never, config: never) => { up(): unknown; getQueries(): unknown[] } }>): Declared {
  const declared: Declared = {};
  const table = new RegExp(`^create table [\`"]${EVENT_TABLE}[\`"] \\((.*)\\);?$`);
  const added = new RegExp(`^alter table [\`"]${EVENT_TABLE}[\`"] add column (.*?);?$`);
  for (const { class: Migration } of migrations) {
    const migration = new Migration(undefined as never, undefined as never);
    migration.up();
    for (const sql of migration.getQueries().map(String)) {
      const definitions = sql.match(table)?.[1]?.split(', ') ?? [sql.match(added)?.[1]].filter((d) => d !== undefined);
      for (const definition of definitions) {
        const [, name, type, rest] = definition.match(/^[`"](\w+)[`"] (\S+)(.*)$/)!;
        if (name === 'id') continue;
        declared[name!] = { type: type!, nullable: !/\bnot null\b/.test(rest!) };
      }
    }
  }
  return declared;
}

/**
 * The audit row is described once (src/audit/event-columns.ts); what cannot be derived from that
 * description (the migrations, which are history, and the GraphQL type, which carries the
 * contract's descriptions) must agree with it, so that a column added in one place only fails here.
 */
describe('the audit row, described once', () => {
  let dir: string;
  let db: Database;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyring-event-columns-'));
    db = await openDatabase(`sqlite:${join(dir, 'keyring.db')}`);
  });
  afterAll(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is what the entity maps', () => {
    const meta = db.orm.getMetadata().get(AuditEventEntity);
    const mapped = Object.values(meta.properties)
      .filter((property) => property.name !== 'id')
      .map((property) => ({ field: property.name, name: property.fieldNames[0], length: property.length, nullable: property.nullable ?? false }));
    const columns: readonly EventColumn[] = EVENT_COLUMNS;
    expect(mapped).toEqual(columns.map(({ field, name, length, nullable }) => ({ field, name, length, nullable })));
    expect(meta.tableName).toBe(EVENT_TABLE);
  });

  it('is what both drivers’ migrations create', async () => {
    expect(migrated(sqliteMigrations)).toEqual(expected('sqlite'));
    expect(migrated(postgresMigrations)).toEqual(expected('postgresql'));
    // And what SQLite holds once they have run.
    const columns = await db.fork().execute<Array<{ name: string; type: string; notnull: number }>>(`pragma table_info(${EVENT_TABLE})`);
    const held = Object.fromEntries(columns.filter((c) => c.name !== 'id').map((c) => [c.name, { type: c.type.toLowerCase(), nullable: c.notnull === 0 }]));
    expect(held).toEqual(expected('sqlite'));
  });

  it('is what the GraphQL type serves, and what keys tail asks for', async () => {
    const type = (await createSchema()).getType('AuditEvent');
    expect(type).toBeInstanceOf(GraphQLObjectType);
    const fields = (type as GraphQLObjectType).getFields();
    expect(Object.keys(fields).sort()).toEqual(['id', ...EVENT_COLUMNS.map((column) => column.field)].sort());
    for (const column of EVENT_COLUMNS) expect({ [column.field]: !(fields[column.field]!.type instanceof GraphQLNonNull) }).toEqual({ [column.field]: column.nullable });
    expect(FEED_EVENT_FIELDS.split(' ').sort()).toEqual(Object.keys(fields).sort());
  });

  it('is what an event becomes as a row (toRow), column by column', () => {
    const columns: readonly EventColumn[] = EVENT_COLUMNS;
    const bare = toRow({ type: 'KEY_USED' });
    // Every column and nothing else; absent values null, but the required time of the event: now.
    expect(Object.keys(bare).sort()).toEqual(columns.map((column) => column.field).sort());
    for (const column of columns) {
      if (column.field === 'type') continue;
      if (column.type === 'datetime' && !column.nullable) expect(Math.abs((bare[column.field] as Date).getTime() - Date.now())).toBeLessThan(5_000);
      else expect({ [column.field]: bare[column.field] }).toEqual({ [column.field]: null });
    }
    const at = new Date('2026-12-02T10:00:00Z');
    for (const column of columns.filter((c) => c.type === 'string')) {
      // Text past the longest any column holds, with a NUL: free text is cut and made storable, the service's own values are kept.
      const long = `a\u0000${'x'.repeat(600)}`;
      const row = toRow({ type: 'KEY_USED', occurredAt: at, [column.field]: long });
      expect({ [column.field]: row[column.field] }).toEqual({ [column.field]: column.freeText ? `a\uFFFD${'x'.repeat(column.length! - 2)}` : long });
    }
    for (const column of columns.filter((c) => c.type === 'json')) {
      const row = toRow({ type: 'KEY_USED', [column.field]: { 'n\u0000': 'v\u0000', kept: 1 } });
      expect({ [column.field]: row[column.field] }).toEqual({ [column.field]: column.freeText ? { 'n\uFFFD': 'v\uFFFD', kept: 1 } : { 'n\u0000': 'v\u0000', kept: 1 } });
    }
    expect(toRow({ type: 'KEY_USED', occurredAt: at }).occurredAt).toBe(at);
  });
});
