import type { AuditEventRecord } from '../../src/audit/event-types.js';

/** A stored KEY_USED event of `merchantId` with id `id` and nothing else set: what unit tests of the feed pass around. */
export function keyUsedRecord(id: number, merchantId = 'm1'): AuditEventRecord {
  return {
    id: String(id),
    type: 'KEY_USED',
    occurredAt: new Date(),
    merchantId,
    keyId: null,
    actorKeyId: null,
    requestId: null,
    operationName: null,
    ip: null,
    reason: null,
    metadata: null,
  };
}
