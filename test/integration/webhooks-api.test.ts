import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAddress } from '../../src/webhooks/target-guard.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.js';
import { CREATE_WEBHOOK, startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

/** Names this test resolves itself (no DNS): one private, one that changes its answer after creation. */
const names = new Map<string, string>([
  ['internal.test', '10.0.0.7'],
  ['public.test', '93.184.216.34'],
  ['rebind.test', '93.184.216.34'],
]);
const resolver = async (host: string): Promise<ResolvedAddress[]> => {
  const address = names.get(host);
  if (!address) throw new Error('ENOTFOUND');
  return [{ address, family: 4 }];
};

const code = (result: { body: any }) => result.body.errors?.[0]?.extensions?.code;

describe('webhooks API: SSRF, tenancy, bounds, secrets', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServerWithResolver();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.stop();
    await receiver.close();
  });

  async function startTestServerWithResolver(): Promise<TestServer> {
    return startTestServer({ env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_POLL_MS: '100', WEBHOOK_LEASE_MS: '1000', WEBHOOK_RETRY_SCHEDULE: '100000' }, webhookResolver: resolver });
  }

  async function keyFor(merchantId: string, scopes: string[]): Promise<string> {
    const result = await server.gql('mutation($input: CreateKeyInput!) { createKey(input: $input) { secret } }', { input: { merchantId, name: 'hooks', type: 'SECRET', scopes } });
    return result.body.data.createKey.secret;
  }

  const create = (input: Record<string, unknown>, key?: string) => server.gql(CREATE_WEBHOOK, { input: { types: ['KEY_USED'], ...input } }, key);

  it('refuses loopback, metadata, private (by name) and non-http(s) targets at creation, with BAD_USER_INPUT naming input.url', async () => {
    for (const url of ['http://127.0.0.1/hook', 'http://169.254.169.254/latest/meta-data', 'http://internal.test/hook', 'http://[::1]/x', 'http://[::ffff:10.0.0.1]/x', 'ftp://public.test/x', 'http://user:pw@public.test/x', 'not a url', 'http://nowhere.test/x']) {
      const result = await create({ merchantId: 'm_ssrf', url });
      expect(code(result), url).toBe('BAD_USER_INPUT');
      expect(result.body.errors![0]!.extensions.fields).toEqual(['input.url']);
    }
    const listed = await server.gql('{ webhooks(merchantId: "m_ssrf") { totalCount } }');
    expect(listed.body.data.webhooks.totalCount).toBe(0);
  });

  it('refuses at connect time a name that resolves to a private address after creation (nothing reaches the receiver)', async () => {
    const port = new URL(receiver.url).port;
    const created = await create({ merchantId: 'm_rebind', url: `http://rebind.test:${port}/hook` });
    expect(created.body.data.createWebhook.webhook.status).toBe('ACTIVE');
    receiver.setSecret(created.body.data.createWebhook.secret);
    names.set('rebind.test', '127.0.0.1');
    server.app.services.ledger.append({ type: 'KEY_USED', merchantId: 'm_rebind' });
    const failed = await waitFor(async () => {
      const result = await server.gql('{ webhooks(merchantId: "m_rebind") { edges { node { status lastError deliveries(first: 5) { edges { node { attempt httpStatus error } } } } } } }');
      const node = result.body.data.webhooks.edges[0].node;
      return node.status === 'FAILING' && node;
    }, 20_000);
    expect(failed.lastError).toMatch(/^refused: its host resolves to a loopback address/);
    expect(failed.deliveries.edges[0].node).toMatchObject({ attempt: 1, httpStatus: null });
    expect(receiver.received).toHaveLength(0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/keyring_webhook_deliveries_total\{outcome="refused"\} [1-9]/);
  });

  it('tenancy like keys: a merchant key manages its own endpoints only; the admin endpoint (null) is for admin', async () => {
    const a = await keyFor('m_ten_a', ['webhooks:read', 'webhooks:write']);
    const readOnly = await keyFor('m_ten_a', ['webhooks:read']);
    const mine = await create({ url: 'https://public.test/a' }, a);
    expect(mine.body.data.createWebhook.webhook.merchantId).toBe('m_ten_a');
    const theirs = await create({ merchantId: 'm_ten_b', url: 'https://public.test/b' });
    const admins = await create({ url: 'https://public.test/all' });
    expect(admins.body.data.createWebhook.webhook.merchantId).toBeNull();
    const theirId = theirs.body.data.createWebhook.webhook.id;
    const adminId = admins.body.data.createWebhook.webhook.id;

    expect(code(await create({ merchantId: 'm_ten_b', url: 'https://public.test/x' }, a))).toBe('FORBIDDEN');
    expect(code(await server.gql('{ webhooks(merchantId: "m_ten_b") { totalCount } }', {}, a))).toBe('FORBIDDEN');
    const own = await server.gql('{ webhooks { totalCount edges { node { merchantId } } } }', {}, readOnly);
    expect(own.body.data.webhooks).toMatchObject({ totalCount: 1, edges: [{ node: { merchantId: 'm_ten_a' } }] });
    for (const id of [theirId, adminId]) {
      expect(code(await server.gql('mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { id } }', { id }, a))).toBe('FORBIDDEN');
      expect(code(await server.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id }, a))).toBe('FORBIDDEN');
    }
    expect(code(await create({ url: 'https://public.test/x' }, readOnly))).toBe('FORBIDDEN');
    expect(code(await server.gql('mutation { deleteWebhook(id: "wh_000000000000000000000000") }'))).toBe('NOT_FOUND');
    expect(code(await server.gql('mutation { deleteWebhook(id: "nope") }'))).toBe('NOT_FOUND');
    // PUBLIC and TOKENIZATION keys never hold webhooks:* (CONTRACT §9.5).
    const pub = await server.gql('mutation { createKey(input: { merchantId: "m_ten_a", name: "p", type: PUBLIC, scopes: ["webhooks:read"] }) { secret } }');
    expect(code(pub)).toBe('BAD_USER_INPUT');
    const updated = await server.gql('mutation($id: ID!) { updateWebhook(id: $id, input: { types: [KEY_REVOKED, KEY_CREATED], enabled: false }) { types status } }', { id: theirId });
    expect(updated.body.data.updateWebhook).toEqual({ types: ['KEY_REVOKED', 'KEY_CREATED'], status: 'DISABLED' });
    expect((await server.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id: theirId })).body.data.deleteWebhook).toBe(true);
  });

  it('at most 10 endpoints per merchant; the 11th is BAD_USER_INPUT and nothing is created', async () => {
    for (let n = 0; n < 10; n++) expect(code(await create({ merchantId: 'm_ten', url: `https://public.test/${n}` }))).toBeUndefined();
    const eleventh = await create({ merchantId: 'm_ten', url: 'https://public.test/11' });
    expect(code(eleventh)).toBe('BAD_USER_INPUT');
    expect((await server.gql('{ webhooks(merchantId: "m_ten") { totalCount } }')).body.data.webhooks.totalCount).toBe(10);
  });

  it('input problems are listed together; an invalid cursor is BAD_USER_INPUT; pages follow the cursor', async () => {
    const bad = await create({ merchantId: 'm_input', url: 'ftp://x', types: [], description: 'a\u202eb' });
    expect(bad.body.errors![0]!.extensions.fields).toEqual(['input.url', 'input.types', 'input.description']);
    expect(code(await server.gql('{ webhooks(after: "garbage") { totalCount } }'))).toBe('BAD_USER_INPUT');
    const first = await server.gql('{ webhooks(merchantId: "m_ten", first: 4) { edges { cursor node { id deliveries(after: "x") { totalCount } } } pageInfo { endCursor hasNextPage } } }');
    expect(code(first)).toBe('BAD_USER_INPUT');
    const page = await server.gql('{ webhooks(merchantId: "m_ten", first: 4) { edges { node { id } } pageInfo { endCursor hasNextPage } } }');
    const next = await server.gql('query($after: String) { webhooks(merchantId: "m_ten", first: 100, after: $after) { edges { node { id } } } }', { after: page.body.data.webhooks.pageInfo.endCursor });
    expect(page.body.data.webhooks.pageInfo.hasNextPage).toBe(true);
    expect(next.body.data.webhooks.edges).toHaveLength(6);
  });

  it('the signing secret is whsec_<base64>, shown once, and stored encrypted: never in the database file or the logs', async () => {
    const created = await create({ merchantId: 'm_secret', url: 'https://public.test/s' });
    const secret: string = created.body.data.createWebhook.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = Buffer.from(secret.slice('whsec_'.length), 'base64').toString('latin1');
    const files = [server.dbFile, `${server.dbFile}-wal`].map((file) => { try { return readFileSync(file).toString('latin1'); } catch { return ''; } }).join('');
    expect(files.includes(secret.slice('whsec_'.length))).toBe(false);
    expect(files.includes(body)).toBe(false);
    expect(server.logs.join('\n').includes(secret.slice('whsec_'.length))).toBe(false);
  });
});

