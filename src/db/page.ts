import { BadUserInputError } from '../errors.js';

export const MAX_PAGE = 100;

/** A page of a Relay connection, before it is shaped for GraphQL. */
export interface Page<T> {
  items: Array<{ cursor: string; node: T }>;
  hasNextPage: boolean;
  totalCount: number;
}

export function pageSize(first: number | null | undefined, fallback: number): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE) {
    throw BadUserInputError.at('first', `first must be an integer from 0 to ${MAX_PAGE}.`);
  }
  return size;
}

/** Opaque cursors: base64url of a small JSON array, with the kind checked on the way back. */
export function encodeCursor(kind: string, parts: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify([kind, ...parts])).toString('base64url');
}

/** What each part of a cursor must be: an integer (a time in ms, a count) or a string. */
export type CursorPart = 'integer' | 'string';

/**
 * Reads a cursor back, checking its kind and the type of every part, so a tampered cursor
 * is a BAD_USER_INPUT here and never reaches SQL as NaN or as a value of the wrong type.
 */
export function decodeCursor<const S extends readonly CursorPart[]>(kind: string, cursor: string, shape: S): { [I in keyof S]: S[I] extends 'integer' ? number : string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed[0] === kind && parsed.length === shape.length + 1) {
      const parts = parsed.slice(1);
      if (parts.every((part, index) => partFits(part, shape[index]!))) return parts as never;
    }
  } catch {
    // fall through to the error below
  }
  throw BadUserInputError.at('after', 'after is not a valid cursor.');
}

function partFits(part: unknown, type: CursorPart): boolean {
  return type === 'integer' ? Number.isSafeInteger(part) : typeof part === 'string' && part.length > 0 && part.length <= 200;
}
