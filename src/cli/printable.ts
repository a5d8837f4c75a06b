import { SHOWN_DIFFERENTLY } from '../keys/validation.js';

/**
 * What the CLI escapes when it prints: the characters free text may not hold (the keys'
 * rule), plus the Unicode line and paragraph separators, which JSON.stringify also leaves.
 * A name or reason stored before that rule, or written by another tool, must not move the
 * operator's cursor, recolour the terminal, reorder a line or forge one.
 */
const UNSAFE_IN_JSON = new RegExp(`[${SHOWN_DIFFERENTLY}\\u2028\\u2029]`, 'gu');

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

function escaped(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
