import type { NewAuditEvent } from '../audit/event-types.js';
import type { RequestInfo } from '../throttle/throttle.js';

/** Why a credential was refused: none presented, or the status its check found. */
export type RefusalReason = 'MISSING' | 'MALFORMED' | 'NOT_FOUND' | 'DISABLED' | 'REVOKED' | 'EXPIRED';

/**
 * The AUTH_FAILED event of a refused credential, over any transport and for verifyKey alike:
 * the key it named when it named a stored one (never the presented value), why, and where
 * the request came from.
 */
export function authFailedEvent(
  reason: RefusalReason,
  subject: { merchantId?: string | null; keyId?: string | null },
  request: RequestInfo,
): NewAuditEvent {
  return {
    type: 'AUTH_FAILED',
    merchantId: subject.merchantId ?? null,
    keyId: subject.keyId ?? null,
    actorKeyId: request.actorKeyId ?? null,
    requestId: request.requestId ?? null,
    ip: request.ip ?? null,
    operationName: request.operationName ?? null,
    reason,
    metadata: request.metadata ?? null,
  };
}
