// The webhooks view, for a key with webhooks:read: each endpoint with its status and its last
// deliveries; with webhooks:write, adding one (its signing secret shown once), enabling,
// disabling and deleting.
import { describe, request } from './api.js';
import { byId, el, timeEl } from './dom.js';
import type {
  AuditEventType,
  ConsoleCreateWebhookMutation,
  ConsoleCreateWebhookMutationVariables,
  ConsoleDeleteWebhookMutation,
  ConsoleUpdateWebhookMutation,
  ConsoleUpdateWebhookMutationVariables,
  ConsoleWebhooksQuery,
  ConsoleWebhooksQueryVariables,
  WebhookFieldsFragment,
} from './graphql.js';
import { clearErrors, showErrors } from './form-errors.js';
import { CREATE_WEBHOOK, DELETE_WEBHOOK, UPDATE_WEBHOOK, WEBHOOKS } from './operations.js';
import { holds } from './state.js';

/** Endpoints listed (the API's page size), and the deliveries shown for each. */
const WEBHOOK_LIMIT = 100;
const DELIVERY_LIMIT = 5;

/** Every event type an endpoint may ask for (the record makes the compiler check the list is whole). */
const EVENT_TYPES = Object.keys({
  ACCESS_DENIED: true, AUTH_FAILED: true, KEY_CREATED: true, KEY_DISABLED: true, KEY_ENABLED: true, KEY_EXPIRED: true, KEY_EXPIRING: true,
  KEY_LEAKED: true, KEY_REVOKED: true, KEY_ROTATED: true, KEY_UPDATED: true, KEY_USED: true, RATE_LIMITED: true, USAGE_EXCEEDED: true,
  WEBHOOK_DISABLED: true, CREDITS_LOW: true,
} satisfies Record<AuditEventType, true>) as AuditEventType[];

const hooks = new Map<string, WebhookFieldsFragment>();

function delivery(node: WebhookFieldsFragment['deliveries']['edges'][number]['node']): HTMLElement {
  return el(
    'li',
    { class: `delivery ${node.httpStatus !== null && node.httpStatus < 300 ? 'ok' : 'failed'}` },
    timeEl(node.at),
    el('span', { class: 'http-status' }, node.httpStatus === null ? 'no answer' : `HTTP ${node.httpStatus}`),
    el('span', {}, `event ${node.eventId} · attempt ${node.attempt} · ${node.durationMs} ms`),
    node.error ? el('span', { class: 'error' }, node.error) : null,
  );
}

function actionButton(label: string, hook: WebhookFieldsFragment, run: () => Promise<void>): HTMLElement {
  const button = el('button', { type: 'button', class: `action action-${label.toLowerCase()}`, 'aria-label': `${label} ${hook.url}` }, label);
  button.addEventListener('click', () => {
    button.disabled = true;
    run()
      .then(() => (byId('webhooks-error').textContent = ''))
      .catch((error: unknown) => (byId('webhooks-error').textContent = describe(error)))
      .finally(() => (button.disabled = false));
  });
  return button;
}

function card(hook: WebhookFieldsFragment): HTMLElement {
  const write = holds('webhooks:write');
  const deliveries = hook.deliveries.edges.map((edge) => delivery(edge.node));
  return el(
    'li',
    { class: 'webhook', 'data-webhook-id': hook.id },
    el('p', {}, el('span', { class: 'webhook-url' }, hook.url), ' ', el('span', { class: `webhook-status status-${hook.status}` }, hook.status)),
    el('p', { class: 'muted' }, `Events: ${hook.types.join(', ')}`),
    hook.lastError ? el('p', { class: 'error' }, `Last error: ${hook.lastError}`) : null,
    el('p', { class: 'muted' }, `Deliveries: ${hook.deliveries.totalCount}${hook.deliveries.totalCount > deliveries.length ? ` (the last ${deliveries.length} below)` : ''}`),
    deliveries.length ? el('ul', { class: 'deliveries', 'aria-label': `Last deliveries to ${hook.url}` }, ...deliveries) : null,
    write
      ? el(
          'p',
          { class: 'row-actions' },
          hook.status === 'DISABLED'
            ? actionButton('Enable', hook, () => setEnabled(hook, true))
            : actionButton('Disable', hook, () => setEnabled(hook, false)),
          actionButton('Delete', hook, () => remove(hook)),
        )
      : null,
  );
}

function render(): void {
  byId('webhooks').replaceChildren(...[...hooks.values()].map(card));
  byId('webhooks-note').textContent = hooks.size ? '' : 'No endpoints yet.';
}

async function setEnabled(hook: WebhookFieldsFragment, enabled: boolean): Promise<void> {
  const { updateWebhook } = await request<ConsoleUpdateWebhookMutation, ConsoleUpdateWebhookMutationVariables>(UPDATE_WEBHOOK, { id: hook.id, enabled, deliveryLimit: DELIVERY_LIMIT });
  hooks.set(updateWebhook.id, updateWebhook);
  render();
}

async function remove(hook: WebhookFieldsFragment): Promise<void> {
  if (!window.confirm(`Delete the endpoint ${hook.url} and its delivery records? This cannot be undone.`)) return;
  await request<ConsoleDeleteWebhookMutation, object>(DELETE_WEBHOOK, { id: hook.id });
  hooks.delete(hook.id);
  render();
}

async function load(): Promise<void> {
  try {
    const { webhooks } = await request<ConsoleWebhooksQuery, ConsoleWebhooksQueryVariables>(WEBHOOKS, { first: WEBHOOK_LIMIT, deliveryLimit: DELIVERY_LIMIT });
    hooks.clear();
    for (const edge of webhooks.edges) hooks.set(edge.node.id, edge.node);
    render();
    if (webhooks.totalCount > webhooks.edges.length) byId('webhooks-note').textContent = `Showing the newest ${webhooks.edges.length} of ${webhooks.totalCount} endpoints.`;
    byId('webhooks-error').textContent = '';
  } catch (error) {
    byId('webhooks-error').textContent = describe(error, 'webhooks');
  }
}

byId<HTMLFormElement>('webhook-create').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = byId<HTMLFormElement>('webhook-create');
  clearErrors(form);
  const types = [...byId('webhook-types').querySelectorAll<HTMLInputElement>('input:checked')].map((box) => box.value as AuditEventType);
  try {
    const { createWebhook } = await request<ConsoleCreateWebhookMutation, ConsoleCreateWebhookMutationVariables>(CREATE_WEBHOOK, {
      input: { url: byId<HTMLInputElement>('webhook-url').value.trim(), types },
      deliveryLimit: DELIVERY_LIMIT,
    });
    hooks.set(createWebhook.webhook.id, createWebhook.webhook);
    render();
    byId('webhook-secret-value').textContent = createWebhook.secret;
    byId('webhook-secret-once').hidden = false;
    form.reset();
  } catch (error) {
    showErrors(form, error, 'input');
  }
});
byId('webhooks-refresh').addEventListener('click', () => void load());
byId('dismiss-webhook-secret').addEventListener('click', () => {
  byId('webhook-secret-value').textContent = '';
  byId('webhook-secret-once').hidden = true;
});

/** After connecting: the view shows only for a key with webhooks:read; adding and changing need webhooks:write. */
export function setUpWebhooks(): void {
  hooks.clear();
  byId('webhooks').replaceChildren();
  byId('webhook-secret-value').textContent = '';
  byId('webhook-secret-once').hidden = true;
  const readable = holds('webhooks:read');
  byId('webhooks-panel').hidden = !readable;
  byId('webhook-create').hidden = !holds('webhooks:write');
  if (!byId('webhook-types').childElementCount) {
    byId('webhook-types').replaceChildren(
      ...EVENT_TYPES.map((type, i) => el('label', { class: 'scope' }, el('input', { type: 'checkbox', value: type, id: `webhook-type-${i}` }), ` ${type}`)),
    );
  }
  if (readable) void load();
}
