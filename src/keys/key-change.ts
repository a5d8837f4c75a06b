import type { KeyStatus } from './api-key.entity.js';

/** A key whose cached record is stale and whose open sockets may have to close, or a new key (ACTIVE) whose digest every instance must know. */
export interface KeyChange {
  keyId: string;
  digest: string;
  status: KeyStatus | 'EXPIRED';
}
