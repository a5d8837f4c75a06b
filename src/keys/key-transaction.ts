import type { EventBus } from '../audit/event-bus.js';
import type { NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import type { Database, Em } from '../db/orm.js';
import type { KeyChange } from './key-change.js';

/** What a unit of key work returns: its answer, the events that record it, and the keys it changed. */
export interface KeyWork<T> {
  result: T;
  events: NewAuditEvent[];
  /** Keys whose cached records and open sockets must hear of the change. */
  changed?: KeyChange[];
}

/**
 * Writes to keys, each together with the ledger events that record it (one transaction),
 * and tells the rest of the service only after that transaction committed.
 */
export class KeyTransaction {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly bus: EventBus,
  ) {}

  /**
   * Runs `work` and writes its events in one transaction; after commit, publishes the events
   * and tells every cache and socket (on every instance) about the changed keys.
   */
  async commitWithEvents<T>(work: (em: Em) => Promise<KeyWork<T>>): Promise<T> {
    const { result, staged, changed } = await this.db.fork().transactional(async (em) => {
      // Before any read or write: event ids commit in id order across instances, two first
      // starts cannot both see an empty table, and no row lock is held while waiting for it.
      await this.db.lockLedger(em);
      const outcome = await work(em);
      const staged = this.ledger.stage(em, outcome.events);
      await em.flush();
      return { result: outcome.result, staged, changed: outcome.changed ?? [] };
    });
    const told = changed.map((change) => this.bus.publishKeyChange(change));
    this.ledger.publishCommitted(staged);
    // Answered once other instances are being told too: the caller's next request anywhere sees the change.
    await Promise.all(told);
    return result;
  }

  /** A fresh EntityManager for reads outside any transaction. */
  reader(): Em {
    return this.db.fork();
  }
}
