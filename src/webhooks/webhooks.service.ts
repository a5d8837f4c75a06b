import type { FilterQuery } from '@mikro-orm/core';
import type { AccessPolicy } from '../auth/access-policy.js';
import type { Actor } from '../auth/principal.js';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import { typesOf } from '../audit/event-filter.js';
import type { Em } from '../db/orm.js';
import { decodeCursor, encodeCursor, pageSize, type Page } from '../db/page.js';
import { BadUserInputError, NotFoundError, within, type InputProblem } from '../errors.js';
import { randomId } from '../keys/key-material.js';
import type { KeyTransaction } from '../keys/key-transaction.js';
import { reasonProblems } from '../keys/validation.js';
import type { TargetGuard } from './target-guard.js';
import { generateSigningSecret, type SecretBox } from './webhook-secret.js';
import { toDeliveryView, toWebhookView, type DeliveryView, type WebhookView } from './webhook-view.js';
import { WebhookDeliveryEntity, WebhookEntity } from './webhook.entity.js';

/** At most this many endpoints per merchant (and for the admins' every-merchant endpoints together). */
export const MAX_WEBHOOKS_PER_MERCHANT = 10;

const WEBHOOK_ID = /^wh_[0-9A-Za-z]{24}$/;

export interface CreateWebhookRequest {
  merchantId?: string | null;
  url: string;
  types: readonly string[];
  description?: string | null;
}

export interface UpdateWebhookRequest {
  url?: string | null;
  types?: readonly string[] | null;
  enabled?: boolean | null;
  description?: string | null;
}

export interface CreatedWebhook {
  webhook: WebhookView;
  /** `whsec_…`, returned once; stored encrypted (SecretBox). */
  secret: string;
}

/**
 * Webhook endpoints: create, update, delete, list, and their delivery attempts. Tenancy is the
 * access policy's (like keys: a merchant's own endpoints; an admin's `merchantId: null`
 * endpoint receives every merchant's events). No GraphQL here.
 */
export class WebhooksService {
  constructor(
    private readonly transaction: KeyTransaction,
    private readonly policy: AccessPolicy,
    private readonly guard: TargetGuard,
    private readonly box: SecretBox,
  ) {}

  async create(actor: Actor, input: CreateWebhookRequest): Promise<CreatedWebhook> {
    const merchantId = this.policy.scopeQuery(actor, input.merchantId, 'createWebhook', 'input.merchantId');
    const problems = [...(await this.urlProblems(input.url)), ...typeProblems(input.types), ...reasonProblems(input.description, 'description')];
    if (problems.length > 0) throw new BadUserInputError(within('input', problems));
    const types = [...typesOf(input.types)!];
    const secret = generateSigningSecret();
    return this.transaction.commitWithEvents(async (em) => {
      // Counted under the ledger's lock, which every such write takes first: two creates cannot both see room for one.
      if ((await em.count(WebhookEntity, { merchantId })) >= MAX_WEBHOOKS_PER_MERCHANT) {
        throw BadUserInputError.at('input.merchantId', `A merchant has at most ${MAX_WEBHOOKS_PER_MERCHANT} webhook endpoints.`);
      }
      // Under the same lock no event commits meanwhile: the endpoint receives exactly the events after this one.
      const [newest] = await em.find(AuditEventEntity, {}, { orderBy: { id: 'desc' }, fields: ['id'], limit: 1 });
      const id = randomId('wh');
      const now = new Date();
      const entity = em.create(WebhookEntity, {
        id,
        merchantId,
        url: input.url,
        types,
        description: input.description ?? null,
        secretCipher: this.box.seal(secret, id),
        createdAt: now,
        updatedAt: now,
        cursorEventId: newest ? String(newest.id) : '0',
      });
      return { result: { webhook: toWebhookView(entity), secret }, events: [] };
    });
  }

  async update(actor: Actor, id: string, input: UpdateWebhookRequest): Promise<WebhookView> {
    const problems: InputProblem[] = [];
    if (input.url === null) problems.push({ field: 'url', message: 'url cannot be null.' });
    else if (input.url !== undefined) problems.push(...(await this.urlProblems(input.url)));
    if (input.types === null) problems.push({ field: 'types', message: 'types cannot be null.' });
    else if (input.types !== undefined) problems.push(...typeProblems(input.types));
    problems.push(...reasonProblems(input.description, 'description'));
    if (problems.length > 0) throw new BadUserInputError(within('input', problems));
    return this.transaction.commitWithEvents(async (em) => {
      const entity = await this.load(em, actor, id, 'updateWebhook');
      if (input.url != null) entity.url = input.url;
      if (input.types != null) entity.types = [...typesOf(input.types)!];
      if (input.description !== undefined) entity.description = input.description;
      if (input.enabled === false) entity.status = 'DISABLED';
      if (input.enabled === true && entity.status === 'DISABLED') {
        // Resumes after the last acknowledged event, with a fresh failure clock.
        entity.status = 'ACTIVE';
        entity.attempts = 0;
        entity.failingSince = null;
        entity.nextAttemptAt = null;
      }
      entity.updatedAt = new Date();
      return { result: toWebhookView(entity), events: [] };
    });
  }

  async delete(actor: Actor, id: string): Promise<boolean> {
    return this.transaction.commitWithEvents(async (em) => {
      const entity = await this.load(em, actor, id, 'deleteWebhook');
      await em.nativeDelete(WebhookDeliveryEntity, { webhookId: entity.id });
      em.remove(entity);
      return { result: true, events: [] };
    });
  }

  async list(actor: Actor, merchantId: string | null | undefined, first: number | null | undefined, after: string | null | undefined): Promise<Page<WebhookView>> {
    const size = pageSize(first, 20);
    const confined = this.policy.scopeQuery(actor, merchantId, 'webhooks');
    const where: FilterQuery<WebhookEntity> = confined === null ? {} : { merchantId: confined };
    let pageWhere: FilterQuery<WebhookEntity> = where;
    if (after != null) {
      const [ms, id] = decodeCursor('w', after, ['integer', 'string']);
      const at = new Date(ms);
      pageWhere = { $and: [where, { $or: [{ createdAt: { $lt: at } }, { createdAt: at, id: { $lt: id } }] }] };
    }
    const em = this.transaction.reader();
    const totalCount = await em.count(WebhookEntity, where);
    const rows = await em.find(WebhookEntity, pageWhere, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 });
    return {
      items: rows.slice(0, size).map((entity) => ({ cursor: encodeCursor('w', [entity.createdAt.getTime(), entity.id]), node: toWebhookView(entity) })),
      hasNextPage: rows.length > size,
      totalCount,
    };
  }

  /** Delivery attempts of an endpoint the caller has already been allowed to see, newest first. */
  async deliveries(webhookId: string, first: number | null | undefined, after: string | null | undefined): Promise<Page<DeliveryView>> {
    const size = pageSize(first, 20);
    const where: FilterQuery<WebhookDeliveryEntity> = { webhookId };
    const pageWhere =
      after == null ? where : ({ $and: [where, { id: { $lt: String(decodeCursor('d', after, ['integer'])[0]) } }] } as FilterQuery<WebhookDeliveryEntity>);
    const em = this.transaction.reader();
    const totalCount = await em.count(WebhookDeliveryEntity, where);
    const rows = await em.find(WebhookDeliveryEntity, pageWhere, { orderBy: { id: 'desc' }, limit: size + 1 });
    return {
      items: rows.slice(0, size).map((entity) => ({ cursor: encodeCursor('d', [Number(entity.id)]), node: toDeliveryView(entity) })),
      hasNextPage: rows.length > size,
      totalCount,
    };
  }

  private async urlProblems(url: unknown): Promise<InputProblem[]> {
    if (typeof url !== 'string') return [{ field: 'url', message: 'url is required.' }];
    return this.guard.problems(url);
  }

  private async load(em: Em, actor: Actor, id: string, operation: string): Promise<WebhookEntity> {
    const entity = WEBHOOK_ID.test(id) ? await em.findOne(WebhookEntity, { id }) : null;
    if (!entity) throw new NotFoundError('Webhook');
    this.policy.requireOwner(actor, entity.merchantId ?? null, operation);
    return entity;
  }
}

function typeProblems(types: readonly string[]): InputProblem[] {
  if (!Array.isArray(types) || types.length === 0) return [{ field: 'types', message: 'types must name at least one audit event type.' }];
  try {
    typesOf(types);
    return [];
  } catch (error) {
    return [{ field: 'types', message: (error as BadUserInputError).message }];
  }
}
