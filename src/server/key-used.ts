import type { Principal } from '../auth/principal.js';
import type { Ledger } from '../audit/ledger.js';

/** Leaves KEY_USED for one authenticated request or subscribe (batched: no write here). */
export function recordKeyUse(
  ledger: Ledger,
  principal: Principal,
  fields: { requestId: string; ip: string | null; operationName: string | null; metadata?: Record<string, unknown> },
): void {
  ledger.append({
    type: 'KEY_USED',
    merchantId: principal.merchantId,
    keyId: principal.keyId,
    actorKeyId: principal.keyId,
    requestId: fields.requestId,
    ip: fields.ip,
    operationName: fields.operationName,
    metadata: fields.metadata ?? null,
  });
}
