/** Slots used at most this fraction full before the table doubles (open addressing stays short). */
const MAX_LOAD = 0.5;
const INITIAL_SLOTS = 1 << 10;

/**
 * A compact set of key digests (SHA-256, 64 hex characters), kept as the first 64 bits of
 * each: 8 bytes a key, in a table at most half full, so 16 to 32 bytes per key (a million
 * keys take 16 to 32 MiB; a JavaScript Set of the hex strings would take over 100 bytes a key).
 *
 * `has` can answer a false "maybe" (two digests sharing their first 64 bits: about n / 2^64
 * for a random one), never a false "no": a "maybe" costs only the database read that tells
 * the truth. Digests are never removed: a revoked or expired key is still answered from the
 * database (with its status), and a key that no longer exists is only a needless read.
 */
export class DigestSet {
  /** Two 32-bit halves per slot; (0, 0) marks an empty slot. */
  private slots = new Uint32Array(INITIAL_SLOTS * 2);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(digest: string): boolean {
    const [high, low] = halves(digest);
    const mask = this.slots.length / 2 - 1;
    for (let slot = low & mask; ; slot = (slot + 1) & mask) {
      const h = this.slots[slot * 2]!;
      const l = this.slots[slot * 2 + 1]!;
      if (h === high && l === low) return true;
      if (h === 0 && l === 0) return false;
    }
  }

  add(digest: string): void {
    const [high, low] = halves(digest);
    if (this.insert(this.slots, high, low)) this.count += 1;
    if (this.count > (this.slots.length / 2) * MAX_LOAD) this.grow();
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.insert(this.slots, old[i]!, old[i + 1]!);
    }
  }

  /** True when the value was not there yet. */
  private insert(slots: Uint32Array, high: number, low: number): boolean {
    const mask = slots.length / 2 - 1;
    for (let slot = low & mask; ; slot = (slot + 1) & mask) {
      const h = slots[slot * 2]!;
      const l = slots[slot * 2 + 1]!;
      if (h === high && l === low) return false;
      if (h === 0 && l === 0) {
        slots[slot * 2] = high;
        slots[slot * 2 + 1] = low;
        return true;
      }
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
