import type { FilterQuery } from '@mikro-orm/core';
import { BadUserInputError } from '../errors.js';
import { isEventId } from '../protocol.js';
import type { AuditEventEntity } from './audit-event.entity.js';
import { AuditEventType, type AuditEventRecord } from './event-types.js';

/**
 * Which events a reader wants, after tenancy has been applied: `merchantId` is the
 * merchant the reader is confined to (or asked for), null meaning every merchant.
 * The same selector drives the SQL of a page and the in-memory match of a live event,
 * so a resumed feed and a live feed can never disagree about what belongs in it.
 */
export interface EventSelector {
  types: ReadonlySet<AuditEventType> | null;
  keyId: string | null;
  merchantId: string | null;
  /** Inclusive lower bound on occurredAt. */
  from?: Date | null;
  /** Exclusive upper bound on occurredAt. */
  to?: Date | null;
}

const ALL_TYPES = new Set<string>(Object.values(AuditEventType));

/** Parses an event id given as a cursor or `after`; anything else is the caller's mistake. */
export function parseEventId(value: string, name = 'after'): string {
  if (!isEventId(value)) {
    throw BadUserInputError.at(name, `${name} must be an audit event id (a decimal integer).`);
  }
  return value;
}

/** The event types asked for; `field` is where the list sits in the caller's arguments. */
export function typesOf(types: readonly string[] | null | undefined, field = 'types'): ReadonlySet<AuditEventType> | null {
  if (!types || types.length === 0) return null;
  for (const type of types) {
    if (!ALL_TYPES.has(type)) throw BadUserInputError.at(field, `Unknown audit event type ${String(type).slice(0, 40)}.`);
  }
  return new Set(types as AuditEventType[]);
}

/** True when a stored event is one the selector asks for. */
export function matches(selector: EventSelector, event: AuditEventRecord): boolean {
  if (selector.merchantId !== null && event.merchantId !== selector.merchantId) return false;
  if (selector.keyId !== null && event.keyId !== selector.keyId) return false;
  if (selector.types !== null && !selector.types.has(event.type)) return false;
  if (selector.from && event.occurredAt < selector.from) return false;
  if (selector.to && event.occurredAt >= selector.to) return false;
  return true;
}

/** The selector as a MikroORM condition. */
export function whereOf(selector: EventSelector): FilterQuery<AuditEventEntity> {
  const where: Record<string, unknown> = {};
  if (selector.merchantId !== null) where.merchantId = selector.merchantId;
  if (selector.keyId !== null) where.keyId = selector.keyId;
  if (selector.types !== null) where.type = { $in: [...selector.types] };
  if (selector.from || selector.to) {
    where.occurredAt = { ...(selector.from ? { $gte: selector.from } : {}), ...(selector.to ? { $lt: selector.to } : {}) };
  }
  return where as FilterQuery<AuditEventEntity>;
}
