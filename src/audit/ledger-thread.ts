import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SQLITE_BUSY_TIMEOUT_MS } from '../db/orm.js';
import type { BatchWriter, EventRow, Usage } from './ledger-writer.js';

/** The parts of a better-sqlite3 connection the thread uses. */
interface NativeSqlite {
  pragma(sql: string): unknown;
  prepare(sql: string): { run(...params: unknown[]): { lastInsertRowid: number | bigint } };
  transaction<F extends (...args: never[]) => unknown>(fn: F): F & { immediate: F };
  close(): void;
}

/**
 * What the ledger thread is asked to write: the rows in order, as one flat array of column
 * values (ROW_WIDTH per row, ready to bind; cloning it to the thread costs a fraction of
 * cloning the row objects), and the usage per key as (id, count, last use in epoch ms) triples.
 */
interface WriteRequest {
  seq: number;
  values: unknown[];
  usage: unknown[];
}
const ROW_WIDTH = 10;
type WriteReply = { seq: number; ids: string[] } | { seq: number; error: string };

/**
 * The thread's code. Self-contained (it is run from its source text, so the same code serves the
 * compiled service and the tests, which load TypeScript): it opens its own connection to the
 * database file and writes each batch in one `BEGIN IMMEDIATE` transaction on statements
 * prepared once, committed with the connection's `synchronous = FULL`: the fsync happens here,
 * off the event loop. Values come as MikroORM stores them: dates as epoch milliseconds, JSON as text.
 */
function ledgerThread(): void {
  // Builtins through process.getBuiltinModule: the thread runs its source as a CommonJS script or as
  // a module depending on the flags it inherits (`--input-type=module`), and `require` exists in only one.
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const { createRequire } = process.getBuiltinModule('node:module');
  const Database = createRequire(workerData.driverPath as string)(workerData.driverPath as string) as new (file: string) => NativeSqlite;
  const db = new Database(workerData.file as string);
  db.pragma(`busy_timeout = ${Number(workerData.busyTimeoutMs)}`);
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    'insert into `audit_event` (`type`, `occurred_at`, `merchant_id`, `key_id`, `actor_key_id`, `request_id`, ' +
      '`operation_name`, `ip`, `reason`, `metadata`) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const update = db.prepare('update `api_key` set `usage_count` = `usage_count` + ?, `last_used_at` = ? where `id` = ?');
  const width = Number(workerData.rowWidth);
  const write = db.transaction(({ values, usage }: WriteRequest) => {
    const ids: string[] = [];
    for (let at = 0; at < values.length; at += width) ids.push(String(insert.run(values.slice(at, at + width)).lastInsertRowid));
    for (let at = 0; at < usage.length; at += 3) update.run(usage[at + 1], usage[at + 2], usage[at]);
    return ids;
  });
  parentPort!.on('message', (message: WriteRequest | { close: true }) => {
    if ('close' in message) {
      db.close();
      parentPort!.close();
      return;
    }
    try {
      parentPort!.postMessage({ seq: message.seq, ids: write.immediate(message) } satisfies WriteReply);
    } catch (error) {
      parentPort!.postMessage({ seq: message.seq, error: error instanceof Error ? error.message : String(error) } satisfies WriteReply);
    }
  });
}

/**
 * SQLite: the ledger's batches are written by a thread of their own, on a connection of its own.
 *
 * better-sqlite3 is synchronous, so a batch written on the event loop stalls every request in
 * flight for as long as SQLite takes: with keys used in turn, each row lands on another index
 * page, so a batch writes (and fsyncs, and now and then checkpoints) about a page per row:
 * measured ~10 % of the service's time and most of its p99 (docs/BENCHMARKS.md). On a thread
 * that work runs beside the event loop, and the commit can stay fully durable.
 *
 * SQLite has one writer at a time: the thread takes the write lock with BEGIN IMMEDIATE (waiting
 * out the service's own transactions), and the service's write transactions take it first thing
 * (`Database.lockLedger`), so neither ever reads a snapshot that the other's commit then makes stale.
 * A thread that dies fails the batches in flight (the ledger keeps them and retries) and is started
 * again on the next batch.
 */
export class ThreadBatchWriter implements BatchWriter {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (ids: string[]) => void; reject: (error: Error) => void }>();
  private seq = 0;

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs = SQLITE_BUSY_TIMEOUT_MS,
  ) {}

  write(rows: readonly EventRow[], usage: Usage): Promise<string[]> {
    const worker = this.worker ?? this.spawn();
    const seq = ++this.seq;
    return new Promise<string[]>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      // A batch in flight keeps the process alive until its answer: a last flush on shutdown included.
      worker.ref();
      const values: unknown[] = [];
      for (const row of rows) {
        values.push(
          row.type,
          row.occurredAt.getTime(),
          row.merchantId,
          row.keyId,
          row.actorKeyId,
          row.requestId,
          row.operationName,
          row.ip,
          row.reason,
          row.metadata ? JSON.stringify(row.metadata) : null,
        );
      }
      const counts: unknown[] = [];
      for (const [id, { count, last }] of usage) counts.push(id, count, last.getTime());
      worker.postMessage({ seq, values, usage: counts } satisfies WriteRequest);
    });
  }

  /** Ends the thread once it has closed its connection; the ledger has flushed before. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ close: true });
    await exited;
  }

  private spawn(): Worker {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(`(${ledgerThread.toString()})()`, {
      eval: true,
      workerData: { file: this.file, driverPath, busyTimeoutMs: this.busyTimeoutMs, rowWidth: ROW_WIDTH },
      name: 'keyring-ledger',
    });
    // An idle thread does not keep the process alive (write() and close() hold it while they wait).
    worker.unref();
    worker.on('message', (reply: WriteReply) => {
      const waiting = this.pending.get(reply.seq);
      if (!waiting) return;
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) worker.unref();
      if ('ids' in reply) waiting.resolve(reply.ids);
      else waiting.reject(new Error(`ledger thread: ${reply.error}`));
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => fail(error));
    worker.on('exit', (code) => fail(new Error(`ledger thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
