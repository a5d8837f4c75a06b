import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import type { RefillInterval } from './credits.js';
import type { KeyEnvironment, KeyType } from './key-material.js';

export type KeyStatus = 'ACTIVE' | 'DISABLED' | 'REVOKED';

/**
 * A stored API key. It holds the SHA-256 digest of the key, never the value of a SECRET
 * key; `value` is kept only for PUBLIC and TOKENIZATION keys, which are meant to be shown.
 * This class is never exposed through GraphQL directly (see graphql/types/api-key.type.ts).
 */
@Entity({ tableName: 'api_key' })
@Index({ properties: ['merchantId', 'createdAt'] })
export class ApiKeyEntity {
  [OptionalProps]?: 'createdAt' | 'updatedAt' | 'usageCount' | 'status' | 'allowedIps';

  @PrimaryKey({ type: 'string', length: 40 })
  id!: string;

  @Property({ type: 'string', length: 64 })
  merchantId!: string;

  @Property({ type: 'string', length: 100 })
  name!: string;

  @Property({ type: 'string', length: 16 })
  type!: KeyType;

  @Property({ type: 'string', length: 8 })
  environment!: KeyEnvironment;

  @Property({ type: 'string', length: 16 })
  status: KeyStatus = 'ACTIVE';

  @Property({ type: 'json' })
  scopes!: string[];

  @Property({ type: 'string', length: 16 })
  prefix!: string;

  @Property({ type: 'string', length: 4 })
  last4!: string;

  @Property({ type: 'string', length: 64, unique: true })
  digest!: string;

  /** Only for PUBLIC and TOKENIZATION keys. */
  @Property({ type: 'string', length: 64, nullable: true })
  value?: string | null;

  @Property({ type: 'integer' })
  rateLimit!: number;

  @Property({ type: 'integer' })
  rateWindowSeconds!: number;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime' })
  updatedAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true, index: true })
  expiresAt?: Date | null;

  /** When the KEY_EXPIRED event was written, so the sweeper writes it once. */
  @Property({ type: 'datetime', nullable: true })
  expiryRecordedAt?: Date | null;

  /** When the KEY_EXPIRING notice was written (or passed over, for a revoked key), so it is written once. */
  @Property({ type: 'datetime', nullable: true })
  expiryNoticeAt?: Date | null;

  @Property({ type: 'datetime', nullable: true })
  lastUsedAt?: Date | null;

  @Property({ type: 'integer' })
  usageCount: number = 0;

  @Property({ type: 'datetime', nullable: true })
  disabledAt?: Date | null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt?: Date | null;

  @Property({ type: 'string', length: 500, nullable: true })
  statusReason?: string | null;

  @Property({ type: 'string', length: 40, nullable: true })
  createdById?: string | null;

  /** The merchant's own data on the key: a JSON object of at most 4 KiB serialized (METADATA_MAX_BYTES). */
  @Property({ type: 'json', nullable: true })
  metadata?: Record<string, unknown> | null;

  /** Addresses and CIDR ranges the key's own requests may come from, normalised (ip-allowlist.ts); empty: any. */
  @Property({ type: 'json' })
  allowedIps: string[] = [];

  /** The key this one replaced through rotateKey, if any. */
  @Property({ type: 'string', length: 40, nullable: true })
  rotatedFromId?: string | null;

  /**
   * Credits left as of the refill period `creditPeriod`; null: unlimited. The live count is in
   * the credit counter; the ledger's flushes bring this one up to date (see keys/credits.ts).
   */
  @Property({ type: 'integer', nullable: true })
  creditsRemaining?: number | null;

  /** The refill period `creditsRemaining` is for: its first UTC day, as days since 1970-01-01. */
  @Property({ type: 'integer', nullable: true })
  creditPeriod?: number | null;

  @Property({ type: 'integer', nullable: true })
  creditRefillAmount?: number | null;

  @Property({ type: 'string', length: 8, nullable: true })
  creditRefillInterval?: RefillInterval | null;

  @Property({ type: 'integer', nullable: true })
  creditRefillAnchorDay?: number | null;

  /**
   * Without a refill: the count the key's current grant started from, what CREDITS_LOW measures
   * against (null with a refill, whose amount is the grant, or without credits).
   */
  @Property({ type: 'integer', nullable: true })
  creditsGranted?: number | null;

  /** The number of the key's latest grant (its credits set at creation or by updateKey, or grantCredits); only grows. */
  @Property({ type: 'integer', nullable: true })
  creditGrant?: number | null;
}
