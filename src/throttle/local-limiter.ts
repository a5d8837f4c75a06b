import Bottleneck from 'bottleneck';
import { stopGroupTimer, takeFrom } from './bottleneck-adapter.js';
import { peekOf, resultOf, applyNowOrLater, type LimitResult, type Limiter, type TakeOptions } from './limiter.js';

interface Policy {
  id: string;
  group: Bottleneck.Group;
  limit: number;
  windowMs: number;
  /** Window start per key, in insertion order, which is start order: the sweep reads from the head. */
  starts: Map<string, number>;
}

/**
 * In-process limiter: one `Bottleneck.Group` per (limit, window) pair, one limiter per key
 * whose reservoir holds the requests left in the key's current window.
 *
 * - Refuse, never queue: a take subtracts one from the limiter's reservoir, atomically and at
 *   once (`takeFrom`; `schedule()` would serialise every decision of a hot key behind the previous one).
 * - No per-key timers: the limiters carry no reservoir-refresh settings, so Bottleneck starts
 *   no heartbeat for them. A window rolls at the first take after it ended, exactly, by
 *   replacing the key's limiter with a fresh one (full reservoir); a refused take is never
 *   undone, since the next window starts from a full reservoir anyway.
 * - Idle limiters expire: the Group's `timeout` is the window length, measured from the
 *   limiter's creation, which is its window's start, so the Group only drops limiters whose
 *   window is over. Bottleneck's own sweep visits one limiter per timer tick (about 850 a
 *   second), so a sweep here also drops ended windows from the head of the start-ordered map.
 * - Bounded: each (limit, window) pair keeps at most `maxKeys` windows (about 5 KiB each); a new
 *   key past it drops the window that started first, whose count then starts again. Spoofed or
 *   rotating client addresses cannot grow memory without end.
 */
export class LocalLimiter implements Limiter {
  readonly kind = 'local' as const;
  private readonly policies = new Map<string, Policy>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    sweepIntervalMs = 1_000,
    private readonly maxKeys = 50_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  take(key: string, limit: number, windowSeconds: number, options: TakeOptions = {}): LimitResult | Promise<LimitResult> {
    const now = Date.now();
    const policy = this.policy(limit, windowSeconds);
    let start = policy.starts.get(key);
    if (start === undefined || now >= start + policy.windowMs) {
      if (start !== undefined) {
        policy.starts.delete(key);
        // Removes the instance synchronously for the in-process store, so key() below makes a fresh one.
        void policy.group.deleteKey(key);
      }
      start = now;
      if (policy.starts.size >= this.maxKeys) this.evictOldest(policy);
      policy.starts.set(key, start);
    }
    const resetAtMs = start + policy.windowMs;
    return applyNowOrLater(takeFrom(policy.group.key(key), options.count), (left) => resultOf(left, limit, resetAtMs));
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<LimitResult> {
    const now = Date.now();
    const windowMs = windowSeconds * 1000;
    const policy = this.policies.get(policyId(limit, windowSeconds));
    const start = policy?.starts.get(key);
    if (!policy || start === undefined || now >= start + windowMs) return peekOf(limit, limit, now + windowMs, now);
    const reservoir = await policy.group.key(key).currentReservoir();
    return peekOf(reservoir ?? limit, limit, start + windowMs);
  }

  healthy(): boolean {
    return true;
  }

  degradedTakes(): number {
    return 0;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  /** Live limiters (for tests and metrics). */
  get size(): number {
    let size = 0;
    for (const policy of this.policies.values()) size += policy.starts.size;
    return size;
  }

  /** Drops every limiter whose window has ended, and groups left empty. */
  sweep(now = Date.now()): void {
    for (const [id, policy] of this.policies) {
      for (const [key, start] of policy.starts) {
        if (start + policy.windowMs > now) break;
        policy.starts.delete(key);
        void policy.group.deleteKey(key);
      }
      if (policy.starts.size === 0) {
        stopGroupTimer(policy.group);
        this.policies.delete(id);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const policy of this.policies.values()) {
      stopGroupTimer(policy.group);
      await Promise.all(policy.group.keys().map((key) => policy.group.deleteKey(key)));
    }
    this.policies.clear();
  }

  private evictOldest(policy: Policy): void {
    const oldest = policy.starts.keys().next().value;
    if (oldest === undefined) return;
    policy.starts.delete(oldest);
    void policy.group.deleteKey(oldest);
  }

  private policy(limit: number, windowSeconds: number): Policy {
    const id = policyId(limit, windowSeconds);
    let policy = this.policies.get(id);
    if (!policy) {
      const windowMs = windowSeconds * 1000;
      const group = new Bottleneck.Group({ id, reservoir: limit, timeout: windowMs });
      policy = { id, group, limit, windowMs, starts: new Map() };
      this.policies.set(id, policy);
    }
    return policy;
  }
}

/** The limiter id names the limit and the window, so a changed limit never reuses an old reservoir. */
export function policyId(limit: number, windowSeconds: number): string {
  return `rl:${limit}:${windowSeconds}`;
}
