// The key settings the create and edit forms share: credits, metadata and the IP allowlist, read
// from the form's inputs into the API's input shapes. What the browser can tell is wrong (JSON that
// is not an object) is refused here with the field path the API would name; the rest is the API's.
import { ApiError } from './api.js';
import { byId } from './dom.js';
import type { CreditsInput, RefillInterval } from './graphql.js';

type Problem = { field: string; message: string };

const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
const numberOr = (text: string, fallback: number | null) => (text === '' ? fallback : Number(text));

/** Comma- or newline-separated entries, blanks dropped. */
export const parseIps = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);

/** The metadata textarea: empty is null; anything else must be a JSON object. */
export function parseMetadata(text: string, field: string, problems: Problem[]): Record<string, unknown> | null {
  if (text.trim() === '') return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    problems.push({ field, message: 'Metadata must be a JSON object, like {"plan": "pro"}.' });
  } catch (error) {
    problems.push({ field, message: `Metadata is not valid JSON (${(error as Error).message}).` });
  }
  return null;
}

/** The credits fieldset of the create form; null when no credits were asked for (unlimited). */
export function creditsInput(prefix: string): CreditsInput | null {
  const remaining = value(`${prefix}-credits`);
  const interval = value(`${prefix}-refill`) as RefillInterval | '';
  if (remaining === '' && interval === '') return null;
  const amount = numberOr(value(`${prefix}-refill-amount`), null);
  const anchorDay = numberOr(value(`${prefix}-anchor-day`), null);
  return {
    remaining: numberOr(remaining, 0)!,
    ...(interval ? { refill: { interval, amount: amount ?? numberOr(remaining, 0)!, ...(interval === 'MONTHLY' && anchorDay !== null ? { anchorDay } : {}) } } : {}),
  };
}

/** Refuses locally found problems as the API would: one BAD_USER_INPUT naming each field. */
export function refuse(problems: Problem[]): void {
  if (problems.length) throw new ApiError('BAD_USER_INPUT', 'Invalid input.', null, null, problems);
}

/** A key's credits in words: ∞ for unlimited, with its refill rule. */
export function creditsWords(credits: { remaining: number; refill?: { amount: number; interval: string; anchorDay?: number | null } | null } | null): string {
  if (!credits) return 'unlimited';
  const refill = credits.refill;
  if (!refill) return `${credits.remaining} left`;
  const when = refill.interval === 'DAILY' ? 'daily' : `monthly on day ${refill.anchorDay ?? 1}`;
  return `${credits.remaining} left, refilled to ${refill.amount} ${when}`;
}
