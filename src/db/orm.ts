import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { MikroORM, type Options } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import type { SqlEntityManager } from '@mikro-orm/sql';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import { WebhookDeliveryEntity, WebhookEntity } from '../webhooks/webhook.entity.js';
import { postgresMigrations, sqliteMigrations } from './migrations/index.js';

export type Orm = MikroORM;
export type Em = SqlEntityManager;
export type Dialect = 'sqlite' | 'postgresql';

export interface Database {
  orm: Orm;
  dialect: Dialect;
  /** The SQLite database file (absolute); null on PostgreSQL. */
  file: string | null;
  /** A fresh EntityManager for one request or one unit of work. */
  fork(): Em;
  /** True when a trivial query answers. */
  ping(): Promise<boolean>;
  /**
   * Taken first in every transaction that writes audit events, inside that transaction. On
   * PostgreSQL a transaction-scoped advisory lock: the events' ids (a sequence) are then
   * assigned and committed in the same order across every instance, so no reader ever sees
   * an id before a smaller one that is still to commit. On SQLite it takes the one write lock
   * at once (waiting for the ledger's thread to commit), so the transaction never reads a
   * snapshot that a commit of that thread makes stale before it writes (SQLITE_BUSY_SNAPSHOT).
   */
  lockLedger(em: Em): Promise<void>;
  close(): Promise<void>;
}

export const ENTITIES = [ApiKeyEntity, AuditEventEntity, WebhookEntity, WebhookDeliveryEntity];

/** How long a SQLite connection waits for the write lock before SQLITE_BUSY (the ledger's thread alike). */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

export interface DatabaseOptions {
  /** Schema to use on PostgreSQL (created if missing); tests give each run its own. */
  schema?: string;
  debug?: boolean;
}

/** Parses `sqlite:path` or `postgres://…` into MikroORM options. */
export async function ormOptions(databaseUrl: string, options: DatabaseOptions = {}): Promise<{ dialect: Dialect; options: Options }> {
  const common = {
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    debug: options.debug ?? false,
    allowGlobalContext: false,
    forceUtcTimezone: true,
    discovery: { warnWhenNoEntities: true },
  } satisfies Partial<Options>;
  if (databaseUrl.startsWith('sqlite:')) {
    const { SqliteDriver } = await import('@mikro-orm/sqlite');
    const raw = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    // A file, never ':memory:': the ledger's thread opens a connection of its own to it.
    const dbName = resolve(raw || './data/keyring.db');
    mkdirSync(dirname(dbName), { recursive: true });
    return {
      dialect: 'sqlite',
      options: {
        ...common,
        driver: SqliteDriver,
        dbName,
        migrations: { migrationsList: sqliteMigrations, snapshot: false, silent: true },
      } as unknown as Options,
    };
  }
  const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
  return {
    dialect: 'postgresql',
    options: {
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: databaseUrl,
      schema: options.schema,
      pool: { min: 0, max: 10 },
      migrations: {
        migrationsList: postgresMigrations,
        snapshot: false,
        silent: true,
        schema: options.schema,
      },
    } as unknown as Options,
  };
}

/** Opens the database and applies every committed migration that has not run yet. */
export async function openDatabase(databaseUrl: string, options: DatabaseOptions = {}): Promise<Database> {
  const { dialect, options: ormOpts } = await ormOptions(databaseUrl, options);
  // Instances starting at once on an empty PostgreSQL: one at a time creates the schema and migrates.
  const migrating = dialect === 'postgresql' ? await holdLock(databaseUrl, lockId(options.schema, 'migrations')) : null;
  let orm: Orm | undefined;
  try {
    if (migrating && options.schema) await ensureSchema(databaseUrl, options.schema);
    orm = await MikroORM.init(ormOpts);
    if (dialect === 'sqlite') {
      const native = (await (orm.em as unknown as Em).getConnection().getNativeClient()) as {
        pragma(sql: string): unknown;
      };
      // WAL keeps readers off the writer's back; FULL makes every commit durable across a crash.
      native.pragma('journal_mode = WAL');
      native.pragma('synchronous = FULL');
      native.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      native.pragma('foreign_keys = ON');
    }
    await orm.migrator.up();
  } catch (error) {
    await orm?.close(true);
    throw error;
  } finally {
    await migrating?.release();
  }
  return wrap(orm, dialect, options.schema, dialect === 'sqlite' ? ((ormOpts as { dbName?: string }).dbName ?? null) : null);
}

function wrap(orm: Orm, dialect: Dialect, schema: string | undefined, file: string | null): Database {
  const em = orm.em as unknown as Em;
  // SQLite: a write that changes nothing, which takes the write lock (with busy_timeout's wait).
  const lockSql =
    dialect === 'postgresql' ? `select pg_advisory_xact_lock(${LOCK_CLASS}, ${lockId(schema, 'audit_event')})` : 'update `audit_event` set `id` = `id` where 0';
  return {
    orm,
    dialect,
    file,
    fork: () => orm.em.fork() as unknown as Em,
    async ping() {
      try {
        await em.fork().getConnection().execute('select 1 as ok');
        return true;
      } catch {
        return false;
      }
    },
    async lockLedger(tx: Em) {
      await tx.execute(lockSql);
    },
    close: () => orm.close(true),
  };
}

/** First half of every advisory lock key: "kr" (keyring); the second half names the schema and the purpose. */
const LOCK_CLASS = 0x6b72;

/** One lock per schema, so deployments (or test runs) sharing a database do not wait on each other. */
function lockId(schema: string | undefined, purpose: string): number {
  return crc32(`${schema ?? 'public'}:${purpose}`) | 0;
}

/**
 * Takes an advisory lock in a transaction on a connection of its own and holds it until
 * `release()`, while the caller works on other connections.
 */
async function holdLock(databaseUrl: string, id: number): Promise<{ release(): Promise<void> }> {
  const orm = await serverOrm(databaseUrl);
  const em = orm.em.fork() as unknown as Em;
  try {
    await em.begin();
    await em.execute(`select pg_advisory_xact_lock(${LOCK_CLASS}, ${id})`);
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  return {
    async release() {
      try {
        await em.commit();
      } finally {
        await orm.close(true);
      }
    },
  };
}

async function ensureSchema(databaseUrl: string, schema: string): Promise<void> {
  await onServer(databaseUrl, `create schema if not exists "${checkedSchema(schema)}"`);
}

function checkedSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`Invalid PostgreSQL schema name: ${schema}`);
  return schema;
}

/** A one-connection MikroORM on the PostgreSQL server, outside any schema. */
async function serverOrm(databaseUrl: string): Promise<Orm> {
  const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
  return MikroORM.init({
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    pool: { min: 0, max: 1 },
  } as unknown as Options);
}

/** One statement on a short-lived connection of its own, outside any schema (also used by the test helpers). */
export async function onServer(databaseUrl: string, sql: string): Promise<void> {
  const orm = await serverOrm(databaseUrl);
  try {
    await (orm.em as unknown as Em).getConnection().execute(sql);
  } finally {
    await orm.close(true);
  }
}
