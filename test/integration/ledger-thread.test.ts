import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadBatchWriter } from '../../src/audit/ledger-thread.js';
import type { EventRow } from '../../src/audit/event-columns.js';
import type { Usage } from '../../src/audit/ledger-writer.js';
import { UsageRollup } from '../../src/audit/usage-rollup.js';
import { openDatabase, type Database as KeyringDatabase } from '../../src/db/orm.js';

const row = (requestId: string, extra: Partial<EventRow> = {}): EventRow => ({
  type: 'KEY_USED',
  occurredAt: new Date(),
  merchantId: 'm_thread',
  keyId: 'key_thread',
  actorKeyId: 'key_thread',
  requestId,
  operationName: 'Op',
  ip: '127.0.0.1',
  reason: null,
  metadata: { via: 'test' },
  ...extra,
});

/**
 * The SQLite ledger's thread, on its own: it answers the ids in row order, writes a batch
 * all or nothing, stays usable after a failed batch, and shares the file with the service's
 * own connection (which keeps its write transactions first in line through lockLedger).
 */
describe('the SQLite ledger thread', () => {
  let dir: string;
  let db: KeyringDatabase;
  let writer: ThreadBatchWriter;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyring-ledger-thread-'));
    db = await openDatabase(`sqlite:${join(dir, 'keyring.db')}`);
    writer = new ThreadBatchWriter(db.file!);
  });
  afterAll(async () => {
    await writer?.close();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = () => {
    const reader = new Database(db.file!, { readonly: true });
    try {
      return reader.prepare("select id, request_id, metadata from audit_event where merchant_id = 'm_thread' order by id").all() as Array<{
        id: number;
        request_id: string;
        metadata: string;
      }>;
    } finally {
      reader.close();
    }
  };

  it('writes a batch in order and answers each row’s id', async () => {
    const ids = await writer.write([row('a'), row('b'), row('c')], new Map(), new UsageRollup());
    expect(ids.map(Number)).toEqual([Number(ids[0]), Number(ids[0]) + 1, Number(ids[0]) + 2]);
    const rows = stored();
    expect(rows.map((r) => [String(r.id), r.request_id])).toEqual([
      [ids[0], 'a'],
      [ids[1], 'b'],
      [ids[2], 'c'],
    ]);
    expect(JSON.parse(rows[0]!.metadata)).toEqual({ via: 'test' });
  });

  it('writes nothing of a failed batch, says why, and writes the next one', async () => {
    const before = stored().length;
    const usage: Usage = new Map([['key_missing', { count: 2, last: new Date(), ip: null }]]);
    const broken = [row('d'), row('e', { type: null as unknown as EventRow['type'] })];
    await expect(writer.write(broken, usage, new UsageRollup())).rejects.toThrow(/ledger thread: .*NOT NULL/);
    expect(stored()).toHaveLength(before);
    const [id] = await writer.write([row('f')], new Map(), new UsageRollup());
    expect(stored().at(-1)).toMatchObject({ id: Number(id), request_id: 'f' });
  });

  it('waits for a write transaction of the service’s own connection, then commits after it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const change = db.fork().transactional(async (em) => {
      await db.lockLedger(em);
      locked();
      await held;
    });
    await lockTaken;
    let written = false;
    const write = writer.write([row('g')], new Map(), new UsageRollup()).then((ids) => {
      written = true;
      return ids;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(written).toBe(false);
    release();
    await change;
    const [id] = await write;
    expect(stored().at(-1)).toMatchObject({ id: Number(id), request_id: 'g' });
  });

  it('closes its thread, and starts another for a batch after that', async () => {
    await writer.close();
    const [id] = await writer.write([row('h')], new Map(), new UsageRollup());
    expect(stored().at(-1)).toMatchObject({ id: Number(id), request_id: 'h' });
  });
});
