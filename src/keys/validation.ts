import { clientKeyScopeProblems } from '../auth/minting-bounds.js';
import type { KeyEnvironment, KeyType } from './key-material.js';
import type { ScopeCatalogue } from './scopes.js';

export const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_FORBIDDEN = /[<>]/;
/** The one character no text column of PostgreSQL can hold; refused alike on every backend. */
const NUL = '\u0000';
/** Key ids are `key_` and 24 base62 characters; anything outside this shape names no key. */
const KEY_ID = /^[A-Za-z0-9_-]{1,40}$/;
export const KEY_TYPES: readonly KeyType[] = ['SECRET', 'PUBLIC', 'TOKENIZATION'];
export const KEY_ENVIRONMENTS: readonly KeyEnvironment[] = ['LIVE', 'TEST'];
export const RATE_LIMIT_MAX = 100_000;
export const RATE_WINDOW_MAX = 86_400;
export const REASON_MAX = 500;

/** A request to create a key, as any front end (GraphQL, CLI) hands it over. */
export interface CreateKeyRequest {
  merchantId?: string | null;
  name: string;
  type: string;
  environment?: string | null;
  scopes: readonly string[];
  expiresAt?: Date | null;
  rateLimit?: { limit: number; windowSeconds: number } | null;
}

export interface ValidCreateKey {
  merchantId: string | null;
  name: string;
  type: KeyType;
  environment: KeyEnvironment;
  scopes: string[];
  expiresAt: Date | null;
  rateLimit: { limit: number; windowSeconds: number } | null;
}

export function merchantIdProblem(mid: unknown): string | null {
  return typeof mid === 'string' && MERCHANT_ID.test(mid) ? null : 'merchantId must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -.';
}

export function isKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID.test(id);
}

export function nameProblems(name: unknown): string[] {
  if (typeof name !== 'string') return ['name is required.'];
  const problems: string[] = [];
  const length = [...name].length;
  if (name.trim().length === 0) problems.push('name must not be empty.');
  else if (length > 100) problems.push('name must be at most 100 characters.');
  if (NAME_FORBIDDEN.test(name)) problems.push('name must not contain < or >.');
  if (name.includes(NUL)) problems.push('name must not contain NUL characters.');
  return problems;
}

export function scopeProblems(scopes: readonly string[], catalogue: ScopeCatalogue): string[] {
  return scopes.some((scope) => !catalogue.has(scope)) ? ['Invalid scope value.'] : [];
}

export function rateLimitProblems(rateLimit: { limit: unknown; windowSeconds: unknown } | null | undefined): string[] {
  if (!rateLimit) return [];
  const problems: string[] = [];
  const { limit, windowSeconds } = rateLimit;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > RATE_LIMIT_MAX) {
    problems.push(`rateLimit.limit must be an integer from 1 to ${RATE_LIMIT_MAX}.`);
  }
  if (!Number.isInteger(windowSeconds) || (windowSeconds as number) < 1 || (windowSeconds as number) > RATE_WINDOW_MAX) {
    problems.push(`rateLimit.windowSeconds must be an integer from 1 to ${RATE_WINDOW_MAX}.`);
  }
  return problems;
}

export function reasonProblems(reason: string | null | undefined): string[] {
  if (reason == null) return [];
  const problems: string[] = [];
  if (reason.length > REASON_MAX) problems.push(`reason must be at most ${REASON_MAX} characters.`);
  if (NAME_FORBIDDEN.test(reason)) problems.push('reason must not contain < or >.');
  if (reason.includes(NUL)) problems.push('reason must not contain NUL characters.');
  return problems;
}

/** Checks every field and returns every problem, not just the first. */
export function validateCreateKey(
  input: CreateKeyRequest,
  catalogue: ScopeCatalogue,
  now = new Date(),
): { ok: true; value: ValidCreateKey } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (input.merchantId != null) {
    const problem = merchantIdProblem(input.merchantId);
    if (problem) problems.push(problem);
  }
  problems.push(...nameProblems(input.name));
  const type = String(input.type).toUpperCase() as KeyType;
  if (!KEY_TYPES.includes(type)) problems.push(`type must be one of ${KEY_TYPES.join(', ')}.`);
  const environment = String(input.environment ?? 'TEST').toUpperCase() as KeyEnvironment;
  if (!KEY_ENVIRONMENTS.includes(environment)) problems.push(`environment must be one of ${KEY_ENVIRONMENTS.join(', ')}.`);
  if (!Array.isArray(input.scopes)) problems.push('scopes must be a list.');
  const scopes = Array.isArray(input.scopes) ? [...new Set(input.scopes)] : [];
  problems.push(...scopeProblems(scopes, catalogue));
  if (KEY_TYPES.includes(type)) problems.push(...clientKeyScopeProblems(type, scopes));
  if (input.expiresAt != null) {
    if (!(input.expiresAt instanceof Date) || Number.isNaN(input.expiresAt.getTime())) problems.push('expiresAt must be a date-time.');
    else if (input.expiresAt.getTime() <= now.getTime()) problems.push('expiresAt must be in the future.');
  }
  problems.push(...rateLimitProblems(input.rateLimit));
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      merchantId: input.merchantId ?? null,
      name: input.name.trim(),
      type,
      environment,
      scopes,
      expiresAt: input.expiresAt ?? null,
      rateLimit: input.rateLimit ? { limit: input.rateLimit.limit, windowSeconds: input.rateLimit.windowSeconds } : null,
    },
  };
}
