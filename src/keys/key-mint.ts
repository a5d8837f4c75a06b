import type { KeyChange } from './key-change.js';
import { actorKeyIdOf, type Actor } from '../auth/principal.js';
import type { Em } from '../db/orm.js';
import { ApiKeyEntity } from './api-key.entity.js';
import type { StoredCredits } from './credits.js';
import { digestKey, generateKey, prefixOf, randomId } from './key-material.js';
import { creditColumns } from './key-record.js';

/** Everything a new key is made of, once policy and validation have passed it. */
export type MintFields = Pick<ApiKeyEntity, 'merchantId' | 'name' | 'type' | 'environment' | 'scopes' | 'rateLimit' | 'rateWindowSeconds'> & {
  expiresAt: Date | null;
  rotatedFromId?: string;
  metadata?: Record<string, unknown> | null;
  allowedIps?: readonly string[];
  /** Null or absent: unlimited. */
  credits?: StoredCredits | null;
};

/**
 * Generates a key value and persists its entity in `em` (digest only; the value too for
 * PUBLIC and TOKENIZATION keys). The value is returned once, here.
 */
export function mintKey(em: Em, actor: Actor, fields: MintFields): { entity: ApiKeyEntity; secret: string } {
  const secret = generateKey(fields.type, fields.environment);
  const now = new Date();
  const { credits, ...columns } = fields;
  const entity = em.create(ApiKeyEntity, {
    id: randomId('key'),
    ...columns,
    ...creditColumns(credits ?? null),
    // A new key's credits are its first grant; a rotated key's carry the old one's on.
    creditGrant: credits ? (credits.grant?.number ?? 1) : null,
    scopes: [...fields.scopes],
    metadata: fields.metadata ?? null,
    allowedIps: [...(fields.allowedIps ?? [])],
    prefix: prefixOf(fields.type, fields.environment),
    last4: secret.slice(-4),
    digest: digestKey(secret),
    value: fields.type === 'SECRET' ? null : secret,
    createdAt: now,
    updatedAt: now,
    createdById: actorKeyIdOf(actor),
    rotatedFromId: fields.rotatedFromId ?? null,
  });
  em.persist(entity);
  return { entity, secret };
}

/** A new key, told to every instance like any change: their maps of known digests learn it (with its merchant) before the minting request answers. */
export function announced(entity: ApiKeyEntity): KeyChange {
  return { keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: 'ACTIVE' };
}
