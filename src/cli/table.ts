import { printable } from './printable.js';

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
