import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runServiceScript, spawnServer } from '../helpers/child.js';

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
    // One request, then stop(): its KEY_USED is still buffered, and once the server has closed only
    // the ledger's thread is left to keep the process running.
    const body = `
      const res = await fetch(app.url + '/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' + admin, connection: 'close' },
        body: JSON.stringify({ query: 'query LastOne { viewer { keyId } }' }),
      });
      await res.text();
      await app.stop();
      console.log('stopped');
    `;
    await runServiceScript(body, {}, (run) => {
      expect({ code: run.code, out: (run.stdout + run.stderr).trim() }).toEqual({ code: 0, out: 'stopped' });
      expect(run.rows("select count(*) as n from audit_event where type = 'KEY_USED' and operation_name = 'LastOne'")).toEqual([{ n: 1 }]);
    });
  });
});

describe('last-resort process handlers', () => {
  it('an unhandled rejection is logged and the service serves on; an uncaught exception stops it gracefully with exit 1, its events written', async () => {
    // The two requests' KEY_USED rows are only written by the graceful stop.
    const body = `
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
    await runServiceScript(body, { LOG_LEVEL: 'info' }, (run) => {
      expect(run.stderr.trim()).toBe('statuses 200 200');
      expect(run.code).toBe(1);
      const lines = run.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } });
      expect(lines.find((line) => line.msg === 'unhandled promise rejection; still serving')).toMatchObject({ level: 50, err: { message: 'a stray rejection' } });
      expect(lines.find((line) => line.msg === 'uncaught exception; stopping gracefully')).toMatchObject({ level: 60, err: { message: 'an uncaught exception' } });
      expect(run.rows("select operation_name as name from audit_event where type = 'KEY_USED' order by id")).toEqual([
        { name: 'BeforeRejection' },
        { name: 'AfterRejection' },
      ]);
    });
  });
});
