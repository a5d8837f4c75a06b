/**
 * A plain text table: a header row, columns padded to their widest cell, two spaces apart.
 * Cells are made printable first: a name stored before the free-text rule, or written by
 * another tool, must not be able to move the operator's cursor or recolour the terminal.
 */
export function table(headers: readonly string[], cellRows: ReadonlyArray<readonly string[]>): string {
  const rows = cellRows.map((row) => row.map(printable));
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `2026-11-23T06:00:00.000Z` → `2026-11-23 06:00Z`; empty for null. */
export function shortDate(date: Date | null): string {
  return date ? `${date.toISOString().slice(0, 16).replace('T', ' ')}Z` : '';
}

/** Control, bidi and zero-width characters as `\uXXXX`, so what is printed is what is stored, visibly. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f]/g, escaped).replace(UNSAFE_IN_JSON, escaped);
}

/**
 * JSON text made safe for a terminal: JSON.stringify escapes C0 controls in strings itself but
 * leaves DEL, C1 (\x9b starts an escape sequence on some terminals), bidi and zero-width
 * characters as they are; `\uXXXX` is a valid escape inside a JSON string, so the JSON still parses.
 */
export function printableJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, escaped);
}

const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function escaped(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
