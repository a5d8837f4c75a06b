import type { ApiKeyEntity } from './api-key.entity.js';
import type { KeyChange } from './key-change.js';
import { isExpired } from './key-record.js';

/**
 * The status changes of a key, each in one place, for every path that makes them (the key
 * lifecycle's mutations and leak reports alike). Each changes the entity in memory and says
 * whether anything changed; the caller writes it with its event, in one transaction.
 */

/** Revokes the key for good; false when it already was. */
export function revokeEntity(entity: ApiKeyEntity, now: Date, reason: string | null): boolean {
  if (entity.status === 'REVOKED') return false;
  entity.status = 'REVOKED';
  entity.revokedAt = now;
  entity.statusReason = reason;
  entity.updatedAt = now;
  return true;
}

/** Disables the key until it is enabled again; false when it already was disabled. The caller refuses a revoked key first. */
export function disableEntity(entity: ApiKeyEntity, now: Date, reason: string | null): boolean {
  if (entity.status !== 'ACTIVE') return false;
  entity.status = 'DISABLED';
  entity.disabledAt = now;
  entity.statusReason = reason;
  entity.updatedAt = now;
  return true;
}

/** Lets a disabled key authenticate again; false when it already could. The caller refuses a revoked key first. */
export function enableEntity(entity: ApiKeyEntity, now: Date): boolean {
  if (entity.status !== 'DISABLED') return false;
  entity.status = 'ACTIVE';
  entity.disabledAt = null;
  entity.statusReason = null;
  entity.updatedAt = now;
  return true;
}

/** What every cache and socket, on every instance, must hear of this key after its change commits. */
export function changeOf(entity: ApiKeyEntity): KeyChange {
  return { keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: isExpired(entity) ? 'EXPIRED' : entity.status };
}
