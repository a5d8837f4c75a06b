import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { createKey, startTestServer, type TestServer } from '../helpers/server.js';

const REQUESTS = 40;

/**
 * KEY_USED costs no synchronous write per request: events are buffered and written in one
 * transaction per flush, together with the keys' usage counters, and stop() flushes them.
 */
describe('KEY_USED batching', () => {
  let server: TestServer;
  let key: { id: string; secret: string };
  let flushesBefore: number;
  const requestIds = Array.from({ length: REQUESTS }, (_, i) => `batched-${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    // The longest flush interval: nothing is written by the timer while the test runs.
    server = await startTestServer({ env: { LEDGER_FLUSH_MS: '10000' }, keepDir: true });
    key = await createKey(server, { merchantId: 'm_batch', name: 'busy', scopes: [] });
    await server.app.services.ledger.flush();
    flushesBefore = server.app.services.ledger.stats.flushes;
  });
  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  it('answers requests before their KEY_USED rows are written', async () => {
    const results = await Promise.all(
      requestIds.map((id) => server.gql('query Batched { viewer { keyId } }', {}, key.secret, { 'x-request-id': id })),
    );
    expect(results.every((result) => result.status === 200)).toBe(true);
    const written = await server.app.services.db.fork().count(AuditEventEntity, { type: 'KEY_USED', keyId: key.id });
    expect(written).toBe(0);
    expect(server.app.services.ledger.stats.pending).toBeGreaterThanOrEqual(REQUESTS);
  });

  it('app.stop() writes every pending KEY_USED, all in one flush, with the usage counter', async () => {
    await server.app.stop();
    expect(server.app.services.ledger.stats.flushes - flushesBefore).toBe(1);
    expect(server.app.services.ledger.stats.pending).toBe(0);

    const db = new Database(server.dbFile, { readonly: true });
    try {
      const rows = db
        .prepare("select id, request_id, operation_name from audit_event where type = 'KEY_USED' and key_id = ? order by id")
        .all(key.id) as Array<{ id: number; request_id: string; operation_name: string }>;
      expect(rows.map((row) => row.request_id).sort()).toEqual(requestIds);
      expect(new Set(rows.map((row) => row.operation_name))).toEqual(new Set(['Batched']));
      // one batch: consecutive ids
      expect(rows.at(-1)!.id - rows[0]!.id).toBe(REQUESTS - 1);
      const stored = db.prepare('select usage_count, last_used_at from api_key where id = ?').get(key.id) as {
        usage_count: number;
        last_used_at: unknown;
      };
      expect(stored.usage_count).toBe(REQUESTS);
      expect(stored.last_used_at).not.toBeNull();
    } finally {
      db.close();
    }
  });
});

/**
 * On SQLite a batch is one synchronous native transaction on the connection MikroORM also uses,
 * committed without an fsync of its own. It must never run inside a key change's transaction
 * that is still open (it would commit or roll back with it), and key changes keep `synchronous = FULL`.
 */
describe('the SQLite batch writer', () => {
  it('waits for an open transaction instead of joining it, and leaves the connection at synchronous = FULL', async () => {
    const server = await startTestServer({ env: { LEDGER_FLUSH_MS: '10000' } });
    try {
      const { ledger, db } = server.app.services;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const change = db
        .fork()
        .transactional(async (em) => {
          ledger.stage(em, [{ type: 'KEY_CREATED', merchantId: 'm_tx', reason: 'rolled back' }]);
          await em.flush();
          open();
          await held;
          throw new Error('roll the change back');
        })
        .catch((error: Error) => error.message);
      await opened;

      ledger.append({ type: 'KEY_USED', merchantId: 'm_tx', requestId: 'outside-the-change' });
      let flushed = false;
      const flushing = ledger.flush().then(() => (flushed = true));
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(flushed).toBe(false);

      release();
      expect(await change).toBe('roll the change back');
      await flushing;
      const rows = await db.fork().find(AuditEventEntity, { merchantId: 'm_tx' });
      expect(rows.map((row) => [row.type, row.requestId])).toEqual([['KEY_USED', 'outside-the-change']]);

      const native = (await db.fork().getConnection().getNativeClient()) as { pragma(sql: string, options: { simple: true }): unknown };
      expect(native.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await server.stop();
    }
  });
});
