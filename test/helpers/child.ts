import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export interface ChildServer {
  child: ChildProcess;
  url: string;
  /** Set when this start printed the first admin key. */
  adminKey: string | null;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs the built service (dist/, made by test/global-setup.ts) as a real process on the
 * project's Node, with `nodeFlags` before the script as an operator may start it, and resolves
 * once it listens. PORT=0 picks a free port; the port is read from the "keyring listening" log line.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 20_000, nodeFlags: readonly string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, [...nodeFlags, MAIN], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let buffered = '';
  let adminKey: string | null = null;
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stdout.join('\n')}\n${stderr.join('')}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        stdout.push(line);
        const admin = /^Admin key \(shown once\): (\S+)$/.exec(line);
        if (admin) adminKey = admin[1]!;
        if (line.includes('"keyring listening"')) {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${JSON.parse(line).port}`);
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${stderr.join('')}`));
    });
  });
  const url = await listening;
  return { child, url, adminKey, stdout, stderr, exited };
}

const DIST = (path: string) => JSON.stringify(fileURLToPath(new URL(`../../dist/src/${path}`, import.meta.url)));

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The rows `sql` selects from the run's SQLite file (read-only). */
  rows(sql: string): unknown[];
}

/**
 * Runs `body` as an ES module from the command line (`--input-type=module`, a flag threads
 * inherit) in a process of its own, once it has started the built service on a SQLite file in a
 * temp folder with a long ledger flush interval (events are written only by a stop): `app`,
 * `admin` (the admin key) and `handleProcessEvents` are in scope. Resolves when the process has
 * exited; the folder is removed after `inspect` has read what it needs.
 */
export async function runServiceScript<T>(body: string, env: Record<string, string>, inspect: (run: ScriptRun) => T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-script-'));
  const file = join(dir, 'keyring.db');
  const config = { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${file}`, LOG_LEVEL: 'silent', LEDGER_FLUSH_MS: '10000', ...env };
  const script = `
    import { start } from ${DIST('server/app.js')};
    import { handleProcessEvents } from ${DIST('server/process.js')};
    import { loadConfig } from ${DIST('config.js')};
    let admin;
    const app = await start(loadConfig(${JSON.stringify(config)}), { onAdminKey: (key) => (admin = key) });
    ${body}
  `;
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return inspect({
      code,
      stdout,
      stderr,
      rows(sql) {
        const db = new Database(file, { readonly: true });
        try {
          return db.prepare(sql).all();
        } finally {
          db.close();
        }
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One GraphQL request to a spawned service with `key` as its bearer: the parsed JSON answer. */
export async function childGql(server: Pick<ChildServer, 'url'>, key: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}
