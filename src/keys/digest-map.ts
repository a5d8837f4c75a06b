/** Slots used at most this fraction full before the table doubles (open addressing stays short). */
const MAX_LOAD = 0.5;
const INITIAL_SLOTS = 1 << 10;
/** Uint32s per slot: the digest's first 64 bits as two halves, then the owner's index. */
const WIDTH = 3;
/** The owner index of a prefix two keys of different merchants share: only a database read can tell. */
const SEVERAL = 0xffff_ffff;

/**
 * A compact map from key digest (SHA-256, 64 hex characters) to the merchant owning the key,
 * kept as the digest's first 64 bits and an index into a table of merchant ids held once
 * each: 12 bytes a slot, in a table at most half full, so 24 to 48 bytes per key (a million
 * keys take 24 to 48 MiB, plus one string per merchant; a JavaScript Map of the hex strings
 * would take well over 100 bytes a key).
 *
 * `merchantOf` never answers a wrong "no such key" or a wrong owner for a digest it was
 * given: two digests sharing their first 64 bits (about n / 2^64 for a random one) read as
 * one, so an unknown digest may read as known (a needless database read), and when the two
 * keys have different owners the owner reads as unknown (`null`: only the database tells).
 * Digests are never removed: a revoked or expired key is still answered from the database
 * (with its status), and a key that no longer exists is only a needless read.
 */
export class DigestMap {
  /** (high, low, owner) per slot; high and low both 0 mark an empty slot. */
  private slots = new Uint32Array(INITIAL_SLOTS * WIDTH);
  private count = 0;
  private readonly merchants: string[] = [];
  private readonly merchantIndex = new Map<string, number>();

  get size(): number {
    return this.count;
  }

  has(digest: string): boolean {
    return this.find(digest) >= 0;
  }

  /** The owning merchant; `undefined` for a digest it does not hold, `null` when only the database can tell. */
  merchantOf(digest: string): string | null | undefined {
    const at = this.find(digest);
    if (at < 0) return undefined;
    const owner = this.slots[at + 2]!;
    return owner === SEVERAL ? null : this.merchants[owner]!;
  }

  set(digest: string, merchantId: string): void {
    const [high, low] = halves(digest);
    const owner = this.intern(merchantId);
    const mask = this.slots.length / WIDTH - 1;
    for (let slot = low & mask; ; slot = (slot + 1) & mask) {
      const at = slot * WIDTH;
      const h = this.slots[at]!;
      const l = this.slots[at + 1]!;
      if (h === high && l === low) {
        // A key's merchant never changes: another owner here is a second key with the same prefix.
        if (this.slots[at + 2] !== owner) this.slots[at + 2] = SEVERAL;
        return;
      }
      if (h === 0 && l === 0) {
        this.slots[at] = high;
        this.slots[at + 1] = low;
        this.slots[at + 2] = owner;
        this.count += 1;
        if (this.count > (this.slots.length / WIDTH) * MAX_LOAD) this.grow();
        return;
      }
    }
  }

  /** The slot's offset in `slots`, or -1. */
  private find(digest: string): number {
    const [high, low] = halves(digest);
    const mask = this.slots.length / WIDTH - 1;
    for (let slot = low & mask; ; slot = (slot + 1) & mask) {
      const at = slot * WIDTH;
      const h = this.slots[at]!;
      const l = this.slots[at + 1]!;
      if (h === high && l === low) return at;
      if (h === 0 && l === 0) return -1;
    }
  }

  private intern(merchantId: string): number {
    let index = this.merchantIndex.get(merchantId);
    if (index === undefined) {
      index = this.merchants.push(merchantId) - 1;
      this.merchantIndex.set(merchantId, index);
    }
    return index;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    const mask = this.slots.length / WIDTH - 1;
    for (let from = 0; from < old.length; from += WIDTH) {
      const high = old[from]!;
      const low = old[from + 1]!;
      if (high === 0 && low === 0) continue;
      let slot = low & mask;
      // Every prefix is distinct here: the first empty slot is its place.
      while (this.slots[slot * WIDTH] !== 0 || this.slots[slot * WIDTH + 1] !== 0) slot = (slot + 1) & mask;
      this.slots.set(old.subarray(from, from + WIDTH), slot * WIDTH);
    }
  }
}

/** The digest's first 64 bits as two unsigned 32-bit numbers; never (0, 0), the empty mark. */
function halves(digest: string): [number, number] {
  const high = Number.parseInt(digest.slice(0, 8), 16) >>> 0;
  const low = Number.parseInt(digest.slice(8, 16), 16) >>> 0;
  // Folding the one all-zero prefix onto (0, 1) only adds a "maybe" for it.
  return high === 0 && low === 0 ? [0, 1] : [high, low];
}
