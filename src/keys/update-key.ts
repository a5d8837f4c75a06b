import { isDeepStrictEqual } from 'node:util';
import type { InputProblem } from '../errors.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import { creditsProblems, storedCreditsOf, type CreditsRequest, type StoredCredits } from './credits.js';
import { checkAllowedIps } from './ip-allowlist.js';
import { creditColumns, recordGrant } from './key-record.js';
import { within } from '../errors.js';
import type { ScopeCatalogue } from './scopes.js';
import { expiresAtProblems, metadataProblems, nameProblems, rateLimitProblems, scopeProblems } from './validation.js';

/**
 * A change to a key, as any front end (GraphQL, CLI) hands it over: a field left out
 * (undefined) stays as it is; null clears `metadata`, `expiresAt`, `allowedIps` (any address)
 * and `credits` (unlimited).
 */
export interface UpdateKeyRequest {
  name?: string | null;
  metadata?: Record<string, unknown> | null;
  scopes?: readonly string[] | null;
  rateLimit?: { limit: number; windowSeconds: number } | null;
  expiresAt?: Date | null;
  allowedIps?: readonly string[] | null;
  credits?: CreditsRequest | null;
}

/** A checked change: each field present is the key's new value (names trimmed, scopes and addresses de-duplicated, addresses normalised). */
export interface KeyUpdate {
  name?: string;
  metadata?: Record<string, unknown> | null;
  scopes?: string[];
  rateLimit?: { limit: number; windowSeconds: number };
  expiresAt?: Date | null;
  allowedIps?: string[];
  /** The key's credits set anew, as stored at the update (null: unlimited). */
  credits?: StoredCredits | null;
}

/** The fields updateKey can change, in the order KEY_UPDATED names them. */
export type UpdatableField = keyof KeyUpdate;

/** Checks every field of the request and returns every problem (paths relative to the request). */
export function validateUpdateKey(input: UpdateKeyRequest, catalogue: ScopeCatalogue, now = new Date(), creditsNow = now.getTime()): { value: KeyUpdate; problems: InputProblem[] } {
  const problems: InputProblem[] = [];
  const value: KeyUpdate = {};
  const required = (field: string) => problems.push({ field, message: `${field} cannot be cleared; leave it out to keep it.` });
  if (input.name === null) required('name');
  else if (input.name !== undefined) {
    problems.push(...nameProblems(input.name));
    if (typeof input.name === 'string') value.name = input.name.trim();
  }
  if (input.metadata !== undefined) {
    problems.push(...metadataProblems(input.metadata));
    value.metadata = input.metadata;
  }
  if (input.scopes === null) required('scopes');
  else if (input.scopes !== undefined) {
    if (!Array.isArray(input.scopes)) problems.push({ field: 'scopes', message: 'scopes must be a list.' });
    value.scopes = Array.isArray(input.scopes) ? [...new Set(input.scopes)] : [];
    problems.push(...scopeProblems(value.scopes, catalogue));
  }
  if (input.rateLimit === null) required('rateLimit');
  else if (input.rateLimit !== undefined) {
    problems.push(...rateLimitProblems(input.rateLimit));
    value.rateLimit = { limit: input.rateLimit.limit, windowSeconds: input.rateLimit.windowSeconds };
  }
  if (input.expiresAt !== undefined) {
    problems.push(...expiresAtProblems(input.expiresAt, now));
    value.expiresAt = input.expiresAt;
  }
  if (input.allowedIps !== undefined) {
    const checked = input.allowedIps === null ? { value: [], problems: [] } : checkAllowedIps(input.allowedIps);
    problems.push(...checked.problems);
    value.allowedIps = checked.value;
  }
  if (input.credits === null) value.credits = null;
  else if (input.credits !== undefined) {
    const creditProblems = creditsProblems(input.credits);
    problems.push(...within('credits', creditProblems));
    if (creditProblems.length === 0) value.credits = storedCreditsOf(input.credits, creditsNow);
  }
  return { value, problems };
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && new Set([...a, ...b]).size === a.length;

/**
 * Which fields of `update` differ from the key as stored (never their values). Credits given
 * are always a change: the stored count lags the live one, and setting them sets the live count.
 */
export function changedFields(entity: ApiKeyEntity, update: KeyUpdate): UpdatableField[] {
  const changed: UpdatableField[] = [];
  if (update.name !== undefined && update.name !== entity.name) changed.push('name');
  if (update.metadata !== undefined && !isDeepStrictEqual(update.metadata, entity.metadata ?? null)) changed.push('metadata');
  if (update.scopes && !sameSet(update.scopes, entity.scopes)) changed.push('scopes');
  if (update.rateLimit && (update.rateLimit.limit !== entity.rateLimit || update.rateLimit.windowSeconds !== entity.rateWindowSeconds)) changed.push('rateLimit');
  if (update.expiresAt !== undefined && (update.expiresAt?.getTime() ?? null) !== (entity.expiresAt?.getTime() ?? null)) changed.push('expiresAt');
  if (update.allowedIps && !sameSet(update.allowedIps, entity.allowedIps ?? [])) changed.push('allowedIps');
  if (update.credits !== undefined && (update.credits !== null || entity.creditsRemaining != null)) changed.push('credits');
  return changed;
}

/** Writes the changed fields onto the entity. */
export function applyUpdate(entity: ApiKeyEntity, update: KeyUpdate, changed: readonly UpdatableField[], now: Date): void {
  for (const field of changed) {
    if (field === 'rateLimit') {
      entity.rateLimit = update.rateLimit!.limit;
      entity.rateWindowSeconds = update.rateLimit!.windowSeconds;
    } else if (field === 'scopes') entity.scopes = [...update.scopes!];
    else if (field === 'allowedIps') entity.allowedIps = [...update.allowedIps!];
    else if (field === 'name') entity.name = update.name!;
    else if (field === 'metadata') entity.metadata = update.metadata ?? null;
    else if (field === 'credits') {
      const credits = update.credits ?? null;
      Object.assign(entity, creditColumns(credits));
      // Credits set anew are a new grant.
      if (credits) recordGrant(entity, credits.grant?.granted ?? null);
    }
    else {
      entity.expiresAt = update.expiresAt ?? null;
      // A new expiry earns a new KEY_EXPIRING notice (the sweeper sends one per expiry).
      entity.expiryNoticeAt = null;
    }
  }
  entity.updatedAt = now;
}
