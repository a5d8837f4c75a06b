// One key's page (opened from its name in the keys table): its settings, its usage from keyUsage
// as bars per hour (the last 24 h) or per day (the last 30 days) with a scale and text totals,
// and its recent events.
import { describe, request } from './api.js';
import { byId, el, timeEl } from './dom.js';
import { eventRow } from './feed.js';
import type { ConsoleKeyPageQuery, ConsoleKeyPageQueryVariables, UsageGranularity } from './graphql.js';
import { creditsWords } from './key-fields.js';
import { putKey, setKeyOpener } from './keys.js';
import { KEY_PAGE } from './operations.js';
import { holds } from './state.js';

type Usage = ConsoleKeyPageQuery['keyUsage'][number];
type Counts = Usage['total'];

/** The recent events the page lists. */
const EVENT_LIMIT = 20;
const VIEWS: Readonly<Record<'HOUR' | 'DAY', { span: number; label: string }>> = {
  HOUR: { span: 24 * 3_600_000, label: 'per hour, last 24 hours' },
  DAY: { span: 30 * 86_400_000, label: 'per day, last 30 days' },
};
/** Outcomes stacked in each bar, bottom first, and their words in the totals. */
const SERIES: ReadonlyArray<{ field: Exclude<keyof Counts, 'creditsSpent'>; label: string }> = [
  { field: 'valid', label: 'Valid' },
  { field: 'rateLimited', label: 'Rate limited' },
  { field: 'usageExceeded', label: 'Usage exceeded' },
  { field: 'denied', label: 'Denied' },
];

const page = { keyId: null as string | null, view: 'HOUR' as 'HOUR' | 'DAY', generation: 0 };

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const bucketTotal = (counts: Counts) => SERIES.reduce((sum, s) => sum + counts[s.field], 0);

function bucketLabel(iso: string, view: 'HOUR' | 'DAY'): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return view === 'HOUR' ? `${pad(d.getHours())}:00` : `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Stacked bars, a y axis from 0 to the busiest bucket (with its midpoint), and dates along x. */
function chart(usage: Usage, view: 'HOUR' | 'DAY'): SVGElement {
  const width = 640;
  const height = 200;
  const left = 40;
  const bottom = 22;
  const top = 10;
  const plot = height - bottom - top;
  const peak = Math.max(1, ...usage.buckets.map((b) => bucketTotal(b.counts)));
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, class: 'usage-chart', role: 'img', 'aria-labelledby': 'usage-caption' });
  const y = (value: number) => top + plot - (value / peak) * plot;
  for (const tick of [...new Set([0, Math.round(peak / 2), peak])]) {
    svg.append(svgEl('line', { x1: left, x2: width, y1: y(tick), y2: y(tick), class: 'grid' }));
    svg.append(svgEl('text', { x: left - 4, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, String(tick)));
  }
  const step = (width - left) / Math.max(1, usage.buckets.length);
  usage.buckets.forEach((bucket, i) => {
    let base = 0;
    const group = svgEl('g', { class: 'bar' });
    group.append(svgEl('title', {}, `${bucketLabel(bucket.start, view)}: ${SERIES.map((s) => `${bucket.counts[s.field]} ${s.label.toLowerCase()}`).join(', ')}`));
    for (const series of SERIES) {
      const value = bucket.counts[series.field];
      if (!value) continue;
      group.append(svgEl('rect', { x: left + i * step + 1, width: Math.max(1, step - 2), y: y(base + value), height: y(base) - y(base + value), class: `seg seg-${series.field}` }));
      base += value;
    }
    svg.append(group);
  });
  const labels = usage.buckets.length ? [0, Math.floor(usage.buckets.length / 2), usage.buckets.length - 1] : [];
  for (const i of [...new Set(labels)]) {
    const anchor = i === 0 ? 'start' : i === usage.buckets.length - 1 ? 'end' : 'middle';
    const x = anchor === 'start' ? left + i * step : anchor === 'end' ? left + (i + 1) * step : left + i * step + step / 2;
    svg.append(svgEl('text', { x, y: height - 6, 'text-anchor': anchor, class: 'tick' }, bucketLabel(usage.buckets[i]!.start, view)));
  }
  svg.append(svgEl('line', { x1: left, x2: left, y1: top, y2: top + plot, class: 'axis' }));
  return svg;
}

function totals(total: Counts): HTMLElement {
  const item = (label: string, field: keyof Counts) => [el('dt', {}, label), el('dd', { 'data-count': field, class: `count count-${field}` }, String(total[field]))];
  return el('dl', { class: 'usage-totals', id: 'usage-totals' }, ...SERIES.flatMap((s) => item(s.label, s.field)), ...item('Credits spent', 'creditsSpent'));
}

function details(key: ConsoleKeyPageQuery['apiKey'] & object): HTMLElement {
  const status = key.status === 'ACTIVE' && key.expired ? 'EXPIRED' : key.status;
  const rows: Array<[string, Node | string]> = [
    ['Key', el('code', {}, `${key.prefix}…${key.last4}`)],
    ['Status', `${status}${key.statusReason ? ` (${key.statusReason})` : ''}`],
    ['Type', `${key.type} · ${key.environment}`],
    ['Merchant', key.merchantId],
    ['Scopes', key.scopes.length ? key.scopes.join(', ') : 'none'],
    ['Rate limit', `${key.rateLimit.limit} per ${key.rateLimit.windowSeconds} s`],
    ['Credits', `${creditsWords(key.credits)}${key.credits?.nextRefillAt ? ` · next refill ${new Date(key.credits.nextRefillAt).toLocaleString()}` : ''}`],
    ['Allowed addresses', key.allowedIps.length ? key.allowedIps.join(', ') : 'any'],
    ['Metadata', key.metadata ? el('code', { class: 'metadata' }, JSON.stringify(key.metadata)) : 'none'],
    ['Expires', timeEl(key.expiresAt)],
    ['Created', timeEl(key.createdAt)],
    ['Last used', timeEl(key.lastUsedAt)],
    ['Uses', String(key.usageCount)],
  ];
  return el('dl', { class: 'key-details', id: 'key-details' }, ...rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

/** Reads the key, its usage in the chosen view and its recent events, and shows them. */
async function load(): Promise<void> {
  const keyId = page.keyId;
  if (!keyId) return;
  const generation = ++page.generation;
  const view = page.view;
  const to = new Date();
  const from = new Date(to.getTime() - VIEWS[view].span);
  byId('key-page-error').textContent = '';
  try {
    const data = await request<ConsoleKeyPageQuery, ConsoleKeyPageQueryVariables>(KEY_PAGE, {
      id: keyId,
      from: from.toISOString(),
      to: to.toISOString(),
      granularity: view as UsageGranularity,
      events: holds('audit:read'),
      eventLimit: EVENT_LIMIT,
    });
    if (generation !== page.generation) return;
    if (!data.apiKey) {
      byId('key-page-error').textContent = 'NOT_FOUND: this key no longer exists.';
      return;
    }
    putKey(data.apiKey);
    byId('key-page-title').textContent = data.apiKey.name;
    byId('key-details').replaceWith(details(data.apiKey));
    const usage = data.keyUsage[0] ?? { buckets: [], total: { valid: 0, rateLimited: 0, usageExceeded: 0, denied: 0, creditsSpent: 0 } };
    byId('usage-caption').textContent = `Requests and verifications by outcome, ${VIEWS[view].label}; the scale runs from 0 to the busiest ${view === 'HOUR' ? 'hour' : 'day'}. Updated ${to.toLocaleTimeString()}.`;
    byId('usage-chart-box').replaceChildren(chart(usage, view) as unknown as Node);
    byId('usage-totals').replaceWith(totals(usage.total));
    byId('key-events').replaceChildren(
      ...(data.auditEvents ? data.auditEvents.edges.map((edge) => eventRow(edge.node)) : [el('li', { class: 'muted' }, 'Reading events needs the audit:read scope, which this key does not hold.')]),
    );
  } catch (error) {
    if (generation === page.generation) byId('key-page-error').textContent = describe(error);
  }
}

function setView(view: 'HOUR' | 'DAY'): void {
  page.view = view;
  byId('usage-hour').setAttribute('aria-pressed', String(view === 'HOUR'));
  byId('usage-day').setAttribute('aria-pressed', String(view === 'DAY'));
  void load();
}

function open(keyId: string, name: string): void {
  page.keyId = keyId;
  byId('key-page-title').textContent = name;
  byId('key-page').hidden = false;
  setView(page.view);
  byId('key-page').scrollIntoView();
  byId('key-page-title').focus();
}

/** Closes the page (another key was entered, or the user closed it). */
export function closeKeyPage(): void {
  page.keyId = null;
  page.generation += 1;
  byId('key-page').hidden = true;
}

byId('usage-hour').addEventListener('click', () => setView('HOUR'));
byId('usage-day').addEventListener('click', () => setView('DAY'));
byId('usage-refresh').addEventListener('click', () => void load());
byId('key-page-close').addEventListener('click', closeKeyPage);
setKeyOpener(open);
