import { actorKeyIdOf, type Actor } from '../auth/principal.js';
import type { AuditEventType, NewAuditEvent } from '../audit/event-types.js';
import type { ApiKeyEntity } from './api-key.entity.js';

/** The ledger event recording that `actor` did `type` to the key `entity`, with the actor's request details. */
export function keyEvent(type: AuditEventType, actor: Actor, entity: ApiKeyEntity, extra: Partial<NewAuditEvent> = {}): NewAuditEvent {
  const metadata = actor.metadata || extra.metadata ? { ...actor.metadata, ...extra.metadata } : null;
  return {
    type,
    merchantId: entity.merchantId,
    keyId: entity.id,
    actorKeyId: actorKeyIdOf(actor),
    requestId: actor.requestId ?? null,
    operationName: actor.operationName ?? null,
    ip: actor.ip ?? null,
    ...extra,
    metadata,
  };
}
