import type { NewAuditEvent } from './event-types.js';

/** Refusals anyone can cause without a key: their rows must not grow with the number of requests. */
const COLLAPSED_TYPES: ReadonlySet<string> = new Set(['AUTH_FAILED', 'RATE_LIMITED']);

export interface RefusalCollapserOptions {
  /** How long one address's refusals for one reason fold into one row (contract §9.5: a minute). */
  windowMs: number;
  /** Groups tracked at once; past it, the oldest group is closed early (its summary written), so nothing is lost. */
  maxGroups: number;
  now?: () => number;
}

interface Group {
  opened: number;
  first: NewAuditEvent;
  /** Refusals folded in after the first, which was recorded as it came. */
  folded: number;
}

/**
 * Records at most one AUTH_FAILED / RATE_LIMITED event per client address, reason (and key,
 * when the refusal is about one) per window, and one summary event when more came: the
 * same type, address, reason and key, with `metadata.count` (how many refusals it stands
 * for, beyond the first row) and `metadata.from`/`metadata.to` (the window). So a flood of
 * refusals writes rows in proportion to the distinct addresses that sent it, not to its
 * size, and every refusal is still accounted for. Other events pass straight through.
 */
export class RefusalCollapser {
  private readonly groups = new Map<string, Group>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly record: (event: NewAuditEvent) => void,
    private readonly options: RefusalCollapserOptions,
  ) {
    this.now = options.now ?? Date.now;
    // A group's summary is due when its window ends, even if no refusal comes after it.
    this.timer = setInterval(() => this.closeExpired(), Math.max(50, Math.min(options.windowMs / 4, 5_000)));
    this.timer.unref();
  }

  /** Records `event` now (true), or folds it into its group's summary (false). */
  offer(event: NewAuditEvent): boolean {
    if (!COLLAPSED_TYPES.has(event.type)) {
      this.record(event);
      return true;
    }
    this.closeExpired();
    const id = groupId(event);
    const group = this.groups.get(id);
    if (group) {
      group.folded += 1;
      return false;
    }
    if (this.groups.size >= this.options.maxGroups) this.close(this.groups.keys().next().value!);
    this.groups.set(id, { opened: this.now(), first: event, folded: 0 });
    this.record(event);
    return true;
  }

  /** Writes every pending summary at once (shutdown, or a test that needs them now). */
  flush(): void {
    for (const id of [...this.groups.keys()]) this.close(id);
  }

  /** Flushes and stops the timer. */
  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  /** Groups tracked now (bounded by `maxGroups`). */
  get size(): number {
    return this.groups.size;
  }

  // Groups are kept in the order they were opened, so the expired ones are at the front.
  private closeExpired(): void {
    const cutoff = this.now() - this.options.windowMs;
    for (const [id, group] of this.groups) {
      if (group.opened > cutoff) break;
      this.close(id);
    }
  }

  private close(id: string): void {
    const group = this.groups.get(id)!;
    this.groups.delete(id);
    if (group.folded === 0) return;
    const { type, merchantId, keyId, actorKeyId, ip, reason, metadata } = group.first;
    this.record({
      type,
      merchantId: merchantId ?? null,
      keyId: keyId ?? null,
      actorKeyId: actorKeyId ?? null,
      requestId: null,
      operationName: null,
      ip: ip ?? null,
      reason: reason ?? null,
      metadata: {
        ...(metadata ?? {}),
        summary: true,
        count: group.folded,
        from: new Date(group.opened).toISOString(),
        to: new Date(Math.min(this.now(), group.opened + this.options.windowMs)).toISOString(),
      },
    });
  }
}

function groupId(event: NewAuditEvent): string {
  return JSON.stringify([event.type, event.ip ?? null, event.reason ?? null, event.keyId ?? null, event.actorKeyId ?? null]);
}
