// The keys table: status, last use, all-time uses and a per-minute sparkline of the last
// WINDOW minutes, kept current from the feed and reloaded (with backoff) after lifecycle events.
import { ApiError, describe, request } from './api.js';
import { byId, el, timeEl } from './dom.js';
import type { ConsoleKeysQuery, ConsoleKeysQueryVariables } from './graphql.js';
import { KEYS } from './operations.js';
import { KEY_LIMIT, rememberKey, state, type Key } from './state.js';

/** Minutes the sparkline covers. */
export const WINDOW = 30;
const minuteOf = (iso: string) => Math.floor(new Date(iso).getTime() / 60_000);
/** Uses per key and minute, for the sparkline; minutes older than the window are dropped. */
const usage = new Map<string, Map<number, number>>();

/** One use of a key at `occurredAt`, counted in its sparkline. */
export function countUse(keyId: string, occurredAt: string): void {
  const perMinute = usage.get(keyId) ?? new Map<number, number>();
  const minute = minuteOf(occurredAt);
  perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
  const oldest = Math.floor(Date.now() / 60_000) - WINDOW;
  for (const m of perMinute.keys()) if (m <= oldest) perMinute.delete(m);
  usage.set(keyId, perMinute);
}

/** A KEY_USED from the live feed: the key's all-time count and its sparkline move together, and its credits follow the spend it carries. */
export function recordUse(keyId: string, occurredAt: string, creditsSpent: unknown): void {
  countUse(keyId, occurredAt);
  const key = state.keys.get(keyId);
  if (key) {
    key.usageCount += 1;
    if (key.credits && typeof creditsSpent === 'number') key.credits = { ...key.credits, remaining: Math.max(0, key.credits.remaining - creditsSpent) };
    if (!key.lastUsedAt || key.lastUsedAt < occurredAt) key.lastUsedAt = occurredAt;
  }
  renderSoon();
}

export function resetUsage(): void {
  usage.clear();
}

function sparkline(keyId: string): HTMLElement {
  const now = Math.floor(Date.now() / 60_000);
  const perMinute = usage.get(keyId) ?? new Map<number, number>();
  const counts = Array.from({ length: WINDOW }, (_, i) => perMinute.get(now - WINDOW + 1 + i) ?? 0);
  const total = counts.reduce((a, b) => a + b, 0);
  const peak = Math.max(0, ...counts);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 24');
  svg.setAttribute('aria-hidden', 'true');
  const points = counts.map((c, i) => `${((i * 120) / (WINDOW - 1)).toFixed(1)},${(22 - (c / Math.max(1, peak)) * 20).toFixed(1)}`);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points.join(' '));
  line.setAttribute('class', 'spark-line');
  svg.appendChild(line);
  // The scale: the top of the box is the peak minute, the bottom zero; the caption says both.
  const caption = el('span', { class: 'spark-caption' }, `${total} in ${WINDOW} min · peak ${peak}/min`);
  return el('span', { class: 'spark-cell', 'data-total': String(total), 'data-peak': String(peak) }, svg as unknown as Node, caption);
}

type KeyOpener = (keyId: string, name: string) => void;
let openKey: KeyOpener | null = null;

/** The key page opens through this when a key's name is clicked. */
export function setKeyOpener(opener: KeyOpener): void {
  openKey = opener;
}

function nameButton(key: Key): HTMLElement {
  const button = el('button', { type: 'button', class: 'name key-link', title: `Open ${key.name}'s page` }, key.name);
  button.addEventListener('click', () => openKey?.(key.id, key.name));
  return button;
}

type RowActions = (key: Key) => Node | null;
let rowActions: RowActions = () => null;

/** The management view adds its buttons to each row through this. */
export function setRowActions(actions: RowActions): void {
  rowActions = actions;
}

/** Credits left (∞: unlimited), and the date of the next refill when one is due. */
function creditsText(credits: Key['credits']): string {
  if (!credits) return '∞';
  return credits.nextRefillAt ? `${credits.remaining} (refills ${new Date(credits.nextRefillAt).toLocaleDateString()})` : String(credits.remaining);
}

const td = (label: string, ...children: Array<Node | string>) => el('td', { 'data-label': label }, ...children);

export function renderKeys(): void {
  const admin = Boolean(state.viewer?.admin);
  byId('keys-table').classList.toggle('all-merchants', admin);
  const rows = [...state.keys.values()].map((key) => {
    const status = key.status === 'ACTIVE' && key.expired ? 'EXPIRED' : key.status;
    const actions = rowActions(key);
    return el(
      'tr',
      { 'data-key-id': key.id },
      td('Name', nameButton(key), ' ', el('code', { class: 'muted' }, `${key.prefix}…${key.last4}`)),
      admin ? td('Merchant', key.merchantId) : null,
      el('td', { 'data-label': 'Status', class: `status status-${status}` }, status),
      td('Last used', timeEl(key.lastUsedAt)),
      el('td', { 'data-label': 'Uses', class: 'uses' }, String(key.usageCount)),
      el('td', { 'data-label': 'Credits', class: 'credits' }, creditsText(key.credits)),
      td(`Last ${WINDOW} min`, sparkline(key.id)),
      actions ? td('Actions', actions) : null,
    );
  });
  byId('keys').replaceChildren(...rows);
  byId('merchant-head').hidden = !admin;
}

let redraw: ReturnType<typeof setTimeout> | undefined;
export function renderSoon(): void {
  clearTimeout(redraw);
  redraw = setTimeout(renderKeys, 150);
}

/** The list as the API gave it. */
export function setKeys(data: ConsoleKeysQuery['apiKeys']): void {
  state.keys.clear();
  for (const edge of data.edges) rememberKey(edge.node);
  byId('keys-note').textContent = data.totalCount > data.edges.length ? `Showing the newest ${data.edges.length} of ${data.totalCount} keys.` : '';
  renderKeys();
}

/** A key the API just returned (a mutation's answer): shown at once. */
export function putKey(key: Key): void {
  rememberKey(key);
  renderKeys();
}

const LOCAL_STATUS: Readonly<Record<string, Key['status']>> = { KEY_DISABLED: 'DISABLED', KEY_ENABLED: 'ACTIVE', KEY_REVOKED: 'REVOKED' };

/** A lifecycle event: applied to the row at once (no request), then the list is reloaded. */
export function applyLifecycle(type: string, keyId: string | null): void {
  const key = keyId ? state.keys.get(keyId) : undefined;
  if (key && LOCAL_STATUS[type]) key.status = LOCAL_STATUS[type];
  if (key && type === 'KEY_EXPIRED') key.expired = true;
  renderKeys();
  reload.schedule(300);
}

/**
 * Reloads the list; a refused reload is retried, after Retry-After when the API gave one
 * (rate limited, or the service busy) and with doubling waits otherwise, up to a minute.
 */
const reload = {
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  failures: 0,
  generation: 0,
  schedule(delayMs: number): void {
    clearTimeout(this.timer);
    const generation = this.generation;
    this.timer = setTimeout(() => void this.run(generation), delayMs);
  },
  async run(generation: number): Promise<void> {
    try {
      const data = await request<ConsoleKeysQuery, ConsoleKeysQueryVariables>(KEYS, { keyLimit: KEY_LIMIT });
      if (generation !== this.generation) return;
      this.failures = 0;
      setKeys(data.apiKeys);
      byId('keys-error').textContent = '';
    } catch (error) {
      if (generation !== this.generation) return;
      this.failures += 1;
      const retryAfter = error instanceof ApiError && error.retryAfter !== null ? error.retryAfter * 1000 : null;
      const wait = retryAfter ?? Math.min(60_000, 1000 * 2 ** (this.failures - 1));
      const fatal = error instanceof ApiError && (error.code === 'FORBIDDEN' || error.code === 'UNAUTHENTICATED');
      byId('keys-error').textContent = fatal ? describe(error, 'apiKeys') : `The list may be out of date (${describe(error, 'apiKeys')}); reloading in ${Math.ceil(wait / 1000)} s.`;
      if (!fatal) this.schedule(wait);
    }
  },
  /** Forgets pending reloads (a new key was entered). */
  stop(): void {
    clearTimeout(this.timer);
    this.failures = 0;
    this.generation += 1;
  },
};

export const stopReloads = (): void => reload.stop();

setInterval(renderKeys, 60_000);
