import { LRUCache } from 'lru-cache';
import type { KeyRecord } from './key-record.js';

export interface KeyCacheOptions {
  /**
   * False while invalidations from other instances may not arrive (the shared bus is down).
   * Default: always true (one instance, nothing to miss).
   */
  inSync?: () => boolean;
  /** While not in sync, a cached record older than this is read again from the database. */
  unsyncedTtlMs?: number;
}

interface Entry {
  record: KeyRecord;
  /** When the database read that produced the record ended (reads take milliseconds). */
  readAt: number;
}

/**
 * Bounded in-memory cache of key records by digest, so the hot path (authentication and
 * verifyKey) does not read the database for a key it has seen recently.
 *
 * A fill that started before an invalidation of the same digest (or a `clear()`) is not
 * stored, so a revocation racing with a cache miss can never leave a stale ACTIVE record behind.
 * With several instances, invalidations come over the bus; while the bus is down, records are
 * trusted for `unsyncedTtlMs` only, which bounds how long a key changed on another instance
 * can still be served here.
 */
export class KeyCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly invalidatedAt = new Map<string, number>();
  private epoch = 0;
  private clearedAt = 0;
  private readonly inSync: () => boolean;
  private readonly unsyncedTtlMs: number;

  constructor(max: number, options: KeyCacheOptions = {}) {
    this.lru = new LRUCache({ max });
    this.inSync = options.inSync ?? (() => true);
    this.unsyncedTtlMs = options.unsyncedTtlMs ?? 1_000;
  }

  get(digest: string): KeyRecord | undefined {
    const entry = this.lru.get(digest);
    if (!entry) return undefined;
    if (!this.inSync() && Date.now() - entry.readAt > this.unsyncedTtlMs) {
      this.lru.delete(digest);
      return undefined;
    }
    return entry.record;
  }

  /** A token to take before reading the database; pass it to `fill`. */
  begin(): number {
    return this.epoch;
  }

  fill(digest: string, record: KeyRecord, token: number): void {
    if (this.invalidatedSince(digest, token)) return;
    this.lru.set(digest, { record, readAt: Date.now() });
  }

  /** Whether the digest was invalidated after `token` was taken (a read begun then may be stale). */
  invalidatedSince(digest: string, token: number): boolean {
    if (this.clearedAt > token) return true;
    const invalidated = this.invalidatedAt.get(digest);
    return invalidated !== undefined && invalidated > token;
  }

  invalidate(digest: string): void {
    this.epoch += 1;
    this.lru.delete(digest);
    this.invalidatedAt.set(digest, this.epoch);
    // The invalidation marks only matter to fills in flight; keep the map small.
    if (this.invalidatedAt.size > 10_000) {
      const floor = this.epoch - 5_000;
      for (const [key, at] of this.invalidatedAt) if (at < floor) this.invalidatedAt.delete(key);
    }
  }

  /** Drops every record, and every fill in flight: used when invalidations may have been missed. */
  clear(): void {
    this.epoch += 1;
    this.clearedAt = this.epoch;
    this.lru.clear();
    this.invalidatedAt.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
