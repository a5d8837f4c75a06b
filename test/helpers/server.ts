import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { dropSchema } from './postgres.js';
import { start, type App, type StartOptions } from '../../src/server/app.js';

export interface TestServer {
  app: App;
  url: string;
  /** The admin key printed at first start. */
  adminKey: string;
  dir: string;
  dbFile: string;
  /** Every log line the server wrote, as raw JSON text. */
  logs: string[];
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null, headers?: Record<string, string>): Promise<GqlResult<T>>;
  stop(): Promise<void>;
}

export interface GqlResult<T> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: Array<{ message: string; extensions: Record<string, any> }> };
}

export interface StartTestServerOptions {
  env?: Record<string, string>;
  /** Reuse a folder (for restart tests); a new temp folder otherwise. */
  dir?: string;
  keepDir?: boolean;
  /**
   * Run on PostgreSQL in this schema (several servers may share it; the caller drops it).
   * Without it, TEST_DATABASE=postgres gives each server a schema of its own, dropped on stop.
   */
  postgres?: { url: string; schema: string };
  /** This database whatever TEST_DATABASE says ('postgres': a schema of its own, dropped on stop). */
  database?: 'sqlite' | 'postgres';
  /** The one clock of credit refills and expiry sweeps (KEY_EXPIRED, KEY_EXPIRING); tests move it. */
  now?: () => number;
  /** How webhook hosts resolve (default: the system's DNS). */
  webhookResolver?: StartOptions['webhookResolver'];
}

/** The PostgreSQL the suites use when asked to (TEST_DATABASE=postgres, the scale suite). */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name for one run. */
export function testSchemaName(tag = 't'): string {
  return `${tag}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * Boots the real service on port 0 with a SQLite file in a temp folder, or on PostgreSQL
 * (`postgres` option, or TEST_DATABASE=postgres for a schema of its own).
 */
export async function startTestServer(options: StartTestServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'keyring-test-'));
  const dbFile = join(dir, 'keyring.db');
  const ownSchema = !options.postgres && (options.database ?? process.env.TEST_DATABASE) === 'postgres' && !options.env?.DATABASE_URL;
  const postgres = options.postgres ?? (ownSchema ? { url: TEST_POSTGRES_URL, schema: testSchemaName() } : undefined);
  const logs: string[] = [];
  let adminKey = '';
  /** Every SECRET key value this server handed out: none may reach its logs, events or database file. */
  const minted = new Set<string>();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: postgres ? postgres.url : `sqlite:${dbFile}`,
    LOG_LEVEL: 'info',
    LEDGER_FLUSH_MS: '10',
    // Generous limits unless a test asks for tight ones (the throttling suites do).
    RATE_LIMIT: '100000',
    IP_RATE_LIMIT: '1000000',
    // Every test client shares 127.0.0.1: suites with hundreds of sockets must not meet the per-address cap.
    MAX_CONNECTIONS_PER_IP: '100000',
    ...options.env,
  });
  const app = await start(config, {
    logDestination: { write: (line: string) => void logs.push(line) },
    onAdminKey: (value) => {
      adminKey = value;
      minted.add(value);
    },
    database: postgres ? { schema: postgres.schema } : undefined,
    now: options.now,
    webhookResolver: options.webhookResolver,
  }).catch(async (error: unknown) => {
    if (ownSchema && postgres) await dropSchema(postgres.url, postgres.schema);
    throw error;
  });
  const url = app.url;
  const gql = async (query: string, variables?: Record<string, unknown>, key: string | null = adminKey, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const text = await res.text();
    for (const match of text.matchAll(SECRET_IN_RESPONSE)) minted.add(match[1]!);
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = { raw: text };
    }
    return { status: res.status, headers: res.headers, body };
  };
  let stopped = false;
  return {
    app,
    url,
    adminKey,
    dir,
    dbFile,
    logs,
    gql,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
      if (!postgres) assertNoSecretLeaked(minted, logs, dbFile);
      if (ownSchema && postgres) await dropSchema(postgres.url, postgres.schema);
      if (!options.keepDir && !options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const SECRET_IN_RESPONSE = /"secret":"(sk_(?:live|test)_[0-9A-Za-z]{38})"/g;

/**
 * The suite-wide secrets check: run on every test server's stop, over every log line it
 * wrote and every byte of its SQLite file (and WAL), for every SECRET key it minted.
 */
export function assertNoSecretLeaked(secrets: ReadonlySet<string>, logs: readonly string[], dbFile: string): void {
  const places: Array<[string, string]> = [['logs', logs.join('\n')]];
  for (const file of [dbFile, `${dbFile}-wal`]) if (existsSync(file)) places.push([file, readFileSync(file).toString('latin1')]);
  for (const secret of secrets) {
    for (const [where, text] of places) {
      // the message names the key's last four characters, never the key
      if (text.includes(secret)) throw new Error(`a SECRET key (…${secret.slice(-4)}) was found in ${where}`);
    }
  }
}

/** Polls until `check` returns a truthy value (no fixed sleeps). */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5_000, intervalMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`waitFor timed out${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const CREATE_KEY = /* GraphQL */ `
  mutation Create($input: CreateKeyInput!) {
    createKey(input: $input) {
      secret
      key { id merchantId name type environment status scopes prefix last4 value expiresAt rateLimit { limit windowSeconds } }
    }
  }
`;

/** Creates a key through the API with the admin key and returns its id and value. */
export async function createKey(
  server: TestServer,
  input: Record<string, unknown>,
  key: string = server.adminKey,
): Promise<{ id: string; secret: string }> {
  const result = await server.gql(CREATE_KEY, { input: { type: 'SECRET', name: 'test key', scopes: [], ...input } }, key);
  if (!result.body.data?.createKey) throw new Error(`createKey failed: ${JSON.stringify(result.body.errors)}`);
  return { id: result.body.data.createKey.key.id, secret: result.body.data.createKey.secret };
}
