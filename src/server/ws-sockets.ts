import type { WebSocket } from 'ws';
import { ipAllowed } from '../auth/admission.js';
import { SYSTEM_ACTOR } from '../auth/principal.js';
import type { Services } from '../graphql/context.js';
import { ApiKeyEntity } from '../keys/api-key.entity.js';
import type { KeyChange } from '../keys/key-change.js';
import { isExpired, type KeyRecord } from '../keys/key-record.js';
import { grants } from '../keys/scopes.js';
import type { Logger } from '../logger.js';
import { CloseCode } from '../protocol.js';

/** Longest delay setTimeout honours; a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Tracked {
  keyId: string;
  /** The client's address, which the key's allowlist must keep allowing. */
  ip: string;
  /** The scopes the socket was admitted with (its principal's): losing one closes it. */
  scopes: readonly string[];
  expiryTimer: NodeJS.Timeout | null;
}

/** What a changed key must still allow for a socket to stay open. */
type Policy = { status: string; expiresAt?: Date | null; scopes: readonly string[]; allowedIps: readonly string[] };

/**
 * The open sockets of one instance, by the key that authenticated them, so that a key that
 * stops being valid closes its sockets with CloseCode.Forbidden (4403) at once:
 * - disable, revoke and expiry arrive as key changes on the bus (from this instance or,
 *   with Redis, any other), and close the key's sockets synchronously;
 * - a key with an `expiresAt` also gets a timer per socket at that instant, so the socket
 *   closes on time even when the expiry sweeper is slow or behind;
 * - a change that leaves the key ACTIVE (a rotation with a grace period moves `expiresAt`, an
 *   updateKey) re-reads the key, closes the sockets whose address its allowlist no longer
 *   allows or that lost a scope, and re-arms the timers;
 * - while the shared bus is down (changes on other instances cannot arrive), and once when it
 *   is back, every key with open sockets is read again.
 */
export class SocketRegistry {
  private readonly byKey = new Map<string, Set<WebSocket>>();
  private readonly sockets = new Map<WebSocket, Tracked>();
  private readonly stopWatching: Array<() => void>;
  private readonly recheckTimer: NodeJS.Timeout;

  constructor(
    private readonly services: Services,
    private readonly logger: Logger,
    recheckMs = 1_000,
  ) {
    this.stopWatching = [
      services.bus.onKeyChange((change) => this.onKeyChange(change)),
      // Key changes made elsewhere while the shared bus was down never arrived: read every key again.
      services.bus.onResync(() => this.recheckAll()),
    ];
    // And while it is down, read them every `recheckMs`, so a key revoked on another instance closes its sockets here too.
    this.recheckTimer = setInterval(() => {
      if (!services.bus.healthy() && this.byKey.size > 0) this.recheckAll();
    }, recheckMs);
    this.recheckTimer.unref();
  }

  track(socket: WebSocket, record: KeyRecord, ip: string): void {
    if (this.sockets.has(socket)) return;
    let set = this.byKey.get(record.id);
    if (!set) this.byKey.set(record.id, (set = new Set()));
    set.add(socket);
    const tracked: Tracked = { keyId: record.id, ip, scopes: record.scopes, expiryTimer: null };
    this.sockets.set(socket, tracked);
    this.armExpiry(socket, tracked, record.expiresAt);
    socket.once('close', () => this.untrack(socket));
  }

  /** Open sockets authenticated by this key (for tests and metrics). */
  socketsOf(keyId: string): ReadonlySet<WebSocket> {
    return this.byKey.get(keyId) ?? new Set();
  }

  get size(): number {
    return this.sockets.size;
  }

  private untrack(socket: WebSocket): void {
    const tracked = this.sockets.get(socket);
    if (!tracked) return;
    this.sockets.delete(socket);
    if (tracked.expiryTimer) clearTimeout(tracked.expiryTimer);
    const set = this.byKey.get(tracked.keyId);
    set?.delete(socket);
    if (set?.size === 0) this.byKey.delete(tracked.keyId);
  }

  private armExpiry(socket: WebSocket, tracked: Tracked, expiresAt: Date | null): void {
    if (tracked.expiryTimer) clearTimeout(tracked.expiryTimer);
    tracked.expiryTimer = null;
    if (!expiresAt) return;
    const delay = expiresAt.getTime() - Date.now();
    if (delay <= 0) return this.forbid(socket, 'Key expired');
    tracked.expiryTimer = setTimeout(() => this.armExpiry(socket, tracked, expiresAt), Math.min(delay, MAX_TIMER_MS));
    tracked.expiryTimer.unref();
  }

  private onKeyChange(change: KeyChange): void {
    const set = this.byKey.get(change.keyId);
    if (!set || set.size === 0) return;
    if (change.status !== 'ACTIVE') {
      for (const socket of [...set]) this.forbid(socket, 'Key is no longer valid');
      return;
    }
    // Still ACTIVE, but its expiry may have moved (rotation with a grace period): read it again.
    this.services.keys.get(SYSTEM_ACTOR, change.keyId).then(
      (key) => {
        for (const socket of [...(this.byKey.get(change.keyId) ?? [])]) this.recheck(socket, key);
      },
      (error: unknown) => this.logger.error({ err: error, keyId: change.keyId }, 'could not re-read a changed key'),
    );
  }

  /** Reads every key with open sockets in one query; closes the sockets of keys no longer valid. */
  private recheckAll(): void {
    const ids = [...this.byKey.keys()];
    if (ids.length === 0) return;
    this.services.db
      .fork()
      .find(ApiKeyEntity, { id: { $in: ids } }, { fields: ['id', 'status', 'expiresAt', 'scopes', 'allowedIps'] })
      .then(
        (rows) => {
          const found = new Map(rows.map((row) => [row.id, row]));
          for (const id of ids) {
            const key = found.get(id);
            for (const socket of [...(this.byKey.get(id) ?? [])]) this.recheck(socket, key ?? null);
          }
        },
        (error: unknown) => this.logger.error({ err: error }, 'could not re-read the keys of open sockets'),
      );
  }

  /** Closes the socket unless the key, as read again, still lets it stay open; else re-arms its expiry. */
  private recheck(socket: WebSocket, key: Policy | null): void {
    const tracked = this.sockets.get(socket);
    if (!tracked) return;
    if (!key || key.status !== 'ACTIVE' || isExpired(key)) return this.forbid(socket, 'Key is no longer valid');
    if (!ipAllowed(key.allowedIps, tracked.ip)) return this.forbid(socket, 'Address not allowed');
    if (tracked.scopes.some((scope) => !grants(key.scopes, scope))) return this.forbid(socket, 'Key lost a scope');
    this.armExpiry(socket, tracked, key.expiresAt ?? null);
  }

  private forbid(socket: WebSocket, reason: string): void {
    this.untrack(socket);
    socket.close(CloseCode.Forbidden, reason);
  }

  dispose(): void {
    for (const stop of this.stopWatching) stop();
    clearInterval(this.recheckTimer);
    for (const socket of [...this.sockets.keys()]) this.untrack(socket);
  }
}
