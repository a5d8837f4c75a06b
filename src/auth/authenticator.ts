import type { Database } from '../db/orm.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import type { KeyCache } from '../keys/key-cache.js';
import { digestKey, parseKey, sameDigest } from '../keys/key-material.js';
import { isExpired, toKeyRecord, type KeyRecord } from '../keys/key-record.js';

/** Why a presented key was or was not accepted. A value, not an exception. */
export type KeyCheck =
  | { status: 'VALID'; record: KeyRecord }
  | { status: 'MALFORMED' }
  | { status: 'NOT_FOUND' }
  | { status: 'DISABLED' | 'REVOKED' | 'EXPIRED'; record: KeyRecord };

/**
 * Turns a presented key string into a key record, reading the database only on a cache
 * miss. A malformed key (shape or checksum) is refused without any lookup.
 */
export class Authenticator {
  private readonly inflight = new Map<string, { promise: Promise<KeyRecord | null>; token: number }>();

  constructor(
    private readonly db: Database,
    private readonly cache: KeyCache,
  ) {}

  /** The answer, at once (no promise) for a malformed key or a key in the cache; a miss reads the database. */
  check(presented: string): KeyCheck | Promise<KeyCheck> {
    const known = this.fromMemory(presented);
    return typeof known === 'string' ? this.load(known).then((record) => statusOf(record, known)) : known;
  }

  /**
   * The answer when it needs no database read (a malformed key, or a key in the cache);
   * null when only `check()` can tell.
   */
  checkCached(presented: string): KeyCheck | null {
    const known = this.fromMemory(presented);
    return typeof known === 'string' ? null : known;
  }

  /** The answer from shape, checksum and cache alone, or the digest the database must be asked for. */
  private fromMemory(presented: string): KeyCheck | string {
    if (!parseKey(presented)) return { status: 'MALFORMED' };
    const digest = digestKey(presented);
    const record = this.cache.get(digest);
    return record ? statusOf(record, digest) : digest;
  }

  private load(digest: string): Promise<KeyRecord | null> {
    const pending = this.inflight.get(digest);
    // A read that started before the key last changed may return the old record: do not share it.
    if (pending && !this.cache.invalidatedSince(digest, pending.token)) return pending.promise;
    const token = this.cache.begin();
    const promise = this.db
      .fork()
      .findOne(ApiKeyEntity, { digest })
      .then((entity) => {
        if (!entity) return null;
        const record = toKeyRecord(entity);
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
