import type { Database } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import type { KeyCache } from '../keys/key-cache.js';
import { digestKey, parseKey, sameDigest } from '../keys/key-material.js';
import { isExpired, toKeyRecord, type KeyRecord } from '../keys/key-record.js';
import type { KnownKeys } from '../keys/known-keys.js';

/** Why a presented key was or was not accepted. A value, not an exception. */
export type KeyCheck =
  | { status: 'VALID'; record: KeyRecord }
  | { status: 'MALFORMED' }
  | { status: 'NOT_FOUND' }
  | { status: 'DISABLED' | 'REVOKED' | 'EXPIRED'; record: KeyRecord };

/**
 * Turns a presented key string into a key record, reading the database only on a cache
 * miss, and only for a digest the map of known keys holds (or within its budget for others).
 * A malformed key (shape or checksum) is refused without any lookup.
 */
export class Authenticator {
  private readonly inflight = new Map<string, { promise: Promise<KeyRecord | null>; token: number }>();
  /** Database reads of keys by digest so far (tests bound what guessing costs with it). */
  private reads = 0;

  constructor(
    private readonly db: Database,
    private readonly cache: KeyCache,
    private readonly known: KnownKeys,
  ) {}

  get lookups(): number {
    return this.reads;
  }

  /** The digest of a well-formed key (shape and checksum), or null: such a key is refused without any lookup. */
  digestOf(presented: string): string | null {
    return parseKey(presented) ? digestKey(presented) : null;
  }

  /**
   * The answer, at once (no promise) for a malformed key, a key in the cache or a digest no
   * stored key has (beyond the budget for those); otherwise the database is read.
   */
  check(presented: string): KeyCheck | Promise<KeyCheck> {
    const digest = this.digestOf(presented);
    return digest === null ? { status: 'MALFORMED' } : this.checkDigest(digest);
  }

  /**
   * `check` for a caller confined to one merchant: another merchant's key is NOT_FOUND by the
   * very path of a digest no stored key has, decided from the map of known keys before the
   * cache, and read (within the same budget) exactly when an unknown digest would be, so
   * neither the answer, its timing nor the reads tell the caller that the key exists.
   */
  checkFor(presented: string, merchantId: string): KeyCheck | Promise<KeyCheck> {
    const digest = this.digestOf(presented);
    if (digest === null) return { status: 'MALFORMED' };
    const owner = this.known.merchantOf(digest);
    // The caller's own key, or a prefix two merchants share (only a read tells): the usual path.
    if (owner === merchantId || owner === null) return this.checkDigest(digest);
    if (!this.known.mayLookUp()) return { status: 'NOT_FOUND' };
    // A fresh read, not the cache: an unknown digest is never cached, so neither is this one's answer.
    return this.load(digest).then((record) => (record?.merchantId === merchantId ? statusOf(record, digest) : { status: 'NOT_FOUND' }));
  }

  /** Whether a well-formed key's digest is among the stored keys' (such a key is always looked up). */
  isKnown(presented: string): boolean {
    const digest = this.digestOf(presented);
    return digest !== null && this.knows(digest);
  }

  knows(digest: string): boolean {
    return this.known.has(digest);
  }

  /**
   * Spends one of the budgeted reads on a digest the map does not hold; true when the key
   * exists after all (it is then cached and known, and `check` answers from memory).
   */
  async discover(digest: string): Promise<boolean> {
    return this.known.mayLookUp() && (await this.load(digest)) !== null;
  }

  /** The answer from the cache alone; null when only `check()` can tell. */
  cached(digest: string): KeyCheck | null {
    const record = this.cache.get(digest);
    return record ? statusOf(record, digest) : null;
  }

  private checkDigest(digest: string): KeyCheck | Promise<KeyCheck> {
    const record = this.cache.get(digest);
    if (record) return statusOf(record, digest);
    if (!this.known.has(digest) && !this.known.mayLookUp()) return { status: 'NOT_FOUND' };
    return this.load(digest).then((found) => statusOf(found, digest));
  }

  private load(digest: string): Promise<KeyRecord | null> {
    const pending = this.inflight.get(digest);
    // A read that started before the key last changed may return the old record: do not share it.
    if (pending && !this.cache.invalidatedSince(digest, pending.token)) return pending.promise;
    const token = this.cache.begin();
    this.reads += 1;
    const promise = this.db
      .fork()
      .findOne(ApiKeyEntity, { digest })
      .then((entity) => {
        if (!entity) return null;
        const record = toKeyRecord(entity);
        this.known.add(digest, record.merchantId);
        this.cache.fill(digest, record, token);
        return record;
      })
      .finally(() => {
        if (this.inflight.get(digest)?.promise === promise) this.inflight.delete(digest);
      });
    this.inflight.set(digest, { promise, token });
    return promise;
  }
}

function statusOf(record: KeyRecord | null | undefined, digest: string): KeyCheck {
  // Found by digest already; the constant-time compare guards against a cache keyed wrongly.
  if (!record || !sameDigest(record.digest, digest)) return { status: 'NOT_FOUND' };
  if (record.status === 'REVOKED') return { status: 'REVOKED', record };
  if (isExpired(record)) return { status: 'EXPIRED', record };
  if (record.status === 'DISABLED') return { status: 'DISABLED', record };
  return { status: 'VALID', record };
}
