import type { KeyRecord } from '../keys/key-record.js';
import { ADMIN_SCOPE } from '../keys/scopes.js';

/** The authenticated caller: the key that signed the request. */
export interface Principal {
  readonly keyId: string;
  readonly merchantId: string;
  readonly scopes: ReadonlySet<string>;
  readonly admin: boolean;
  readonly key: KeyRecord;
}

export function principalOf(record: KeyRecord): Principal {
  return {
    keyId: record.id,
    merchantId: record.merchantId,
    scopes: new Set(record.scopes),
    admin: record.scopes.includes(ADMIN_SCOPE),
    key: record,
  };
}

/** Where an action comes from, recorded on every event it causes. */
interface ActorDetails {
  readonly requestId?: string | null;
  readonly ip?: string | null;
  readonly operationName?: string | null;
  /** Recorded in the metadata of every event this actor causes (the CLI sets `{ via: 'cli' }`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** A request signed by a key: it acts within that key's rights (see AccessPolicy). */
export interface KeyActor extends ActorDetails {
  readonly kind: 'key';
  readonly principal: Principal;
}

/**
 * The service itself or its operator (first start, expiry sweep, socket rechecks, the local
 * CLI): no key, and every right. The only actor with full rights short of an `admin` key;
 * a missing principal never means it.
 */
export interface SystemActor extends ActorDetails {
  readonly kind: 'system';
  readonly principal?: never;
}

/** Who performs an action: a key, or the system, never "nobody". */
export type Actor = KeyActor | SystemActor;

/** The service acting on its own behalf. */
export const SYSTEM_ACTOR: SystemActor = Object.freeze({ kind: 'system' });

/** The system actor, recording `metadata` on every event it causes (the CLI: `{ via: 'cli' }`). */
export function systemActor(metadata: Readonly<Record<string, unknown>>): SystemActor {
  return Object.freeze({ kind: 'system', metadata: Object.freeze({ ...metadata }) });
}

/** The key id to record as the actor of an event: null for the system. */
export function actorKeyIdOf(actor: Actor): string | null {
  return actor.kind === 'key' ? actor.principal.keyId : null;
}
