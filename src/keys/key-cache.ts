import { LRUCache } from 'lru-cache';
import type { KeyRecord } from './key-record.js';

/**
 * Bounded in-memory cache of key records by digest, so the hot path (authentication and
 * verifyKey) does not read the database for a key it has seen recently.
 *
 * A fill that started before an invalidation of the same digest is not stored, so a
 * revocation racing with a cache miss can never leave a stale ACTIVE record behind.
 */
export class KeyCache {
  private readonly lru: LRUCache<string, KeyRecord>;
  private readonly invalidatedAt = new Map<string, number>();
  private epoch = 0;

  constructor(max: number) {
    this.lru = new LRUCache({ max });
  }

  get(digest: string): KeyRecord | undefined {
    return this.lru.get(digest);
  }

  /** A token to take before reading the database; pass it to `fill`. */
  begin(): number {
    return this.epoch;
  }

  fill(digest: string, record: KeyRecord, token: number): void {
    if (this.invalidatedSince(digest, token)) return;
    this.lru.set(digest, record);
  }

  /** Whether the digest was invalidated after `token` was taken (a read begun then may be stale). */
  invalidatedSince(digest: string, token: number): boolean {
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

  get size(): number {
    return this.lru.size;
  }
}
