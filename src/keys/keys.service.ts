import type { FilterQuery } from '@mikro-orm/core';
import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import type { AuditEventType } from '../audit/event-types.js';
import type { Em } from '../db/orm.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../db/page.js';
import { BadUserInputError, NotFoundError, within } from '../errors.js';
import { ApiKeyEntity, type KeyStatus } from './api-key.entity.js';
import type { KeyEnvironment, KeyType } from './key-material.js';
import { keyEvent } from './key-events.js';
import { announced, mintKey, type MintFields } from './key-mint.js';
import { creditsAt, storedCreditsOf, type StoredCredits } from './credits.js';
import { isExpired, storedCreditsOfEntity, toView, type ApiKeyView } from './key-record.js';
import { changeOf, disableEntity, enableEntity, revokeEntity } from './key-status.js';
import type { KeyTransaction } from './key-transaction.js';
import type { ScopeCatalogue } from './scopes.js';
import { applyUpdate, changedFields, validateUpdateKey, type UpdateKeyRequest } from './update-key.js';
import { isKeyId, reasonProblems, validateCreateKey, type CreateKeyRequest } from './validation.js';
import { clientKeyScopeProblems, type MintingBound } from '../auth/minting-bounds.js';

export interface KeysServiceOptions {
  defaultRateLimit: number;
  defaultRateWindowSeconds: number;
  /** The clock a new key's first refill period is taken from (default Date.now). */
  now?: () => number;
}

export interface CreatedKey {
  key: ApiKeyView;
  /** The full key value. Returned once, never stored for SECRET keys. */
  secret: string;
}

export interface KeyFilter {
  merchantId?: string | null;
  status?: KeyStatus | null;
  type?: KeyType | null;
  environment?: KeyEnvironment | null;
}

/** The longest grace period a rotated key keeps working: 30 days. */
const MAX_ROTATION_GRACE_SECONDS = 30 * 86_400;

/**
 * The key lifecycle: create, read, list, disable, enable, revoke and rotate. Who may do what
 * is the AccessPolicy's to decide; each change is written together with its ledger event.
 * It knows nothing of GraphQL or HTTP.
 */
export class KeysService {
  constructor(
    private readonly transaction: KeyTransaction,
    private readonly policy: AccessPolicy,
    private readonly catalogue: ScopeCatalogue,
    private readonly options: KeysServiceOptions,
  ) {}

  async create(actor: Actor, request: CreateKeyRequest): Promise<CreatedKey> {
    const checked = validateCreateKey(request, this.catalogue);
    if (!checked.ok) throw new BadUserInputError(within('input', checked.problems));
    const input = checked.value;
    const fields: MintFields = {
      merchantId: this.policy.merchantForNewKey(actor, input.merchantId, 'createKey'),
      name: input.name,
      type: input.type,
      environment: input.environment,
      scopes: input.scopes,
      expiresAt: input.expiresAt,
      rateLimit: input.rateLimit?.limit ?? this.options.defaultRateLimit,
      rateWindowSeconds: input.rateLimit?.windowSeconds ?? this.options.defaultRateWindowSeconds,
      metadata: input.metadata,
      allowedIps: input.allowedIps,
      credits: input.credits ? storedCreditsOf(input.credits, (this.options.now ?? Date.now)()) : null,
    };
    this.policy.requireGrantable(actor, fields.scopes, 'createKey');
    this.policy.requireWithinBounds(actor, fields, 'createKey');
    return this.transaction.commitWithEvents(async (em) => {
      const created = mintKey(em, actor, fields);
      return {
        result: { key: toView(created.entity), secret: created.secret },
        events: [keyEvent('KEY_CREATED', actor, created.entity)],
        changed: [announced(created.entity)],
      };
    });
  }

  /** The key with this id, or null; another merchant's key is refused. */
  async get(actor: Actor, id: string): Promise<ApiKeyView | null> {
    if (!isKeyId(id)) return null;
    const entity = await this.transaction.reader().findOne(ApiKeyEntity, { id });
    if (!entity) return null;
    this.policy.requireMerchant(actor, entity.merchantId, 'apiKey');
    return toView(entity);
  }

  async list(actor: Actor, filter: KeyFilter, first: number | null | undefined, after: string | null | undefined): Promise<Page<ApiKeyView>> {
    const size = pageSize(first, 20);
    const merchantId = this.policy.scopeQuery(actor, filter.merchantId, 'apiKeys');
    const where: FilterQuery<ApiKeyEntity> = {};
    if (merchantId) where.merchantId = merchantId;
    if (filter.status) where.status = filter.status;
    if (filter.type) where.type = filter.type;
    if (filter.environment) where.environment = filter.environment;
    const em = this.transaction.reader();
    const totalCount = await em.count(ApiKeyEntity, where);
    let pageWhere: FilterQuery<ApiKeyEntity> = where;
    if (after) {
      const [ms, id] = decodeCursor('k', after, ['integer', 'string']);
      const at = new Date(ms);
      pageWhere = { $and: [where, { $or: [{ createdAt: { $lt: at } }, { createdAt: at, id: { $lt: id } }] }] };
    }
    const rows = await em.find(ApiKeyEntity, pageWhere, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 });
    const items = rows.slice(0, size).map((entity) => ({
      cursor: encodeCursor('k', [entity.createdAt.getTime(), entity.id]),
      node: toView(entity),
    }));
    return { items, hasNextPage: rows.length > size, totalCount };
  }

  disable(actor: Actor, id: string, reason?: string | null): Promise<ApiKeyView> {
    return this.transition(actor, id, 'disableKey', reason, (entity, now) => {
      if (entity.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be disabled.');
      return disableEntity(entity, now, reason ?? null) ? 'KEY_DISABLED' : null;
    });
  }

  enable(actor: Actor, id: string): Promise<ApiKeyView> {
    return this.transition(actor, id, 'enableKey', null, (entity, now) => {
      if (entity.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be enabled.');
      return enableEntity(entity, now) ? 'KEY_ENABLED' : null;
    });
  }

  revoke(actor: Actor, id: string, reason?: string | null): Promise<ApiKeyView> {
    return this.transition(actor, id, 'revokeKey', reason, (entity, now) => (revokeEntity(entity, now, reason ?? null) ? 'KEY_REVOKED' : null));
  }

  /**
   * Changes a key in place (updateKey). Every input problem is listed at once, after the
   * key is found and the caller may act for it; scopes only within the caller's own, rate
   * limit and expiry within its bounds; nothing is written on any refusal. A change leaves
   * KEY_UPDATED naming the changed fields and reaches every cache and socket like a
   * revocation does; no change, no event.
   */
  async update(actor: Actor, id: string, input: UpdateKeyRequest): Promise<ApiKeyView> {
    const now = new Date();
    // A credits refill period is taken from the injected clock, like a new key's.
    const checked = validateUpdateKey(input, this.catalogue, now, (this.options.now ?? Date.now)());
    return this.transaction.commitWithEvents(async (em) => {
      const entity = await this.load(em, actor, id, 'updateKey');
      const update = checked.value;
      const problems = within('input', checked.problems);
      if (entity.status === 'REVOKED') problems.unshift({ field: 'id', message: 'A revoked key cannot be updated.' });
      if (update.scopes) problems.push(...clientKeyScopeProblems(entity.type, update.scopes).map((message) => ({ field: 'input.scopes', message })));
      if (update.expiresAt !== undefined && isExpired(entity, now.getTime())) {
        problems.push({ field: 'input.expiresAt', message: 'An expired key cannot be given a new expiry; rotate it or create a key instead.' });
      }
      if (problems.length > 0) throw new BadUserInputError(problems);
      const changed = changedFields(entity, update);
      if (changed.length === 0) return { result: toView(entity), events: [] };
      if (changed.includes('scopes')) this.policy.requireGrantable(actor, update.scopes!, 'updateKey');
      const bounds = changed.filter((field) => field === 'rateLimit' || field === 'expiresAt') satisfies MintingBound[];
      if (bounds.length > 0) {
        const limit = update.rateLimit ?? { limit: entity.rateLimit, windowSeconds: entity.rateWindowSeconds };
        const expiresAt = update.expiresAt !== undefined ? update.expiresAt : (entity.expiresAt ?? null);
        const updated = { environment: entity.environment, rateLimit: limit.limit, rateWindowSeconds: limit.windowSeconds, expiresAt };
        this.policy.requireWithinBounds(actor, updated, 'updateKey', bounds);
      }
      applyUpdate(entity, update, changed, now);
      return {
        result: toView(entity),
        events: [keyEvent('KEY_UPDATED', actor, entity, { metadata: { changed } })],
        changed: [{ keyId: entity.id, digest: entity.digest, merchantId: entity.merchantId, status: entity.status }],
      };
    });
  }

  /** A new key like the old one; the old one expires after `expireOldAfterSeconds`. */
  async rotate(actor: Actor, id: string, expireOldAfterSeconds: number | null | undefined): Promise<CreatedKey> {
    const grace = expireOldAfterSeconds ?? 0;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_ROTATION_GRACE_SECONDS) {
      throw BadUserInputError.at('expireOldAfterSeconds', `expireOldAfterSeconds must be an integer from 0 to ${MAX_ROTATION_GRACE_SECONDS} (30 days).`);
    }
    return this.transaction.commitWithEvents(async (em) => {
      const old = await this.load(em, actor, id, 'rotateKey');
      if (old.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be rotated.');
      const now = new Date();
      const fields: MintFields = {
        merchantId: old.merchantId,
        name: old.name,
        type: old.type,
        environment: old.environment,
        scopes: old.scopes,
        expiresAt: old.expiresAt && old.expiresAt > now ? old.expiresAt : null,
        rateLimit: old.rateLimit,
        rateWindowSeconds: old.rateWindowSeconds,
        rotatedFromId: old.id,
        metadata: old.metadata ?? null,
        allowedIps: old.allowedIps,
        // The new key carries the old one's credits as stored (refilled if due), so rotating is no way out of them.
        credits: rotatedCredits(old, (this.options.now ?? Date.now)()),
      };
      // Refused inside the transaction: it rolls back, and nothing is created.
      this.policy.requireGrantable(actor, fields.scopes, 'rotateKey');
      this.policy.requireWithinBounds(actor, fields, 'rotateKey');
      const created = mintKey(em, actor, fields);
      const oldExpiry = new Date(now.getTime() + grace * 1000);
      const events = [keyEvent('KEY_CREATED', actor, created.entity, { metadata: { rotatedFromId: old.id } })];
      events.push(keyEvent('KEY_ROTATED', actor, old, { metadata: { newKeyId: created.entity.id, expireOldAfterSeconds: grace } }));
      if (!old.expiresAt || old.expiresAt > oldExpiry) {
        old.expiresAt = oldExpiry;
        old.updatedAt = now;
      }
      if (grace === 0 && !old.expiryRecordedAt) {
        old.expiryRecordedAt = now;
        events.push(keyEvent('KEY_EXPIRED', actor, old, { reason: 'rotated' }));
      }
      return {
        result: { key: toView(created.entity), secret: created.secret },
        events,
        changed: [{ keyId: old.id, digest: old.digest, merchantId: old.merchantId, status: grace === 0 ? 'EXPIRED' : old.status }, announced(created.entity)],
      };
    });
  }

  /** One status change of one key: `apply` makes it (key-status.ts) and returns the event type, or null when nothing changed. */
  private async transition(
    actor: Actor,
    id: string,
    operation: string,
    reason: string | null | undefined,
    apply: (entity: ApiKeyEntity, now: Date) => AuditEventType | null,
  ): Promise<ApiKeyView> {
    const problems = reasonProblems(reason);
    if (problems.length > 0) throw new BadUserInputError(problems);
    return this.transaction.commitWithEvents(async (em) => {
      const entity = await this.load(em, actor, id, operation);
      const now = new Date();
      const type = apply(entity, now);
      if (!type) return { result: toView(entity), events: [] };
      return {
        result: toView(entity),
        events: [keyEvent(type, actor, entity, { reason: reason ?? null })],
        changed: [changeOf(entity)],
      };
    });
  }

  private async load(em: Em, actor: Actor, id: string, operation: string): Promise<ApiKeyEntity> {
    const entity = isKeyId(id) ? await em.findOne(ApiKeyEntity, { id }) : null;
    if (!entity) throw new NotFoundError();
    this.policy.requireMerchant(actor, entity.merchantId, operation);
    return entity;
  }
}

function rotatedCredits(old: ApiKeyEntity, now: number): StoredCredits | null {
  const stored = storedCreditsOfEntity(old);
  return stored ? { ...stored, ...creditsAt(stored, now) } : null;
}
