/**
 * Text as every backend stores it. PostgreSQL's text types cannot hold NUL and its jsonb refuses
 * a lone surrogate, and one such row would fail its whole batch on every retry, holding up every
 * event behind it: an operation name sent over WebSocket is the client's own text. Both become
 * U+FFFD, on SQLite alike, so an event reads the same on every backend.
 */
export function storable(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

/** `storable` through a JSON value (names included); the same object back when nothing changed. */
export function storableJson<T>(value: T): T {
  if (typeof value === 'string') return storable(value) as T;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item: unknown, i) => {
      const clean = storableJson(item);
      if (clean !== item) (copy ??= [...value])[i] = clean;
    });
    return (copy ?? value) as T;
  }
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    let copy: Record<string, unknown> | null = null;
    // Own enumerable names as Object.entries gives them, without its array of pairs (every event's metadata passes here).
    for (const name in value) {
      if (!Object.hasOwn(value, name)) continue;
      const item = (value as Record<string, unknown>)[name];
      const cleanName = storable(name);
      const clean = storableJson(item);
      if (cleanName === name && clean === item) continue;
      copy ??= { ...(value as Record<string, unknown>) };
      if (cleanName !== name) delete copy[name];
      copy[cleanName] = clean;
    }
    return (copy ?? value) as T;
  }
  return value;
}
