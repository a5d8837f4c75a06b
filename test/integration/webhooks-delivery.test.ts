import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.js';
import { CREATE_WEBHOOK, startReceiver, WEBHOOK_ENV, type Receiver } from '../helpers/webhook-receiver.js';

const WEBHOOK = 'query($m: String) { webhooks(merchantId: $m, first: 1) { edges { node { id status lastDeliveredEventId lastError deliveries(first: 8) { totalCount edges { node { eventId attempt httpStatus error } } } } } } }';

async function createWebhook(server: TestServer, receiver: Receiver, input: Record<string, unknown>, key = server.adminKey) {
  const result = await server.gql(CREATE_WEBHOOK, { input: { url: receiver.url, types: ['KEY_USED'], ...input } }, key);
  const payload = result.body.data?.createWebhook;
  if (!payload) throw new Error(`createWebhook failed: ${JSON.stringify(result.body.errors)}`);
  receiver.setSecret(payload.secret);
  return payload.webhook as { id: string; merchantId: string | null };
}

/** Appends `count` KEY_USED events of `merchantId` and returns their ids once written, in order. */
async function emit(server: TestServer, merchantId: string, count: number, tag: string): Promise<string[]> {
  const { ledger, db } = server.app.services;
  for (let n = 0; n < count; n++) ledger.append({ type: 'KEY_USED', merchantId, operationName: tag, metadata: { n } });
  await ledger.flush();
  const rows = await db.fork().getConnection().execute(`select id from audit_event where operation_name = '${tag}' order by id`);
  return rows.map((row) => String((row as { id: number | string }).id));
}

async function webhookState(server: TestServer, merchantId: string | null) {
  const result = await server.gql(WEBHOOK, { m: merchantId });
  return result.body.data.webhooks.edges[0].node;
}

describe('webhook delivery', () => {
  let server: TestServer;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { ...WEBHOOK_ENV, WEBHOOK_RETRY_SCHEDULE: '50' } });
  });
  afterAll(async () => {
    await server.stop();
    for (const receiver of receivers) await receiver.close();
  });

  it('delivers 1,000 events in id order, each signed (verified with standardwebhooks) and with its own stable webhook-id', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const before = await emit(server, 'm_order', 5, 'before-order');
    const webhook = await createWebhook(server, receiver, { merchantId: 'm_order' });
    const ids = await emit(server, 'm_order', 1_000, 'order');
    await waitFor(() => receiver.acknowledged().length >= 1_000, 240_000, 100);
    expect(receiver.acknowledged()).toEqual(ids);
    expect(receiver.badSignatures).toBe(0);
    expect(ids.some((id) => before.includes(id))).toBe(false);
    expect(receiver.received.map((r) => r.body.data.metadata.n)).toEqual(ids.map((_, n) => n));
    expect(new Set(receiver.received.map((r) => r.messageId)).size).toBe(1_000);
    const first = receiver.received[0]!;
    expect(first.body).toMatchObject({ type: 'KEY_USED', timestamp: expect.any(String), data: { id: ids[0], type: 'KEY_USED', merchantId: 'm_order' } });
    const state = await waitFor(async () => {
      const node = await webhookState(server, 'm_order');
      return node.lastDeliveredEventId === ids.at(-1) && node;
    });
    expect(state).toMatchObject({ id: webhook.id, status: 'ACTIVE', lastError: null });
    // The attempts kept per endpoint are bounded (WEBHOOK_DELIVERIES_KEPT, 100 by default).
    expect(state.deliveries.totalCount).toBe(100);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/keyring_webhook_deliveries_total\{outcome="delivered"\} \d{4}/);
    expect(metrics).toContain('keyring_webhook_lag_events');
    expect(metrics).toContain('keyring_webhook_delivery_duration_seconds_bucket');
  }, 300_000);

  it('a receiver that fails 3 times then recovers gets everything exactly in order; the failed event is retried with the same webhook-id', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    await createWebhook(server, receiver, { merchantId: 'm_retry' });
    receiver.failNext(3);
    const ids = await emit(server, 'm_retry', 3, 'retry');
    await waitFor(() => receiver.acknowledged().length >= 3, 60_000);
    expect(receiver.acknowledged()).toEqual(ids);
    expect(receiver.received.slice(0, 4).map((r) => [r.eventId, r.status])).toEqual([
      [ids[0], 500],
      [ids[0], 500],
      [ids[0], 500],
      [ids[0], 204],
    ]);
    expect(new Set(receiver.received.slice(0, 4).map((r) => r.messageId)).size).toBe(1);
    const state = await waitFor(async () => {
      const node = await webhookState(server, 'm_retry');
      return node.lastDeliveredEventId === ids.at(-1) && node;
    });
    expect(state.status).toBe('ACTIVE');
    const attempts = state.deliveries.edges.map((edge: any) => edge.node).filter((node: any) => node.eventId === ids[0]);
    expect(attempts.map((node: any) => [node.attempt, node.httpStatus, node.error])).toEqual([
      [4, 204, null],
      [3, 500, 'HTTP 500'],
      [2, 500, 'HTTP 500'],
      [1, 500, 'HTTP 500'],
    ]);
  }, 30_000);

  it('does not follow a redirect: a 302 is a failed attempt, retried like any other', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    await createWebhook(server, receiver, { merchantId: 'm_redirect' });
    receiver.failNext(1, 302);
    const ids = await emit(server, 'm_redirect', 1, 'redirect');
    await waitFor(() => receiver.acknowledged().length >= 1, 60_000);
    expect(receiver.received.map((r) => [r.eventId, r.status])).toEqual([
      [ids[0], 302],
      [ids[0], 204],
    ]);
    const state = await waitFor(async () => {
      const node = await webhookState(server, 'm_redirect');
      return node.lastDeliveredEventId === ids[0] && node;
    });
    expect(state.deliveries.edges.map((edge: any) => [edge.node.attempt, edge.node.httpStatus, edge.node.error])).toEqual([
      [2, 204, null],
      [1, 302, 'HTTP 302'],
    ]);
  }, 30_000);

  it("tenancy: merchant A's endpoint gets A's events only; an admin's endpoint (merchantId null) gets every merchant's", async () => {
    const own = await startReceiver();
    const all = await startReceiver();
    receivers.push(own, all);
    const writer = await createKeyFor(server, 'm_tenant_a', ['webhooks:write', 'webhooks:read']);
    const mine = await createWebhook(server, own, { types: ['KEY_USED'] }, writer);
    expect(mine.merchantId).toBe('m_tenant_a');
    const everyone = await createWebhook(server, all, { types: ['KEY_USED'] });
    expect(everyone.merchantId).toBeNull();
    const a = await emit(server, 'm_tenant_a', 5, 'tenant-a');
    const b = await emit(server, 'm_tenant_b', 5, 'tenant-b');
    // Both endpoints also get the KEY_USED of the keys' own requests (the admin's, the writer's): wait for these ids, not a count.
    const has = (receiver: Receiver, ids: readonly string[]) => ids.every((id) => receiver.acknowledged().includes(id));
    await waitFor(() => has(own, a) && has(all, [...a, ...b]), 20_000);
    const extra = await emit(server, 'm_tenant_a', 1, 'tenant-a-last');
    await waitFor(() => own.acknowledged().includes(extra[0]!), 20_000);
    // The writer key's own requests are m_tenant_a's KEY_USED events too: delivered as well.
    expect(own.acknowledged().filter((id) => [...a, ...b, ...extra].includes(id))).toEqual([...a, ...extra]);
    expect(own.received.every((r) => r.merchantId === 'm_tenant_a')).toBe(true);
    expect(all.acknowledged().filter((id) => [...a, ...b].includes(id))).toEqual([...a, ...b].sort((x, y) => Number(x) - Number(y)));
  }, 30_000);
});

describe('webhook disabled after failing past WEBHOOK_DISABLE_AFTER_MS', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServer({ env: { ...WEBHOOK_ENV, WEBHOOK_RETRY_SCHEDULE: '50', WEBHOOK_DISABLE_AFTER_MS: '400' } });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.stop();
    await receiver.close();
  });

  it('ends DISABLED with a WEBHOOK_DISABLED event; enabled again it resumes after lastDeliveredEventId', async () => {
    const webhook = await createWebhook(server, receiver, { merchantId: 'm_down' });
    const first = await emit(server, 'm_down', 1, 'down-1');
    await waitFor(() => receiver.acknowledged().length === 1, 10_000);
    receiver.setDown(true);
    const later = await emit(server, 'm_down', 3, 'down-2');
    const disabled = await waitFor(async () => {
      const node = await webhookState(server, 'm_down');
      return node.status === 'DISABLED' && node;
    }, 15_000);
    expect(disabled).toMatchObject({ lastDeliveredEventId: first[0], lastError: 'HTTP 503' });
    const events = await server.gql('{ auditEvents(filter: { types: [WEBHOOK_DISABLED] }) { edges { node { type merchantId metadata } } } }');
    expect(events.body.data.auditEvents.edges.map((edge: any) => edge.node)).toEqual([
      expect.objectContaining({ type: 'WEBHOOK_DISABLED', merchantId: 'm_down', metadata: expect.objectContaining({ webhookId: webhook.id, eventId: later[0] }) }),
    ]);
    const tried = receiver.received.length;
    expect(receiver.received.slice(1).every((r) => r.eventId === later[0] && r.status === 503)).toBe(true);

    receiver.setDown(false);
    const enabled = await server.gql('mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: true }) { status } }', { id: webhook.id });
    expect(enabled.body.data.updateWebhook.status).toBe('ACTIVE');
    await waitFor(() => receiver.acknowledged().length === 4, 10_000);
    expect(receiver.acknowledged()).toEqual([...first, ...later]);
    expect(receiver.received.length).toBe(tried + 3);
  }, 30_000);
});

async function createKeyFor(server: TestServer, merchantId: string, scopes: string[]): Promise<string> {
  const result = await server.gql('mutation($input: CreateKeyInput!) { createKey(input: $input) { secret } }', {
    input: { merchantId, name: 'hooks', type: 'SECRET', scopes },
  });
  return result.body.data.createKey.secret;
}
