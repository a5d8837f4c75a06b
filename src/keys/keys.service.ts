import type { FilterQuery } from '@mikro-orm/core';
import type { Actor } from '../auth/principal.js';
import type { EventBus } from '../audit/event-bus.js';
import type { AuditEventType, NewAuditEvent } from '../audit/event-types.js';
import type { Ledger } from '../audit/ledger.js';
import type { Database, Em } from '../db/orm.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../db/page.js';
import { BadUserInputError, ForbiddenError, NotFoundError, within } from '../errors.js';
import { ApiKeyEntity, type KeyStatus } from './api-key.entity.js';
import { digestKey, generateKey, prefixOf, randomId, type KeyEnvironment, type KeyType } from './key-material.js';
import { isExpired, toView, type ApiKeyView } from './key-record.js';
import { ADMIN_SCOPE, grants, type ScopeCatalogue } from './scopes.js';
import { isKeyId, merchantIdProblem, reasonProblems, validateCreateKey, type CreateKeyRequest } from './validation.js';

export interface KeysServiceOptions {
  defaultRateLimit: number;
  defaultRateWindowSeconds: number;
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

/** Merchant id of the keys the operator's first key belongs to. */
export const PLATFORM_MERCHANT = 'platform';

/**
 * The key lifecycle: create, read, list, disable, enable, revoke, rotate and expire, with
 * tenancy and scope rules, each change written together with its ledger event.
 * It knows nothing of GraphQL or HTTP.
 */
export class KeysService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly bus: EventBus,
    private readonly catalogue: ScopeCatalogue,
    private readonly options: KeysServiceOptions,
  ) {}

  async create(actor: Actor, request: CreateKeyRequest): Promise<CreatedKey> {
    const checked = validateCreateKey(request, this.catalogue);
    if (!checked.ok) throw new BadUserInputError(within('input', checked.problems));
    const input = checked.value;
    const merchantId = input.merchantId ?? actor.principal?.merchantId ?? null;
    if (!merchantId) throw BadUserInputError.at('input.merchantId', 'merchantId is required.');
    this.assertMerchant(actor, merchantId, 'createKey');
    this.assertCanGrant(actor, input.scopes, 'createKey');
    return this.change(async (em) => {
      const created = this.mint(em, actor, {
        merchantId,
        name: input.name,
        type: input.type,
        environment: input.environment,
        scopes: input.scopes,
        expiresAt: input.expiresAt,
        rateLimit: input.rateLimit?.limit ?? this.options.defaultRateLimit,
        rateWindowSeconds: input.rateLimit?.windowSeconds ?? this.options.defaultRateWindowSeconds,
      });
      return {
        result: { key: toView(created.entity), secret: created.secret },
        events: [this.event('KEY_CREATED', actor, created.entity)],
        changed: [announced(created.entity)],
      };
    });
  }

  /** The key with this id, or null; another merchant's key is refused. */
  async get(actor: Actor, id: string): Promise<ApiKeyView | null> {
    if (!isKeyId(id)) return null;
    const entity = await this.db.fork().findOne(ApiKeyEntity, { id });
    if (!entity) return null;
    this.assertMerchant(actor, entity.merchantId, 'apiKey');
    return toView(entity);
  }

  async list(actor: Actor, filter: KeyFilter, first: number | null | undefined, after: string | null | undefined): Promise<Page<ApiKeyView>> {
    const size = pageSize(first, 20);
    const principal = actor.principal;
    let merchantId = filter.merchantId ?? null;
    if (merchantId != null) {
      const problem = merchantIdProblem(merchantId);
      if (problem) throw new BadUserInputError([problem]);
      this.assertMerchant(actor, merchantId, 'apiKeys');
    } else if (principal && !principal.admin) {
      merchantId = principal.merchantId;
    }
    const where: FilterQuery<ApiKeyEntity> = {};
    if (merchantId) where.merchantId = merchantId;
    if (filter.status) where.status = filter.status;
    if (filter.type) where.type = filter.type;
    if (filter.environment) where.environment = filter.environment;
    const em = this.db.fork();
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
      if (entity.status === 'DISABLED') return null;
      entity.status = 'DISABLED';
      entity.disabledAt = now;
      entity.statusReason = reason ?? null;
      return 'KEY_DISABLED';
    });
  }

  enable(actor: Actor, id: string): Promise<ApiKeyView> {
    return this.transition(actor, id, 'enableKey', null, (entity) => {
      if (entity.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be enabled.');
      if (entity.status === 'ACTIVE') return null;
      entity.status = 'ACTIVE';
      entity.disabledAt = null;
      entity.statusReason = null;
      return 'KEY_ENABLED';
    });
  }

  revoke(actor: Actor, id: string, reason?: string | null): Promise<ApiKeyView> {
    return this.transition(actor, id, 'revokeKey', reason, (entity, now) => {
      if (entity.status === 'REVOKED') return null;
      entity.status = 'REVOKED';
      entity.revokedAt = now;
      entity.statusReason = reason ?? null;
      return 'KEY_REVOKED';
    });
  }

  /** A new key like the old one; the old one expires after `expireOldAfterSeconds`. */
  async rotate(actor: Actor, id: string, expireOldAfterSeconds: number | null | undefined): Promise<CreatedKey> {
    const grace = expireOldAfterSeconds ?? 0;
    if (!Number.isInteger(grace) || grace < 0 || grace > 30 * 86_400) {
      throw BadUserInputError.at('expireOldAfterSeconds', 'expireOldAfterSeconds must be an integer from 0 to 2592000 (30 days).');
    }
    return this.change(async (em) => {
      const old = await this.load(em, actor, id, 'rotateKey');
      if (old.status === 'REVOKED') throw BadUserInputError.at('id', 'A revoked key cannot be rotated.');
      this.assertCanGrant(actor, old.scopes, 'rotateKey');
      const now = new Date();
      const oldExpiry = new Date(now.getTime() + grace * 1000);
      const created = this.mint(em, actor, {
        merchantId: old.merchantId,
        name: old.name,
        type: old.type,
        environment: old.environment,
        scopes: old.scopes,
        expiresAt: old.expiresAt && old.expiresAt > now ? old.expiresAt : null,
        rateLimit: old.rateLimit,
        rateWindowSeconds: old.rateWindowSeconds,
        rotatedFromId: old.id,
      });
      const events = [this.event('KEY_CREATED', actor, created.entity, { metadata: { rotatedFromId: old.id } })];
      events.push(this.event('KEY_ROTATED', actor, old, { metadata: { newKeyId: created.entity.id, expireOldAfterSeconds: grace } }));
      if (!old.expiresAt || old.expiresAt > oldExpiry) {
        old.expiresAt = oldExpiry;
        old.updatedAt = now;
      }
      if (grace === 0 && !old.expiryRecordedAt) {
        old.expiryRecordedAt = now;
        events.push(this.event('KEY_EXPIRED', actor, old, { reason: 'rotated' }));
      }
      return {
        result: { key: toView(created.entity), secret: created.secret },
        events,
        changed: [{ keyId: old.id, digest: old.digest, status: grace === 0 ? 'EXPIRED' : old.status }, announced(created.entity)],
      };
    });
  }

  /** Writes KEY_EXPIRED once for each key whose expiry has passed; returns how many. */
  async recordExpiries(limit = 500): Promise<number> {
    const now = new Date();
    const dueWhere = { expiresAt: { $lte: now }, expiryRecordedAt: null };
    // Every instance sweeps several times a second and nearly every sweep finds nothing: ask
    // first, outside a transaction and without the ledger lock.
    if (!(await this.db.fork().findOne(ApiKeyEntity, dueWhere, { fields: ['id'] }))) return 0;
    return this.change(async (em) => {
      const due = await em.find(ApiKeyEntity, dueWhere, { limit, orderBy: { expiresAt: 'asc' } });
      // Claimed row by row with a conditional update: with several instances (or processes on
      // one file) sweeping at once, only the one that set expiry_recorded_at writes the event.
      const claimed: ApiKeyEntity[] = [];
      for (const entity of due) {
        if ((await em.nativeUpdate(ApiKeyEntity, { id: entity.id, expiryRecordedAt: null }, { expiryRecordedAt: now })) === 1) {
          claimed.push(entity);
        }
      }
      return {
        result: claimed.length,
        events: claimed.map((entity) => this.event('KEY_EXPIRED', { principal: null }, entity, { reason: 'expired' })),
        changed: claimed.map((entity) => ({ keyId: entity.id, digest: entity.digest, status: 'EXPIRED' as const })),
      };
    });
  }

  /** On an empty database, creates the operator's admin key and returns its value; otherwise null. */
  async ensureAdminKey(): Promise<string | null> {
    const em = this.db.fork();
    if ((await em.count(ApiKeyEntity, {})) > 0) return null;
    const created = await this.change(async (tx) => {
      if ((await tx.count(ApiKeyEntity, {})) > 0) return { result: null, events: [] };
      const minted = this.mint(tx, { principal: null }, {
        merchantId: PLATFORM_MERCHANT,
        name: 'Admin key',
        type: 'SECRET',
        environment: 'LIVE',
        scopes: [ADMIN_SCOPE],
        expiresAt: null,
        rateLimit: this.options.defaultRateLimit,
        rateWindowSeconds: this.options.defaultRateWindowSeconds,
      });
      return {
        result: minted.secret,
        events: [this.event('KEY_CREATED', { principal: null }, minted.entity, { reason: 'first start' })],
        changed: [announced(minted.entity)],
      };
    });
    return created;
  }

  // ---- internals ----

  private mint(
    em: Em,
    actor: Actor,
    fields: Pick<ApiKeyEntity, 'merchantId' | 'name' | 'type' | 'environment' | 'scopes' | 'rateLimit' | 'rateWindowSeconds'> & {
      expiresAt: Date | null;
      rotatedFromId?: string;
    },
  ): { entity: ApiKeyEntity; secret: string } {
    const secret = generateKey(fields.type, fields.environment);
    const now = new Date();
    const entity = em.create(ApiKeyEntity, {
      id: randomId('key'),
      ...fields,
      scopes: [...fields.scopes],
      prefix: prefixOf(fields.type, fields.environment),
      last4: secret.slice(-4),
      digest: digestKey(secret),
      value: fields.type === 'SECRET' ? null : secret,
      createdAt: now,
      updatedAt: now,
      createdById: actor.principal?.keyId ?? null,
      rotatedFromId: fields.rotatedFromId ?? null,
    });
    em.persist(entity);
    return { entity, secret };
  }

  private async transition(
    actor: Actor,
    id: string,
    operation: string,
    reason: string | null | undefined,
    apply: (entity: ApiKeyEntity, now: Date) => AuditEventType | null,
  ): Promise<ApiKeyView> {
    const problems = reasonProblems(reason);
    if (problems.length > 0) throw new BadUserInputError(problems);
    return this.change(async (em) => {
      const entity = await this.load(em, actor, id, operation);
      const now = new Date();
      const type = apply(entity, now);
      if (!type) return { result: toView(entity), events: [] };
      entity.updatedAt = now;
      return {
        result: toView(entity),
        events: [this.event(type, actor, entity, { reason: reason ?? null })],
        changed: [{ keyId: entity.id, digest: entity.digest, status: isExpired(entity) ? 'EXPIRED' : entity.status }],
      };
    });
  }

  private async load(em: Em, actor: Actor, id: string, operation: string): Promise<ApiKeyEntity> {
    const entity = isKeyId(id) ? await em.findOne(ApiKeyEntity, { id }) : null;
    if (!entity) throw new NotFoundError();
    this.assertMerchant(actor, entity.merchantId, operation);
    return entity;
  }

  /**
   * Runs a change and its ledger events in one transaction; after commit, publishes the
   * events and tells every cache and socket about changed keys.
   */
  private async change<T>(
    work: (em: Em) => Promise<{ result: T; events: NewAuditEvent[]; changed?: Array<{ keyId: string; digest: string; status: KeyStatus | 'EXPIRED' }> }>,
  ): Promise<T> {
    const { result, staged, changed } = await this.db.fork().transactional(async (em) => {
      // Before any read or write: event ids commit in id order across instances, two first
      // starts cannot both see an empty table, and no row lock is held while waiting for it.
      await this.db.lockLedger(em);
      const outcome = await work(em);
      const staged = this.ledger.stage(em, outcome.events);
      await em.flush();
      return { result: outcome.result, staged, changed: outcome.changed ?? [] };
    });
    const told = changed.map((change) => this.bus.publishKeyChange(change));
    this.ledger.published(staged);
    // Answered once other instances are being told too: the caller's next request anywhere sees the change.
    await Promise.all(told);
    return result;
  }

  private event(type: AuditEventType, actor: Actor, entity: ApiKeyEntity, extra: Partial<NewAuditEvent> = {}): NewAuditEvent {
    const metadata = actor.metadata || extra.metadata ? { ...actor.metadata, ...extra.metadata } : null;
    return {
      type,
      merchantId: entity.merchantId,
      keyId: entity.id,
      actorKeyId: actor.principal?.keyId ?? null,
      requestId: actor.requestId ?? null,
      operationName: actor.operationName ?? null,
      ip: actor.ip ?? null,
      ...extra,
      metadata,
    };
  }

  /** A non-admin key acts for its own merchant only; anything else is refused and recorded. */
  assertMerchant(actor: Actor, merchantId: string, operation: string): void {
    const principal = actor.principal;
    if (!principal || principal.admin || principal.merchantId === merchantId) return;
    this.deny(actor, operation, 'another merchant', { targetMerchantId: merchantId });
  }

  /** A key can only grant scopes it holds itself; `admin` grants anything. */
  private assertCanGrant(actor: Actor, scopes: readonly string[], operation: string): void {
    const principal = actor.principal;
    if (!principal || principal.admin) return;
    const missing = scopes.filter((scope) => !grants(principal.scopes, scope));
    if (missing.length > 0) this.deny(actor, operation, 'scope escalation', { scopes: missing });
  }

  /** Records ACCESS_DENIED and throws FORBIDDEN. */
  deny(actor: Actor, operation: string, reason: string, metadata: Record<string, unknown> = {}): never {
    const principal = actor.principal;
    this.ledger.append({
      type: 'ACCESS_DENIED',
      merchantId: principal?.merchantId ?? null,
      keyId: principal?.keyId ?? null,
      actorKeyId: principal?.keyId ?? null,
      requestId: actor.requestId ?? null,
      operationName: actor.operationName ?? operation,
      ip: actor.ip ?? null,
      reason,
      metadata: { operation, ...metadata },
    });
    throw new ForbiddenError();
  }
}

/** A new key, told to every instance like any change: their sets of known digests learn it before the minting request answers. */
function announced(entity: ApiKeyEntity): { keyId: string; digest: string; status: 'ACTIVE' } {
  return { keyId: entity.id, digest: entity.digest, status: 'ACTIVE' };
}
