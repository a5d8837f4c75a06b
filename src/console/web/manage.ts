// Key management through the public API: create (credits, metadata and allowlist included; the
// secret shown once), edit (updateKey, grantCredits), disable, enable, revoke and rotate, each
// confirmed, each coded error shown next to the field it concerns.
// Further actions slot in as entries of ROW_ACTIONS and fields of the create form.
import { describe, request } from './api.js';
import { byId, el } from './dom.js';
import type {
  ConsoleCreateKeyMutation,
  ConsoleCreateKeyMutationVariables,
  ConsoleDisableKeyMutation,
  ConsoleEnableKeyMutation,
  ConsoleRevokeKeyMutation,
  ConsoleRotateKeyMutation,
  ConsoleScopesQuery,
  ConsoleGrantCreditsMutation,
  ConsoleGrantCreditsMutationVariables,
  ConsoleUpdateKeyMutation,
  ConsoleUpdateKeyMutationVariables,
  CreateKeyInput,
  UpdateKeyInput,
} from './graphql.js';
import { clearErrors, showErrors } from './form-errors.js';
import { creditsInput, creditsWords, parseIps, parseMetadata, refuse } from './key-fields.js';
import { putKey, renderKeys, setRowActions } from './keys.js';
import { CREATE_KEY, DISABLE_KEY, ENABLE_KEY, GRANT_CREDITS, REVOKE_KEY, ROTATE_KEY, SCOPES, UPDATE_KEY } from './operations.js';
import { holds, state, type Key } from './state.js';
import { setUpWebhooks } from './webhooks.js';

function showSecret(secret: string): void {
  byId('secret-value').textContent = secret;
  byId('copy-result').textContent = '';
  byId('secret-once').hidden = false;
}

byId('copy-secret').addEventListener('click', () => {
  // navigator.clipboard exists on secure origins only (https, localhost).
  const clipboard: Clipboard | undefined = navigator.clipboard;
  if (!clipboard) {
    byId('copy-result').textContent = 'This browser offers no clipboard here (not https): select the value and copy it.';
    return;
  }
  clipboard.writeText(byId('secret-value').textContent ?? '').then(
    () => (byId('copy-result').textContent = 'Copied.'),
    () => (byId('copy-result').textContent = 'The browser refused: select the value and copy it.'),
  );
});
byId('dismiss-secret').addEventListener('click', () => {
  byId('secret-value').textContent = '';
  byId('secret-once').hidden = true;
});

const numberOrNull = (input: HTMLInputElement) => (input.value.trim() === '' ? null : Number(input.value));

function createInput(): CreateKeyInput {
  const get = (id: string) => byId<HTMLInputElement>(id);
  const problems: Array<{ field: string; message: string }> = [];
  const metadata = parseMetadata(get('create-metadata').value, 'input.metadata', problems);
  refuse(problems);
  const credits = creditsInput('create');
  const allowedIps = parseIps(get('create-allowed-ips').value);
  const limit = numberOrNull(get('create-limit'));
  const windowSeconds = numberOrNull(get('create-window'));
  const expires = get('create-expires').value;
  return {
    name: get('create-name').value,
    type: get('create-type').value as CreateKeyInput['type'],
    environment: get('create-environment').value as CreateKeyInput['environment'],
    scopes: [...byId('create-scopes').querySelectorAll<HTMLInputElement>('input:checked')].map((box) => box.value),
    ...(get('create-merchant').value.trim() ? { merchantId: get('create-merchant').value.trim() } : {}),
    ...(limit !== null || windowSeconds !== null ? { rateLimit: { limit: limit ?? 30, windowSeconds: windowSeconds ?? 60 } } : {}),
    ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}),
    ...(credits ? { credits } : {}),
    ...(metadata ? { metadata } : {}),
    ...(allowedIps.length ? { allowedIps } : {}),
  };
}

byId<HTMLFormElement>('create').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = byId<HTMLFormElement>('create');
  clearErrors(form);
  try {
    const input = createInput();
    const { createKey } = await request<ConsoleCreateKeyMutation, ConsoleCreateKeyMutationVariables>(CREATE_KEY, { input });
    putKey(createKey.key);
    showSecret(createKey.secret);
    form.reset();
  } catch (error) {
    showErrors(form, error, 'input');
  }
});

/** The scope catalogue, once loaded: the edit form offers it. */
let catalogue: Array<{ name: string; description: string }> = [];

async function loadScopes(): Promise<void> {
  const box = byId('create-scopes');
  try {
    const { scopes } = await request<ConsoleScopesQuery, object>(SCOPES, {});
    catalogue = scopes;
    box.replaceChildren(
      ...scopes.map((scope, i) =>
        el('label', { class: 'scope', title: scope.description }, el('input', { type: 'checkbox', value: scope.name, id: `scope-${i}` }), ` ${scope.name}`),
      ),
    );
  } catch (error) {
    box.replaceChildren(el('span', { class: 'error' }, describe(error)));
  }
}

interface RowAction {
  label: string;
  /** Whether the action applies to a key in this state. */
  applies(key: Key): boolean;
  title(key: Key): string;
  text: string;
  fields: ReadonlyArray<'reason' | 'grace'>;
  /** Confirmed in the action dialog, then run... */
  run?(key: Key, values: { reason: string | null; grace: number | null }): Promise<{ key: Key; secret?: string }>;
  /** ...or opens a form of its own instead. */
  form?(key: Key): void;
}

const ROW_ACTIONS: readonly RowAction[] = [
  {
    label: 'Edit',
    applies: (key) => key.status !== 'REVOKED',
    title: (key) => `Edit ${key.name}`,
    text: '',
    fields: [],
    form: (key) => openEdit(key),
  },
  {
    label: 'Disable',
    applies: (key) => key.status === 'ACTIVE',
    title: (key) => `Disable ${key.name}?`,
    text: 'It stops authenticating until it is enabled again.',
    fields: ['reason'],
    run: async (key, { reason }) => ({ key: (await request<ConsoleDisableKeyMutation, object>(DISABLE_KEY, { id: key.id, reason })).disableKey }),
  },
  {
    label: 'Enable',
    applies: (key) => key.status === 'DISABLED',
    title: (key) => `Enable ${key.name}?`,
    text: 'It authenticates again.',
    fields: [],
    run: async (key) => ({ key: (await request<ConsoleEnableKeyMutation, object>(ENABLE_KEY, { id: key.id })).enableKey }),
  },
  {
    label: 'Rotate',
    applies: (key) => key.status === 'ACTIVE',
    title: (key) => `Rotate ${key.name}?`,
    text: 'A new key with the same settings is created; the old one expires after the grace period.',
    fields: ['grace'],
    run: async (key, { grace }) => {
      const { rotateKey } = await request<ConsoleRotateKeyMutation, object>(ROTATE_KEY, { id: key.id, grace });
      return { key: rotateKey.key, secret: rotateKey.secret };
    },
  },
  {
    label: 'Revoke',
    applies: (key) => key.status !== 'REVOKED',
    title: (key) => `Revoke ${key.name}?`,
    text: 'Revoking is final: the key never authenticates again.',
    fields: ['reason'],
    run: async (key, { reason }) => ({ key: (await request<ConsoleRevokeKeyMutation, object>(REVOKE_KEY, { id: key.id, reason })).revokeKey }),
  },
];

let pending: { action: RowAction; key: Key } | null = null;

function openAction(action: RowAction, key: Key): void {
  if (action.form) return action.form(key);
  pending = { action, key };
  const form = byId<HTMLFormElement>('action-form');
  clearErrors(form);
  form.reset();
  byId('action-title').textContent = action.title(key);
  byId('action-text').textContent = action.text;
  byId('action-confirm').textContent = action.label;
  byId('action-reason-field').hidden = !action.fields.includes('reason');
  byId('action-grace-field').hidden = !action.fields.includes('grace');
  byId<HTMLDialogElement>('action-dialog').showModal();
}

byId('action-cancel').addEventListener('click', () => byId<HTMLDialogElement>('action-dialog').close());
byId<HTMLFormElement>('action-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!pending) return;
  const form = byId<HTMLFormElement>('action-form');
  clearErrors(form);
  const reason = byId<HTMLInputElement>('action-reason').value.trim() || null;
  const grace = numberOrNull(byId<HTMLInputElement>('action-grace'));
  const { action, key } = pending;
  try {
    const result = await action.run!(key, { reason, grace });
    pending = null;
    byId<HTMLDialogElement>('action-dialog').close();
    putKey(result.key);
    if (result.secret) showSecret(result.secret);
  } catch (error) {
    showErrors(form, error, 'id');
  }
});

function rowActions(key: Key): Node | null {
  if (!holds('keys:write')) return null;
  const buttons = ROW_ACTIONS.filter((action) => action.applies(key)).map((action) => {
    const button = el('button', { type: 'button', class: `action action-${action.label.toLowerCase()}`, 'aria-label': `${action.label} ${key.name}` }, action.label);
    button.addEventListener('click', () => openAction(action, key));
    return button;
  });
  return buttons.length ? el('span', { class: 'row-actions' }, ...buttons) : el('span', { class: 'muted' }, '—');
}

/** After connecting: management is on for a key with keys:write, and says why not otherwise. */
export function setUpManagement(): void {
  byId('secret-value').textContent = '';
  byId('secret-once').hidden = true;
  const allowed = holds('keys:write');
  byId<HTMLFieldSetElement>('create-fields').disabled = !allowed;
  byId('merchant-field').hidden = !state.viewer?.admin;
  byId('keys-table').classList.toggle('manage', allowed);
  byId('manage-note').textContent = !state.viewer
    ? 'Connect with a key to manage keys.'
    : allowed
      ? ''
      : 'Management is disabled: this key does not hold the keys:write scope. Connect with a key that holds keys:write to create, edit, disable, enable, revoke or rotate keys.';
  byId('manage-note').hidden = allowed;
  setRowActions(rowActions);
  renderKeys();
  if (allowed) void loadScopes();
  setUpWebhooks();
}

const pad = (n: number) => String(n).padStart(2, '0');
/** An instant as a datetime-local value in the browser's zone. */
function localInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

let editing: Key | null = null;

function openEdit(key: Key): void {
  editing = key;
  const form = byId<HTMLFormElement>('edit-form');
  clearErrors(form);
  form.reset();
  const get = (id: string) => byId<HTMLInputElement>(id);
  byId('edit-title').textContent = `Edit ${key.name}`;
  get('edit-name').value = key.name;
  const names = [...new Set([...catalogue.map((scope) => scope.name), ...key.scopes])];
  byId('edit-scopes').replaceChildren(
    ...names.map((name, i) =>
      el('label', { class: 'scope' }, el('input', { type: 'checkbox', value: name, id: `edit-scope-${i}`, ...(key.scopes.includes(name) ? { checked: '' } : {}) }), ` ${name}`),
    ),
  );
  get('edit-limit').value = String(key.rateLimit.limit);
  get('edit-window').value = String(key.rateLimit.windowSeconds);
  get('edit-expires').value = localInput(key.expiresAt);
  byId<HTMLTextAreaElement>('edit-metadata').value = key.metadata ? JSON.stringify(key.metadata, null, 2) : '';
  byId<HTMLTextAreaElement>('edit-allowed-ips').value = key.allowedIps.join('\n');
  byId('edit-grant-field').hidden = !key.credits;
  byId('edit-credits-now').textContent = creditsWords(key.credits);
  byId<HTMLDialogElement>('edit-dialog').showModal();
}

/** What the form changes: only the fields that differ from the key are sent. */
function editInput(key: Key): UpdateKeyInput {
  const get = (id: string) => byId<HTMLInputElement>(id);
  const problems: Array<{ field: string; message: string }> = [];
  const metadataText = byId<HTMLTextAreaElement>('edit-metadata').value;
  const metadata = parseMetadata(metadataText, 'input.metadata', problems);
  refuse(problems);
  const input: UpdateKeyInput = {};
  const name = get('edit-name').value;
  if (name !== key.name) input.name = name;
  const scopes = [...byId('edit-scopes').querySelectorAll<HTMLInputElement>('input:checked')].map((box) => box.value);
  if (!sameList(scopes, key.scopes)) input.scopes = scopes;
  const limit = numberOrNull(get('edit-limit'));
  const windowSeconds = numberOrNull(get('edit-window'));
  if (limit !== key.rateLimit.limit || windowSeconds !== key.rateLimit.windowSeconds) {
    input.rateLimit = { limit: limit ?? key.rateLimit.limit, windowSeconds: windowSeconds ?? key.rateLimit.windowSeconds };
  }
  const expires = get('edit-expires').value;
  if (expires !== localInput(key.expiresAt)) input.expiresAt = expires ? new Date(expires).toISOString() : null;
  if (JSON.stringify(metadata) !== JSON.stringify(key.metadata ?? null)) input.metadata = metadata;
  const allowedIps = parseIps(byId<HTMLTextAreaElement>('edit-allowed-ips').value);
  if (!sameList(allowedIps, key.allowedIps)) input.allowedIps = allowedIps.length ? allowedIps : null;
  return input;
}

byId('edit-cancel').addEventListener('click', () => byId<HTMLDialogElement>('edit-dialog').close());
byId<HTMLFormElement>('edit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!editing) return;
  const form = byId<HTMLFormElement>('edit-form');
  clearErrors(form);
  let key = editing;
  try {
    const input = editInput(key);
    const grant = byId('edit-grant-field').hidden ? null : numberOrNull(byId<HTMLInputElement>('edit-grant'));
    if (Object.keys(input).length) {
      key = (await request<ConsoleUpdateKeyMutation, ConsoleUpdateKeyMutationVariables>(UPDATE_KEY, { id: key.id, input })).updateKey;
      putKey(key);
      editing = key;
    }
    if (grant !== null) {
      key = (await request<ConsoleGrantCreditsMutation, ConsoleGrantCreditsMutationVariables>(GRANT_CREDITS, { id: key.id, amount: grant })).grantCredits;
      putKey(key);
    }
    editing = null;
    byId<HTMLDialogElement>('edit-dialog').close();
  } catch (error) {
    showErrors(form, error, 'input');
  }
});
