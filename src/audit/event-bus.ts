import { EventEmitter } from 'node:events';
import type { KeyChange } from '../keys/key-change.js';
import type { AuditEventRecord } from './event-types.js';

/**
 * Publish/subscribe between the parts of one instance, and (with Redis) between
 * instances. Events are only ever published after the transaction that wrote them committed.
 */
export interface EventBus {
  publishEvents(events: readonly AuditEventRecord[]): void;
  onEvents(listener: (events: readonly AuditEventRecord[]) => void): () => void;
  /**
   * Tells this instance's listeners at once (synchronously), and other instances; resolves
   * when a shared backend has taken the change (or did not answer in time), so a caller that
   * waits can answer its client knowing every instance is being told.
   */
  publishKeyChange(change: KeyChange): Promise<void>;
  onKeyChange(listener: (change: KeyChange) => void): () => void;
  /**
   * Called when key changes from other instances may have been missed (a shared backend came
   * back after an outage): whatever was derived from them (cached keys, open sockets) must be
   * checked again against the database.
   */
  onResync(listener: () => void): () => void;
  /** False while a shared backend cannot be reached. */
  healthy(): boolean;
  /** Waits until a shared backend answers, for at most `timeoutMs`; says whether it did. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One instance's bus listeners and the delivery to them, shared by the local and the Redis
 * bus: each bus decides when and what to deliver, this says to whom.
 */
export class BusFanout {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Tells every events listener now; an empty batch is a wake-up (read the store). */
  events(events: readonly AuditEventRecord[]): void {
    this.emitter.emit('events', events);
  }

  keyChange(change: KeyChange): void {
    this.emitter.emit('key', change);
  }

  resync(): void {
    this.emitter.emit('resync');
  }

  onEvents(listener: (events: readonly AuditEventRecord[]) => void): () => void {
    this.emitter.on('events', listener);
    return () => this.emitter.off('events', listener);
  }

  onKeyChange(listener: (change: KeyChange) => void): () => void {
    this.emitter.on('key', listener);
    return () => this.emitter.off('key', listener);
  }

  onResync(listener: () => void): () => void {
    this.emitter.on('resync', listener);
    return () => this.emitter.off('resync', listener);
  }

  clear(): void {
    this.emitter.removeAllListeners();
  }
}

/** In-process bus: delivery is deferred to the next turn so a writer never waits on its subscribers. */
export class LocalEventBus implements EventBus {
  private readonly fanout = new BusFanout();

  publishEvents(events: readonly AuditEventRecord[]): void {
    if (events.length === 0) return;
    setImmediate(() => this.fanout.events(events));
  }

  onEvents(listener: (events: readonly AuditEventRecord[]) => void): () => void {
    return this.fanout.onEvents(listener);
  }

  async publishKeyChange(change: KeyChange): Promise<void> {
    // Synchronous: a revoked key must stop working before the revoking request answers.
    this.fanout.keyChange(change);
  }

  onKeyChange(listener: (change: KeyChange) => void): () => void {
    return this.fanout.onKeyChange(listener);
  }

  onResync(): () => void {
    // Nothing is shared, so nothing can be missed.
    return () => {};
  }

  healthy(): boolean {
    return true;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.fanout.clear();
  }
}
