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

/** Who performs an action, and where from; `principal` is null for the operator's CLI. */
export interface Actor {
  readonly principal: Principal | null;
  readonly requestId?: string | null;
  readonly ip?: string | null;
  readonly operationName?: string | null;
  /** Recorded in the metadata of every event this actor causes (the CLI sets `{ via: 'cli' }`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}
