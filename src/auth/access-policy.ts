import type { NewAuditEvent } from '../audit/event-types.js';
import { BadUserInputError, ForbiddenError } from '../errors.js';
import { grants } from '../keys/scopes.js';
import { merchantIdProblem } from '../keys/validation.js';
import { exceededBounds, type KeyBounds, type MintingBound } from './minting-bounds.js';
import type { Actor, KeyActor } from './principal.js';

/** Where refusals are recorded (the ledger's buffered append). */
export interface DenialRecorder {
  append(event: NewAuditEvent): void;
}

/**
 * Who may do what, in one place: which merchant a query is confined to, whether an actor
 * may act for a merchant, which scopes and bounds it may grant to a key it mints, and the
 * refusal itself (ACCESS_DENIED recorded, FORBIDDEN thrown). The system actor and `admin`
 * keys act for every merchant and mint without bounds; any other key acts for its own
 * merchant, within its own scopes and bounds (CONTRACT §9.5).
 */
export class AccessPolicy {
  constructor(private readonly recorder: DenialRecorder) {}

  /** Whether the actor may act for `merchantId`. Decides only: nothing is recorded. */
  private mayActFor(actor: Actor, merchantId: string): boolean {
    const only = this.confinedTo(actor);
    return only === null || only === merchantId;
  }

  /** Refuses (recorded) unless the actor may act for `merchantId`. */
  requireMerchant(actor: Actor, merchantId: string, operation: string): void {
    if (!this.mayActFor(actor, merchantId)) this.deny(actor, operation, 'another merchant', { targetMerchantId: merchantId });
  }

  /**
   * Refuses (recorded) unless the actor may act for what belongs to `merchantId`; null (a thing
   * of every merchant, such as an admin's webhook endpoint) is for unconfined actors only.
   */
  requireOwner(actor: Actor, merchantId: string | null, operation: string): void {
    if (merchantId !== null) return this.requireMerchant(actor, merchantId, operation);
    if (this.confinedTo(actor) !== null) this.deny(actor, operation, 'another merchant', { targetMerchantId: null });
  }

  /**
   * The merchant a read is confined to: the one asked for, if the actor may act for it (a
   * malformed id is BAD_USER_INPUT, another merchant's is refused); else the key's own
   * merchant; null (every merchant) for the system and `admin` only.
   */
  scopeQuery(actor: Actor, requested: string | null | undefined, operation: string, field = 'merchantId'): string | null {
    if (requested != null) {
      const problem = merchantIdProblem(requested, field);
      if (problem) throw new BadUserInputError([problem]);
      this.requireMerchant(actor, requested, operation);
      return requested;
    }
    return this.confinedTo(actor);
  }

  /** The one merchant the actor may act for; null (every merchant) for the system and `admin`. */
  confinedTo(actor: Actor): string | null {
    return this.restricted(actor) ? actor.principal.merchantId : null;
  }

  /** The merchant a new key belongs to: the one asked for (if allowed), else the caller's own. */
  merchantForNewKey(actor: Actor, requested: string | null | undefined, operation: string): string {
    const merchantId = requested ?? actor.principal?.merchantId ?? null;
    if (!merchantId) throw BadUserInputError.at('input.merchantId', 'merchantId is required.');
    this.requireMerchant(actor, merchantId, operation);
    return merchantId;
  }

  /** Refuses (recorded) unless the actor holds every scope it would grant; `admin` grants anything. */
  requireGrantable(actor: Actor, scopes: readonly string[], operation: string): void {
    if (!this.restricted(actor)) return;
    const held = actor.principal.scopes;
    const missing = scopes.filter((scope) => !grants(held, scope));
    if (missing.length > 0) this.deny(actor, operation, 'scope escalation', { scopes: missing });
  }

  /**
   * Refuses (recorded) a key minted (created or rotated into) beyond the minting key's own
   * bounds: environment, rate limit, expiry. `admin` and the system are exempt. `only`: the
   * bounds being set (updateKey), so a key is not refused for what the caller leaves as it is.
   */
  requireWithinBounds(actor: Actor, minted: KeyBounds, operation: string, only?: readonly MintingBound[]): void {
    if (!this.restricted(actor)) return;
    const exceeded = exceededBounds(actor.principal.key, minted).filter((bound) => !only || only.includes(bound));
    if (exceeded.length > 0) this.deny(actor, operation, 'minting bounds', { bounds: exceeded });
  }

  /** Records ACCESS_DENIED for the actor and throws FORBIDDEN. */
  deny(actor: Actor, operation: string, reason: string, metadata: Record<string, unknown> = {}): never {
    const principal = actor.principal;
    this.recorder.append({
      type: 'ACCESS_DENIED',
      merchantId: principal?.merchantId ?? null,
      keyId: principal?.keyId ?? null,
      actorKeyId: principal?.keyId ?? null,
      requestId: actor.requestId ?? null,
      operationName: actor.operationName ?? operation,
      ip: actor.ip ?? null,
      reason,
      metadata: { operation, ...metadata },
    });
    throw new ForbiddenError();
  }

  /** A key without `admin`: bound to its merchant, its scopes and its bounds. */
  private restricted(actor: Actor): actor is KeyActor {
    return actor.kind === 'key' && !actor.principal.admin;
  }
}
