import type { KeyStatus } from './api-key.entity.js';

/** A key whose cached record is stale and whose open sockets may have to close, or a new key (ACTIVE) whose digest every instance must know. */
export interface KeyChange {
  keyId: string;
  digest: string;
  /** The key's merchant: every instance keeps it with the digest, to tell another merchant's key from an unknown one without a lookup. */
  merchantId: string;
  status: KeyStatus | 'EXPIRED';
}
