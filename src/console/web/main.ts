// The console: talks only to keyring's public GraphQL API (HTTP for queries and mutations,
// graphql-ws for the audit feed). The key stays in this page's memory, never in storage or the URL.
import { ApiError, describe, request, useKey } from './api.js';
import { byId, setStatus } from './dom.js';
import { feedUnavailable, relabel, showHistory, startFeed, stopFeed } from './feed.js';
import type { ConsoleConnectQuery, ConsoleSnapshotQuery, ConsoleSnapshotQueryVariables } from './graphql.js';
import { countUse, renderKeys, resetUsage, setKeys, stopReloads, WINDOW } from './keys.js';
import { closeKeyPage } from './key-page.js';
import { setUpManagement } from './manage.js';
import { CONNECT, SNAPSHOT } from './operations.js';
import { compareIds } from './protocol.js';
import { HISTORY_LIMIT, KEY_LIMIT, state } from './state.js';

const keysChanged = new MutationObserver(relabel);
keysChanged.observe(byId('keys'), { childList: true });

byId<HTMLInputElement>('show-own').addEventListener('change', (event) => {
  byId('events').classList.toggle('hide-own', !(event.target as HTMLInputElement).checked);
});

async function connect(value: string): Promise<void> {
  stopReloads();
  closeKeyPage();
  await stopFeed();
  resetUsage();
  state.keys.clear();
  state.viewer = null;
  renderKeys();
  for (const id of ['keys-error', 'feed-error', 'keys-note']) byId(id).textContent = '';
  useKey(value);
  setStatus('Connecting…');
  try {
    state.viewer = (await request<ConsoleConnectQuery, object>(CONNECT, {})).viewer;
  } catch (error) {
    setStatus(describe(error), 'error');
    setUpManagement();
    return;
  }
  const { viewer } = state;
  byId('merchant').textContent = viewer.admin ? '(all merchants)' : `(${viewer.merchantId})`;
  setUpManagement();
  const since = new Date(Date.now() - WINDOW * 60_000).toISOString();
  // Every part is asked for first, so a missing scope comes back as the API's own FORBIDDEN
  // answer; the refused part is then left out (a refused non-null root field voids the whole answer).
  const want = { keys: true, events: true };
  const refused: { keys?: ApiError; events?: ApiError } = {};
  let data: ConsoleSnapshotQuery | null = null;
  while (!data && (want.keys || want.events)) {
    try {
      data = await request<ConsoleSnapshotQuery, ConsoleSnapshotQueryVariables>(SNAPSHOT, { since, ...want, keyLimit: KEY_LIMIT, historyLimit: HISTORY_LIMIT });
    } catch (error) {
      const part = error instanceof ApiError && error.code === 'FORBIDDEN' ? (error.path === 'apiKeys' ? 'keys' : 'events') : null;
      if (!part || !want[part]) {
        setStatus(describe(error), 'error');
        return;
      }
      want[part] = false;
      refused[part] = error as ApiError;
    }
  }
  if (data?.apiKeys) setKeys(data.apiKeys);
  if (refused.keys) byId('keys-error').textContent = describe(refused.keys, 'apiKeys');
  if (refused.events || !data?.recent) {
    feedUnavailable(refused.events ?? new ApiError('ERROR', 'The history could not be read.'));
    return;
  }
  const history = data.recent.edges.map((edge) => edge.node);
  const newest = history[0]?.id;
  // Uses the history already covers are counted; later ones arrive through the feed.
  for (const edge of data.uses?.edges ?? []) {
    if (edge.node.keyId && (!newest || compareIds(edge.node.id, newest) <= 0)) countUse(edge.node.keyId, edge.node.occurredAt);
  }
  if (data.uses?.pageInfo.hasNextPage) byId('keys-note').textContent = `More than 100 uses in the last ${WINDOW} minutes: the sparklines start at the 100th newest.`;
  renderKeys();
  showHistory(history);
  startFeed();
}

byId<HTMLFormElement>('connect').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>('key');
  const value = input.value.trim();
  input.value = '';
  if (value) void connect(value);
});
