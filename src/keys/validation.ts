import { clientKeyScopeProblems } from '../auth/minting-bounds.js';
import { within, type InputProblem } from '../errors.js';
import { creditsProblems, type CreditsRequest } from './credits.js';
import { checkAllowedIps } from './ip-allowlist.js';
import type { KeyEnvironment, KeyType } from './key-material.js';
import type { ScopeCatalogue } from './scopes.js';

export const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_FORBIDDEN = /[<>]/;
/** The one character no text column of PostgreSQL can hold; refused alike on every backend. */
const NUL = '\u0000';
/**
 * Characters that change how text is shown rather than what it says: C0 and C1 controls
 * (terminal escapes start with them), bidi overrides and isolates, and zero-width characters
 * (`SHOWN_DIFFERENTLY` is all but the C0 controls; the CLI escapes the same set when it prints).
 * Refused in every free text (names, reasons) so an operator's terminal or dashboard shows
 * exactly what was stored.
 */
export const SHOWN_DIFFERENTLY = '\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff';
const INVISIBLE = new RegExp(`[\\u0000-\\u001f${SHOWN_DIFFERENTLY}]`, 'u');
/** Key ids are `key_` and 24 base62 characters; anything outside this shape names no key. */
const KEY_ID = /^[A-Za-z0-9_-]{1,40}$/;
export const KEY_TYPES: readonly KeyType[] = ['SECRET', 'PUBLIC', 'TOKENIZATION'];
export const KEY_ENVIRONMENTS: readonly KeyEnvironment[] = ['LIVE', 'TEST'];
export const RATE_LIMIT_MAX = 100_000;
export const RATE_WINDOW_MAX = 86_400;
export const REASON_MAX = 500;
/** A key's metadata, serialized as JSON, is at most 4 KiB (UTF-8 bytes). */
export const METADATA_MAX_BYTES = 4096;

/** A request to create a key, as any front end (GraphQL, CLI) hands it over. */
export interface CreateKeyRequest {
  merchantId?: string | null;
  name: string;
  type: string;
  environment?: string | null;
  scopes: readonly string[];
  expiresAt?: Date | null;
  rateLimit?: { limit: number; windowSeconds: number } | null;
  metadata?: Record<string, unknown> | null;
  allowedIps?: readonly string[] | null;
  /** Null or absent: unlimited. */
  credits?: CreditsRequest | null;
}

export interface ValidCreateKey {
  merchantId: string | null;
  name: string;
  type: KeyType;
  environment: KeyEnvironment;
  scopes: string[];
  expiresAt: Date | null;
  rateLimit: { limit: number; windowSeconds: number } | null;
  metadata: Record<string, unknown> | null;
  allowedIps: string[];
  credits: CreditsRequest | null;
}

// Field paths in the problems below are relative to the request (`name`, `rateLimit.limit`);
// the caller puts them under the argument that holds it (see `within`).

export function merchantIdProblem(mid: unknown, field = 'merchantId'): InputProblem | null {
  return typeof mid === 'string' && MERCHANT_ID.test(mid) ? null : { field, message: 'merchantId must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -.' };
}

export function isKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID.test(id);
}

export function nameProblems(name: unknown): InputProblem[] {
  const at = (message: string) => ({ field: 'name', message });
  if (typeof name !== 'string') return [at('name is required.')];
  const problems: InputProblem[] = [];
  const length = [...name].length;
  if (name.trim().length === 0) problems.push(at('name must not be empty.'));
  else if (length > 100) problems.push(at('name must be at most 100 characters.'));
  if (NAME_FORBIDDEN.test(name)) problems.push(at('name must not contain < or >.'));
  problems.push(...invisibleProblems('name', name));
  return problems;
}

export function scopeProblems(scopes: readonly string[], catalogue: ScopeCatalogue, field = 'scopes'): InputProblem[] {
  return scopes.some((scope) => !catalogue.has(scope)) ? [{ field, message: 'Invalid scope value.' }] : [];
}

export function rateLimitProblems(rateLimit: { limit: unknown; windowSeconds: unknown } | null | undefined): InputProblem[] {
  if (!rateLimit) return [];
  const problems: InputProblem[] = [];
  const { limit, windowSeconds } = rateLimit;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > RATE_LIMIT_MAX) {
    problems.push({ field: 'rateLimit.limit', message: `rateLimit.limit must be an integer from 1 to ${RATE_LIMIT_MAX}.` });
  }
  if (!Number.isInteger(windowSeconds) || (windowSeconds as number) < 1 || (windowSeconds as number) > RATE_WINDOW_MAX) {
    problems.push({ field: 'rateLimit.windowSeconds', message: `rateLimit.windowSeconds must be an integer from 1 to ${RATE_WINDOW_MAX}.` });
  }
  return problems;
}

/**
 * A key's metadata: a JSON object (not an array) of at most METADATA_MAX_BYTES serialized,
 * without NUL characters (PostgreSQL's jsonb cannot hold them; refused on every backend alike).
 */
export function metadataProblems(metadata: unknown, field = 'metadata'): InputProblem[] {
  if (metadata == null) return [];
  if (typeof metadata !== 'object' || Array.isArray(metadata)) return [{ field, message: `${field} must be a JSON object.` }];
  let serialized: string;
  try {
    serialized = JSON.stringify(metadata);
  } catch {
    return [{ field, message: `${field} must be a JSON object.` }];
  }
  if (Buffer.byteLength(serialized, 'utf8') > METADATA_MAX_BYTES) return [{ field, message: `${field} must be at most ${METADATA_MAX_BYTES} bytes as JSON.` }];
  if (serialized.includes('\\u0000')) return [{ field, message: `${field} must not contain NUL characters.` }];
  return [];
}

/** A date a key may be given as its expiry: a valid date in the future. */
export function expiresAtProblems(expiresAt: unknown, now: Date, field = 'expiresAt'): InputProblem[] {
  if (expiresAt == null) return [];
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) return [{ field, message: `${field} must be a date-time.` }];
  if (expiresAt.getTime() <= now.getTime()) return [{ field, message: `${field} must be in the future.` }];
  return [];
}

/** A reason, or any other optional free text (`field` names it, e.g. a webhook's description). */
export function reasonProblems(reason: string | null | undefined, field = 'reason'): InputProblem[] {
  if (reason == null) return [];
  const at = (message: string) => ({ field, message });
  const problems: InputProblem[] = [];
  if (reason.length > REASON_MAX) problems.push(at(`${field} must be at most ${REASON_MAX} characters.`));
  if (NAME_FORBIDDEN.test(reason)) problems.push(at(`${field} must not contain < or >.`));
  problems.push(...invisibleProblems(field, reason));
  return problems;
}

/** Any other free text (a leak report's url and source): at most `max` characters, and the free-text rule. */
export function freeTextProblems(field: string, text: string, max: number): InputProblem[] {
  const problems = [...text].length > max ? [{ field, message: `${field} must be at most ${max} characters.` }] : [];
  return [...problems, ...invisibleProblems(field, text)];
}

/** The free-text rule (contract §9.5); NUL keeps its own message, which clients already know. */
function invisibleProblems(field: string, text: string): InputProblem[] {
  if (text.includes(NUL)) return [{ field, message: `${field} must not contain NUL characters.` }];
  if (INVISIBLE.test(text)) return [{ field, message: `${field} must not contain control, bidi-override or zero-width characters.` }];
  return [];
}

/** Checks every field and returns every problem, not just the first. */
export function validateCreateKey(
  input: CreateKeyRequest,
  catalogue: ScopeCatalogue,
  now = new Date(),
): { ok: true; value: ValidCreateKey } | { ok: false; problems: InputProblem[] } {
  const problems: InputProblem[] = [];
  if (input.merchantId != null) {
    const problem = merchantIdProblem(input.merchantId);
    if (problem) problems.push(problem);
  }
  problems.push(...nameProblems(input.name));
  const type = String(input.type).toUpperCase() as KeyType;
  if (!KEY_TYPES.includes(type)) problems.push({ field: 'type', message: `type must be one of ${KEY_TYPES.join(', ')}.` });
  const environment = String(input.environment ?? 'TEST').toUpperCase() as KeyEnvironment;
  if (!KEY_ENVIRONMENTS.includes(environment)) problems.push({ field: 'environment', message: `environment must be one of ${KEY_ENVIRONMENTS.join(', ')}.` });
  if (!Array.isArray(input.scopes)) problems.push({ field: 'scopes', message: 'scopes must be a list.' });
  const scopes = Array.isArray(input.scopes) ? [...new Set(input.scopes)] : [];
  problems.push(...scopeProblems(scopes, catalogue));
  if (KEY_TYPES.includes(type)) problems.push(...clientKeyScopeProblems(type, scopes).map((message) => ({ field: 'scopes', message })));
  problems.push(...expiresAtProblems(input.expiresAt, now));
  problems.push(...rateLimitProblems(input.rateLimit));
  problems.push(...metadataProblems(input.metadata));
  const allowedIps = input.allowedIps == null ? { value: [], problems: [] } : checkAllowedIps(input.allowedIps);
  problems.push(...allowedIps.problems);
  if (input.credits) problems.push(...within('credits', creditsProblems(input.credits)));
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
      metadata: input.metadata ?? null,
      allowedIps: allowedIps.value,
      credits: input.credits ?? null,
    },
  };
}
