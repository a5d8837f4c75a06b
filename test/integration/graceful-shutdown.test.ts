import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
