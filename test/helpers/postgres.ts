import { onServer } from '../../src/db/orm.js';

/** Drops a PostgreSQL schema and everything in it (tests and benchmarks give each run its own). */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`Invalid PostgreSQL schema name: ${schema}`);
  await onServer(databaseUrl, `drop schema if exists "${schema}" cascade`);
}

/** True when the PostgreSQL server answers a trivial query (tests probe with it before they run). */
export async function postgresAnswers(databaseUrl: string, timeoutMs = 3_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const answer = onServer(databaseUrl, 'select 1').then(
    () => true,
    () => false,
  );
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}
