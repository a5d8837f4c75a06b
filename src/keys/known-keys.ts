import type { Database } from '../db/orm.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { TokenBucket } from '../token-bucket.js';
import { DigestMap } from './digest-map.js';

/** Digests read per query when the map is (re)loaded. */
const PAGE_SIZE = 10_000;

export interface KnownKeysOptions {
  /**
   * Database reads per second, for this whole instance, of digests the map does not hold
   * (default 10, with a burst of as many). They cover keys this instance could not hear of:
   * made by a CLI process without the shared bus, or on another instance while the bus was down.
   */
  unknownLookupsPerSecond?: number;
}

/**
 * The digest of every stored key and the merchant owning it, in memory, so that a
 * well-formed key nobody issued is answered "no such key" without a database read, a key
 * that exists is always looked up, whatever its client address has spent on failures, and
 * a caller confined to one merchant is told "no such key" for another merchant's key by
 * the same path as for a key nobody issued.
 *
 * Loaded at start and again whenever key changes may have been missed (the shared bus came
 * back); kept current by `add`, which the key changes of every instance (creations included)
 * call through the event bus. A digest it does not hold may still be looked up within an
 * instance-wide budget, so keys made where this instance could not hear stay usable, and an
 * attacker's unknown keys cost at most that many reads a second.
 */
export class KnownKeys {
  private readonly digests = new DigestMap();
  /** Reads of digests the map does not hold, for this whole instance. */
  private readonly lookups: TokenBucket;
  private loading: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    options: KnownKeysOptions = {},
  ) {
    const rate = options.unknownLookupsPerSecond ?? 10;
    this.lookups = new TokenBucket(rate, rate);
  }

  /** Whether the digest may be a stored key's ("maybe"; never a false "no" for a key it was told of). */
  has(digest: string): boolean {
    return this.digests.has(digest);
  }

  /** The key's merchant; `undefined` for a digest it does not hold, `null` when only the database can tell. */
  merchantOf(digest: string): string | null | undefined {
    return this.digests.merchantOf(digest);
  }

  add(digest: string, merchantId: string): void {
    this.digests.set(digest, merchantId);
  }

  get size(): number {
    return this.digests.size;
  }

  /** Takes one of the instance's reads for a digest the set does not hold; false when none is left this second. */
  mayLookUp(): boolean {
    return this.lookups.take();
  }

  /**
   * Reads every stored digest, with its merchant, into the map (in pages, by digest). A call while a load runs
   * waits for one more load after it: what changed before the call is read either way.
   */
  load(): Promise<void> {
    if (!this.loading) {
      this.loading = this.readAll().finally(() => (this.loading = null));
      return this.loading;
    }
    this.queued ??= this.loading
      .catch(() => undefined)
      .then(() => {
        // A call from here on must wait for a load that starts after it: queue behind this one.
        this.queued = null;
        return this.load();
      });
    return this.queued;
  }

  private async readAll(): Promise<void> {
    let after = '';
    for (;;) {
      const rows = await this.db
        .fork()
        .find(ApiKeyEntity, { digest: { $gt: after } }, { fields: ['digest', 'merchantId'], orderBy: { digest: 'asc' }, limit: PAGE_SIZE });
      for (const row of rows) this.digests.set(row.digest, row.merchantId);
      if (rows.length < PAGE_SIZE) return;
      after = rows.at(-1)!.digest;
    }
  }
}
