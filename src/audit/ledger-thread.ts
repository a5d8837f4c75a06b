import { Worker } from 'node:worker_threads';
import { SQLITE_BUSY_TIMEOUT_MS } from '../db/orm.js';
import { columnValues, type EventRow } from './event-columns.js';
import type { CloseRequest, LedgerWorkerData, WriteReply, WriteRequest } from './ledger-worker.js';
import type { BatchWriter, Usage } from './ledger-writer.js';
import type { UsageRollup } from './usage-rollup.js';

/**
 * The thread's module, beside this one and of the same kind: the compiled `ledger-worker.js` in
 * the service, the TypeScript source under the tests (which load this module from source too;
 * Node strips the worker's types itself).
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './ledger-worker.ts' : './ledger-worker.js', import.meta.url);

const epochMs = (date: Date) => date.getTime();

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

  write(rows: readonly EventRow[], usage: Usage, rollup: UsageRollup): Promise<string[]> {
    const worker = this.worker ?? this.spawn();
    const seq = ++this.seq;
    return new Promise<string[]>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      // A batch in flight keeps the process alive until its answer: a last flush on shutdown included.
      worker.ref();
      const values: unknown[] = [];
      for (const row of rows) columnValues(row, epochMs, values);
      const counts: unknown[] = [];
      const credits: unknown[] = [];
      for (const [id, { count, last, ip, credits: spent }] of usage) {
        counts.push(id, count, last.getTime(), ip);
        if (spent) credits.push(id, spent.period, spent.spent);
      }
      worker.postMessage({ seq, values, usage: counts, credits, cells: rollup.cellValues(), foldUntil: rollup.foldUntil } satisfies WriteRequest);
    });
  }

  /** Ends the thread once it has closed its connection; the ledger has flushed before. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ close: true } satisfies CloseRequest);
    await exited;
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_URL, {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs } satisfies LedgerWorkerData,
      name: 'keyring-ledger',
      // None of the process's flags: the thread needs none, and some would stop it before it
      // wrote anything. A thread refuses V8 and per-process flags given here (the
      // `--max-old-space-size` that production starts often set: ERR_WORKER_INVALID_EXEC_ARGV on
      // every batch), and `--input-type` (a service started from `node -e`) for a module file.
      // V8's flags are the process's own and hold for the thread anyway.
      execArgv: [],
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
