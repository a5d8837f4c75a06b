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
    throw new BadUserInputError([`first must be an integer from 0 to ${MAX_PAGE}.`]);
  }
  return size;
}

/** Opaque cursors: base64url of a small JSON array, with the kind checked on the way back. */
export function encodeCursor(kind: string, parts: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify([kind, ...parts])).toString('base64url');
}

export function decodeCursor(kind: string, cursor: string, arity: number): Array<string | number> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed[0] === kind && parsed.length === arity + 1) {
      const parts = parsed.slice(1);
      if (parts.every((part) => typeof part === 'string' || typeof part === 'number')) return parts as Array<string | number>;
    }
  } catch {
    // fall through to the error below
  }
  throw new BadUserInputError(['after is not a valid cursor.']);
}
