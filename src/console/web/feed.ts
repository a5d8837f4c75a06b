// The live audit feed: opens with the recent history, then subscribes from its newest id, so
// nothing is missed and nothing shown twice (and after a reconnect it resumes from the last id).
import { ApiError, currentKey, describe, toApiError } from './api.js';
import { byId, el, setStatus, timeEl } from './dom.js';
import type { ConsoleFeedSubscription, EventFieldsFragment } from './graphql.js';
import { FEED } from './operations.js';
import { CloseCode, compareIds, EVENT_ID_PATTERN, FATAL_CLOSE_CODES } from './protocol.js';
import { FEED_LIMIT, keyLabel, state } from './state.js';
import { applyLifecycle, recordUse } from './keys.js';

type Event = EventFieldsFragment;

const LIFECYCLE = new Set(['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED', 'KEY_REVOKED', 'KEY_ROTATED', 'KEY_EXPIRED', 'KEY_UPDATED']);

const feed = {
  client: null as ReturnType<Window['graphqlWs']['createClient']> | null,
  /** The newest event shown: where a (re)subscription resumes. */
  lastId: null as string | null,
  /** Once the feed has ended for a reason reconnecting cannot fix, that message stays. */
  ended: false,
};

/** A key reference that shows the key's name, relabelled when names arrive (KEY_CREATED comes before the reload). */
const keyRef = (id: string) => el('span', { class: 'key-ref', 'data-key-ref': id, title: id }, keyLabel(id));

export function eventRow(event: Event): HTMLLIElement {
  const own = event.type === 'KEY_USED' && event.keyId === state.viewer?.keyId;
  const details = el(
    'span',
    { class: 'details' },
    event.keyId ? keyRef(event.keyId) : null,
    event.actorKeyId && event.actorKeyId !== event.keyId ? el('span', {}, ' by ', keyRef(event.actorKeyId)) : null,
    event.operationName ? el('span', { class: 'op' }, ` · ${event.operationName}`) : null,
    event.reason ? el('span', { class: 'reason' }, ` · ${event.reason}`) : null,
  );
  return el(
    'li',
    { class: `event ${event.type}${own ? ' own' : ''}`, 'data-type': event.type, 'data-id': event.id, 'data-key-id': event.keyId ?? undefined },
    el('span', { class: 'when' }, timeEl(event.occurredAt)),
    el('span', { class: 'type' }, event.type),
    el('span', { class: 'where' }, state.viewer?.admin ? el('span', { class: 'merchant', title: 'merchant' }, event.merchantId ?? '—') : null, el('span', { class: 'ip', title: 'client address' }, event.ip ?? '')),
    details,
  );
}

function trim(list: HTMLElement): void {
  while (list.children.length > FEED_LIMIT) list.lastElementChild!.remove();
}

/** The recent history, newest first, as the API listed it; the feed resumes after its newest id. */
export function showHistory(events: readonly Event[]): void {
  const list = byId('events');
  list.replaceChildren(...events.map(eventRow));
  trim(list);
  feed.lastId = events[0]?.id ?? '0';
}

function onEvent(event: Event): void {
  if (feed.lastId && compareIds(event.id, feed.lastId) <= 0) return;
  feed.lastId = event.id;
  const list = byId('events');
  list.prepend(eventRow(event));
  trim(list);
  if (event.type === 'KEY_USED' && event.keyId) recordUse(event.keyId, event.occurredAt, (event.metadata as { creditsSpent?: unknown } | null)?.creditsSpent);
  if (LIFECYCLE.has(event.type)) applyLifecycle(event.type, event.keyId);
}

/** After the keys list changes, every reference shows the name. */
export function relabel(): void {
  for (const ref of byId('events').querySelectorAll<HTMLElement>('[data-key-ref]')) ref.textContent = keyLabel(ref.dataset.keyRef!);
}

function closeMessage(code: number, reason: string): string {
  switch (code) {
    case CloseCode.Forbidden:
      return `The feed is closed (${code}): this console's key was disabled, revoked or has expired. Connect with another key.`;
    case CloseCode.Unauthorized:
      return `The feed is closed (${code}): keyring does not accept this key (unknown, disabled, revoked or expired).`;
    case CloseCode.TooManyRequests:
      return `The feed is closed (${code}): too many failed attempts from this address; wait a minute, then connect again.`;
    default:
      return `The feed is closed (${code}${reason ? `: ${reason}` : ''}).`;
  }
}

function end(message: string): void {
  feed.ended = true;
  setStatus(message, 'error');
}

/** Subscribes after the newest event shown; `stopFeed` ends it. */
export function startFeed(): void {
  feed.ended = false;
  const after = feed.lastId && EVENT_ID_PATTERN.test(feed.lastId) ? feed.lastId : null;
  // graphql-ws re-sends this same payload when it reconnects: keeping `after` current resumes there.
  const payload = { query: FEED, variables: { after } };
  const client = window.graphqlWs.createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: () => ({ authorization: `Bearer ${currentKey()}` }),
    retryAttempts: Infinity,
    shouldRetry: (closeEvent) => !FATAL_CLOSE_CODES.includes((closeEvent as CloseEvent | undefined)?.code ?? 0),
    on: {
      connected: () => feed.ended || setStatus('Live', 'ok'),
      closed: (event) => {
        const close = event as CloseEvent | undefined;
        if (feed.ended || feed.client !== client) return;
        if (close && FATAL_CLOSE_CODES.includes(close.code)) end(closeMessage(close.code, close.reason));
        else setStatus(`Reconnecting… (${close?.code ?? 'no answer'})`, 'busy');
      },
    },
  });
  feed.client = client;
  client.subscribe<ConsoleFeedSubscription>(payload, {
    next: (message) => {
      if (message.data) {
        onEvent(message.data.auditEvents);
        payload.variables.after = feed.lastId;
      }
      if (message.errors?.length) end(describe(toApiError(message.errors[0] as never), 'auditEvents'));
    },
    error: (error) => {
      if (feed.client !== client || feed.ended) return;
      if (Array.isArray(error)) end(describe(toApiError(error[0]), 'auditEvents'));
      else if (error && typeof (error as CloseEvent).code === 'number') end(closeMessage((error as CloseEvent).code, (error as CloseEvent).reason));
      else end(describe(error instanceof ApiError ? error : new ApiError('ERROR', String((error as Error)?.message ?? error)), 'auditEvents'));
    },
    complete: () => feed.client === client && !feed.ended && end('The feed ended.'),
  });
}

export async function stopFeed(): Promise<void> {
  const client = feed.client;
  feed.client = null;
  feed.lastId = null;
  byId('events').replaceChildren();
  await client?.dispose();
}

/** The feed cannot start (the history was refused): say why, and do not subscribe. */
export function feedUnavailable(error: unknown): void {
  feed.ended = true;
  byId('events').replaceChildren();
  byId('feed-error').textContent = describe(error, 'auditEvents');
  setStatus(describe(error, 'auditEvents'), 'error');
}
