// The live console: talks only to keyring's public GraphQL API (HTTP for queries,
// graphql-ws for the audit feed). The key stays in this page's memory, never in storage.
import { CloseCode, EVENT_ID_PATTERN, FATAL_CLOSE_CODES } from './protocol.js';

const { createClient } = window.graphqlWs;

const MINUTES = 30;
const EVENT_FIELDS = 'id type occurredAt merchantId keyId actorKeyId operationName ip reason metadata';
const $ = (id) => document.getElementById(id);
const state = { key: null, client: null, unsubscribe: null, lastId: null, keys: new Map(), usage: new Map() };

async function gql(query, variables = {}) {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`${body.errors[0].extensions?.code ?? 'ERROR'}: ${body.errors[0].message}`);
  return body.data;
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

const minuteOf = (iso) => Math.floor(new Date(iso).getTime() / 60_000);

function countUse(event) {
  if (event.type !== 'KEY_USED' || !event.keyId) return;
  const perMinute = state.usage.get(event.keyId) ?? new Map();
  const minute = minuteOf(event.occurredAt);
  perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
  state.usage.set(event.keyId, perMinute);
}

function sparkline(keyId) {
  const now = Math.floor(Date.now() / 60_000);
  const perMinute = state.usage.get(keyId) ?? new Map();
  const counts = Array.from({ length: MINUTES }, (_, i) => perMinute.get(now - MINUTES + 1 + i) ?? 0);
  const max = Math.max(1, ...counts);
  const points = counts.map((c, i) => `${(i * 120) / (MINUTES - 1)},${22 - (c / max) * 20}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 24');
  svg.setAttribute('aria-label', `${counts.reduce((a, b) => a + b, 0)} requests in ${MINUTES} minutes`);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#4f7cff');
  line.setAttribute('stroke-width', '1.5');
  svg.appendChild(line);
  return svg;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** Credits left (∞ without credits), and when they refill. */
function creditsText(credits) {
  if (!credits) return '∞';
  const refill = credits.nextRefillAt ? ` (refills ${new Date(credits.nextRefillAt).toLocaleDateString()})` : '';
  return `${credits.remaining}${refill}`;
}

function renderKeys() {
  const body = $('keys');
  body.replaceChildren();
  for (const key of state.keys.values()) {
    const row = document.createElement('tr');
    row.dataset.keyId = key.id;
    row.append(
      cell(`${key.name} (${key.prefix}…${key.last4})`),
      cell(key.expired ? 'EXPIRED' : key.status, `status-${key.status}`),
      cell(key.lastUsedAt ? new Date(key.lastUsedAt).toLocaleTimeString() : '—'),
      cell(String(key.usageCount)),
      cell(creditsText(key.credits)),
    );
    const spark = document.createElement('td');
    spark.appendChild(sparkline(key.id));
    row.appendChild(spark);
    body.appendChild(row);
  }
}

function renderEvent(event) {
  const li = document.createElement('li');
  li.className = event.type;
  li.dataset.type = event.type;
  li.dataset.id = event.id;
  const key = state.keys.get(event.keyId);
  const time = document.createElement('span');
  time.textContent = new Date(event.occurredAt).toLocaleTimeString();
  const type = document.createElement('span');
  type.className = 'type';
  type.textContent = event.type;
  const detail = document.createElement('span');
  detail.textContent = [key ? key.name : event.keyId, event.operationName, event.reason].filter(Boolean).join(' · ');
  li.append(time, type, detail);
  const list = $('events');
  list.prepend(li);
  while (list.children.length > 500) list.lastChild.remove();
}

async function loadKeys() {
  const data = await gql(`{ apiKeys(first: 100) { edges { node { id name status prefix last4 expired lastUsedAt usageCount credits { remaining nextRefillAt } } } } }`);
  state.keys = new Map(data.apiKeys.edges.map((edge) => [edge.node.id, edge.node]));
  renderKeys();
}

async function loadUsage() {
  const from = new Date(Date.now() - MINUTES * 60_000).toISOString();
  const data = await gql(`query($from: DateTime) { auditEvents(filter: { types: [KEY_USED], from: $from }, first: 100) { edges { node { ${EVENT_FIELDS} } } } }`, { from });
  for (const edge of data.auditEvents.edges) countUse(edge.node);
}

const LIFECYCLE = new Set(['KEY_CREATED', 'KEY_DISABLED', 'KEY_ENABLED', 'KEY_REVOKED', 'KEY_ROTATED', 'KEY_EXPIRED', 'KEY_UPDATED']);
let refresh = null;
let redraw = null;
function onEvent(event) {
  state.lastId = event.id;
  countUse(event);
  renderEvent(event);
  const key = state.keys.get(event.keyId);
  if (event.type === 'KEY_USED' && key) {
    // Usage is updated in place: reloading on every use would itself be a use, forever.
    key.usageCount += 1;
    key.lastUsedAt = event.occurredAt;
    // The spend rides on the event: the credits shown follow it without a reload.
    if (key.credits && Number.isInteger(event.metadata?.creditsSpent)) key.credits.remaining = Math.max(0, key.credits.remaining - event.metadata.creditsSpent);
    clearTimeout(redraw);
    redraw = setTimeout(renderKeys, 200);
  }
  if (LIFECYCLE.has(event.type)) {
    clearTimeout(refresh);
    refresh = setTimeout(() => loadKeys().catch((error) => setStatus(error.message, true)), 300);
  }
}

function subscribe() {
  state.client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: () => ({ authorization: `Bearer ${state.key}` }),
    retryAttempts: Infinity,
    shouldRetry: (closeEvent) => !FATAL_CLOSE_CODES.includes(closeEvent?.code),
    on: {
      connected: () => setStatus('Live'),
      closed: (event) => {
        if (event?.code === CloseCode.Unauthorized || event?.code === CloseCode.Forbidden) setStatus('This key can no longer connect.', true);
        else if (FATAL_CLOSE_CODES.includes(event?.code)) setStatus(`The service closed the feed (${event.code}).`, true);
        else setStatus('Reconnecting…');
      },
    },
  });
  const run = () => {
    // Resumes after the last event shown, with no gap and no repeat, when that id is one the protocol knows.
    const variables = EVENT_ID_PATTERN.test(state.lastId ?? '') ? { after: state.lastId } : {};
    state.unsubscribe = state.client.subscribe(
      { query: `subscription($after: String) { auditEvents(after: $after) { ${EVENT_FIELDS} } }`, variables },
      {
        next: (message) => message.data && onEvent(message.data.auditEvents),
        error: (error) => setStatus(error?.[0]?.message ?? error?.message ?? 'Feed closed', true),
        complete: () => {},
      },
    );
  };
  run();
}

$('connect').addEventListener('submit', async (event) => {
  event.preventDefault();
  state.unsubscribe?.();
  await state.client?.dispose();
  state.key = $('key').value.trim();
  $('key').value = '';
  $('events').replaceChildren();
  state.lastId = null;
  state.usage.clear();
  setStatus('Connecting…');
  try {
    const { viewer } = await gql('{ viewer { merchantId name admin } }');
    $('merchant').textContent = viewer.admin ? '(all merchants)' : `(${viewer.merchantId})`;
    await loadKeys();
    await loadUsage().catch(() => {});
    renderKeys();
    subscribe();
  } catch (error) {
    setStatus(error.message, true);
  }
});

setInterval(renderKeys, 60_000);
