import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnServer } from '../helpers/child.js';

describe('graceful shutdown under load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-term-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('on SIGTERM finishes accepted requests, flushes KEY_USED, closes sockets with 1001 and exits 0', async () => {
    const server = await spawnServer({
      DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`,
      RATE_LIMIT: '100000',
      IP_RATE_LIMIT: '1000000',
      LEDGER_FLUSH_MS: '1000', // a long flush interval: events are still pending when SIGTERM arrives
    });
    const key = server.adminKey!;
    const closeCode = new Promise<number>((resolve) => {
      const client = createClient({
        url: server.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        lazy: false,
        retryAttempts: 0,
        on: { closed: (event) => resolve((event as { code: number }).code) },
        onNonLazyError: () => {},
      });
      void client;
    });

    const answered: Array<{ status: number; requestId: string | null }> = [];
    let running = true;
    const clients = Array.from({ length: 50 }, async () => {
      while (running) {
        try {
          const res = await fetch(`${server.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify({ query: 'query Busy { viewer { keyId } }' }),
          });
          await res.text();
          answered.push({ status: res.status, requestId: res.headers.get('x-request-id') });
        } catch {
          return; // refused: the server no longer accepts
        }
      }
    });
    while (answered.length < 300) await new Promise((r) => setTimeout(r, 10));
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    running = false;
    await Promise.all(clients);

    expect(exit.code).toBe(0);
    expect(await closeCode).toBe(1001);
    expect(answered.every((a) => a.status === 200)).toBe(true);
    const db = new Database(join(dir, 'keyring.db'), { readonly: true });
    try {
      const used = new Set(
        (db.prepare("select request_id from audit_event where type = 'KEY_USED' and operation_name = 'Busy'").all() as Array<{ request_id: string }>).map(
          (r) => r.request_id,
        ),
      );
      for (const a of answered) expect(used.has(a.requestId!), a.requestId!).toBe(true);
      const served = server.stdout.filter((l) => l.includes('"path":"/graphql"') && l.includes('"status":200') && l.includes('"operationName":"Busy"'));
      expect(used.size).toBe(served.length);
    } finally {
      db.close();
    }
  });
});

describe('stop with nothing else to do', () => {
  it('app.stop() in a process with no other work still writes the last batch, closes everything and returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyring-stop-'));
    try {
      const app = fileURLToPath(new URL('../../dist/src/server/app.js', import.meta.url));
      const config = fileURLToPath(new URL('../../dist/src/config.js', import.meta.url));
      // One request, then stop(): its KEY_USED is still buffered (a long flush interval), and once
      // the server has closed only the ledger's thread is left to keep the process running. Run as
      // a module from the command line (`--input-type=module`, a flag the thread inherits).
      const script = `
        import { start } from ${JSON.stringify(app)};
        import { loadConfig } from ${JSON.stringify(config)};
        let admin;
        const app = await start(
          loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: ${JSON.stringify(`sqlite:${join(dir, 'keyring.db')}`)}, LOG_LEVEL: 'silent', LEDGER_FLUSH_MS: '10000' }),
          { onAdminKey: (key) => (admin = key) },
        );
        const res = await fetch(app.url + '/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer ' + admin, connection: 'close' },
          body: JSON.stringify({ query: 'query LastOne { viewer { keyId } }' }),
        });
        await res.text();
        await app.stop();
        console.log('stopped');
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ code, out: out.trim() }).toEqual({ code: 0, out: 'stopped' });
      const db = new Database(join(dir, 'keyring.db'), { readonly: true });
      try {
        expect(db.prepare("select count(*) as n from audit_event where type = 'KEY_USED' and operation_name = 'LastOne'").get()).toEqual({ n: 1 });
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('last-resort process handlers', () => {
  it('an unhandled rejection is logged and the service serves on; an uncaught exception stops it gracefully with exit 1, its events written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyring-fatal-'));
    try {
      const app = fileURLToPath(new URL('../../dist/src/server/app.js', import.meta.url));
      const handlers = fileURLToPath(new URL('../../dist/src/server/process.js', import.meta.url));
      const config = fileURLToPath(new URL('../../dist/src/config.js', import.meta.url));
      // A long flush interval: the two requests' KEY_USED rows are only written by the graceful stop.
      const script = `
        import { start } from ${JSON.stringify(app)};
        import { handleProcessEvents } from ${JSON.stringify(handlers)};
        import { loadConfig } from ${JSON.stringify(config)};
        let admin;
        const app = await start(
          loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: ${JSON.stringify(`sqlite:${join(dir, 'keyring.db')}`)}, LOG_LEVEL: 'info', LEDGER_FLUSH_MS: '10000' }),
          { onAdminKey: (key) => (admin = key) },
        );
        handleProcessEvents(app);
        const ask = async (name) => {
          const res = await fetch(app.url + '/graphql', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer ' + admin, connection: 'close' },
            body: JSON.stringify({ query: 'query ' + name + ' { viewer { keyId } }' }),
          });
          await res.text();
          return res.status;
        };
        const first = await ask('BeforeRejection');
        Promise.reject(new Error('a stray rejection'));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const second = await ask('AfterRejection');
        process.stderr.write('statuses ' + first + ' ' + second + '\\n');
        setTimeout(() => { throw new Error('an uncaught exception'); }, 0);
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(err.trim()).toBe('statuses 200 200');
      expect(code).toBe(1);
      const lines = out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } });
      expect(lines.find((line) => line.msg === 'unhandled promise rejection; still serving')).toMatchObject({ level: 50, err: { message: 'a stray rejection' } });
      expect(lines.find((line) => line.msg === 'uncaught exception; stopping gracefully')).toMatchObject({ level: 60, err: { message: 'an uncaught exception' } });
      const db = new Database(join(dir, 'keyring.db'), { readonly: true });
      try {
        const rows = db.prepare("select operation_name as name from audit_event where type = 'KEY_USED' order by id").all();
        expect(rows).toEqual([{ name: 'BeforeRejection' }, { name: 'AfterRejection' }]);
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
