import type { KeyStatus } from './api-key.entity.js';

/** A key whose cached record is stale and whose open sockets may have to close. */
export interface KeyChange {
  keyId: string;
  digest: string;
  status: KeyStatus | 'EXPIRED';
}
