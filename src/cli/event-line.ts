import { EVENT_COLUMNS, type EventRow } from '../audit/event-columns.js';
import { printableJson } from './printable.js';

/** An audit event as the feed delivers it: its id, and every column, dates as ISO text. */
export type FeedEvent = { id: string } & { [Field in keyof EventRow]: EventRow[Field] extends Date ? string : EventRow[Field] };

/** The selection `keys tail` subscribes with: every field of FeedEvent. */
export const FEED_EVENT_FIELDS = ['id', ...EVENT_COLUMNS.map((column) => column.field)].join(' ');

// The longest type name (ACCESS_DENIED), so that the fields after it line up.
const TYPE_WIDTH = 13;

/**
 * One readable line: `<time> #<id> <TYPE> merchant=… key=… actor=… op=… reason="…" ip=…`,
 * fields without a value left out. Values are quoted and escaped when they hold anything
 * but plain characters: a reason is free text, and a newline or a terminal escape
 * sequence in it must not forge a line or repaint the operator's terminal.
 */
export function eventLine(event: FeedEvent): string {
  const fields: Array<[string, string | null]> = [
    ['merchant', event.merchantId],
    ['key', event.keyId],
    ['actor', event.actorKeyId],
    ['op', event.operationName],
    ['reason', event.reason],
    ['ip', event.ip],
  ];
  const rest = fields.filter(([, value]) => value !== null && value !== '').map(([name, value]) => `${name}=${shown(value!)}`);
  return [plain(event.occurredAt), `#${plain(event.id)}`, plain(event.type).padEnd(TYPE_WIDTH), ...rest].join(' ').trimEnd();
}

/** A JSON line: the event exactly as delivered. JSON escapes control characters itself. */
export function jsonLine(event: FeedEvent): string {
  return printableJson(JSON.stringify(event));
}

function shown(value: string): string {
  return /^[\w.:@/+-]+$/.test(value) ? value : printableJson(JSON.stringify(value));
}

/** Fields the server fills itself (ids, times, type names): shown as they are if plain. */
function plain(value: string): string {
  return /^[\w.:+-]*$/.test(value) ? value : printableJson(JSON.stringify(value));
}
