import { generateKey } from '../../src/keys/key-material.js';
import { createKey, type TestServer } from './server.js';

/** The merchant whose keys and resources the matrix acts on, and the other one. */
export const OWN = 'm_own';
export const OTHER = 'm_other';

/** Every kind of caller the tenancy and scope matrix tries. */
export const CALLERS = ['admin', 'own', 'ownNoScope', 'other', 'disabled', 'revoked', 'expired', 'malformed', 'unknown', 'none'] as const;
export type Caller = (typeof CALLERS)[number];

/** The credential callers, and the AUTH_FAILED reason each leaves. */
export const REFUSED_CREDENTIALS: Partial<Record<Caller, string>> = {
  disabled: 'DISABLED',
  revoked: 'REVOKED',
  expired: 'EXPIRED',
  malformed: 'MALFORMED',
  unknown: 'NOT_FOUND',
  none: 'MISSING',
};

const FULL = ['keys:read', 'keys:write'];

/** The key with its last character changed: well shaped, wrong checksum. */
export function withBadChecksum(key: string): string {
  return key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
}

/**
 * One key per caller: admin; a key of OWN with keys:read and keys:write; a key of OWN with
 * neither (keys:verify only); a full key of OTHER; and keys of OWN that are disabled, revoked
 * or expired, one with a broken checksum, one well formed but unknown, and none at all.
 */
export async function makeCallers(server: TestServer): Promise<Record<Caller, string | null>> {
  const mutate = async (query: string, id: string) => {
    const result = await server.gql(query, { id });
    if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
  };
  const own = await createKey(server, { merchantId: OWN, name: 'own full', scopes: FULL });
  const ownNoScope = await createKey(server, { merchantId: OWN, name: 'own verify only', scopes: ['keys:verify'] });
  const other = await createKey(server, { merchantId: OTHER, name: 'other full', scopes: FULL });
  const disabled = await createKey(server, { merchantId: OWN, name: 'disabled', scopes: FULL });
  await mutate('mutation($id: ID!) { disableKey(id: $id) { id } }', disabled.id);
  const revoked = await createKey(server, { merchantId: OWN, name: 'revoked', scopes: FULL });
  await mutate('mutation($id: ID!) { revokeKey(id: $id) { id } }', revoked.id);
  const expired = await createKey(server, { merchantId: OWN, name: 'expired', scopes: FULL });
  // Rotating with no grace period expires the old key at once.
  await mutate('mutation($id: ID!) { rotateKey(id: $id, expireOldAfterSeconds: 0) { key { id } } }', expired.id);
  return {
    admin: server.adminKey,
    own: own.secret,
    ownNoScope: ownNoScope.secret,
    other: other.secret,
    disabled: disabled.secret,
    revoked: revoked.secret,
    expired: expired.secret,
    malformed: withBadChecksum(own.secret),
    unknown: generateKey('SECRET', 'TEST'),
    none: null,
  };
}
