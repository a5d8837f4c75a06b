import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onServer } from '../../src/db/orm.js';
import { childGql, spawnServer, type ChildServer } from '../helpers/child.js';
import { deleteRedisKeys } from '../helpers/redis.js';
import { scaleBackendsAvailable, TEST_REDIS_URL } from '../helpers/scale.js';
import { TEST_POSTGRES_URL, waitFor } from '../helpers/server.js';
import { CREATE_WEBHOOK, startReceiver, WEBHOOK_ENV, type Receiver } from '../helpers/webhook-receiver.js';

const CREATE = 'mutation($n: String!) { createKey(input: { merchantId: "m_scale_hooks", name: $n, type: SECRET, scopes: [] }) { key { id } } }';
const IDS = '{ auditEvents(first: 100, order: ASC, filter: { types: [KEY_CREATED], merchantId: "m_scale_hooks" }) { edges { node { id } } } }';

/**
 * Two instances as processes of their own on one PostgreSQL database (made for this run) and one
 * Redis prefix: each event reaches the endpoint once, and when the instance delivering it is
 * killed (SIGKILL: no lease released), the other takes over once the lease has run out.
 */
describe('webhooks on two instances (PostgreSQL + Redis)', async () => {
  const available = await scaleBackendsAvailable('scale-webhooks');
  const database = `wh_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const prefix = `keyring-webhooks-${randomUUID()}:`;
  const children: ChildServer[] = [];
  let receiver: Receiver;
  beforeAll(async () => {
    if (!available) return;
    await onServer(TEST_POSTGRES_URL, `create database "${database}"`);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    if (!available) return;
    for (const child of children) child.child.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exited));
    await receiver.close();
    await onServer(TEST_POSTGRES_URL, `drop database if exists "${database}"`);
    await deleteRedisKeys(TEST_REDIS_URL, prefix);
  });

  it.skipIf(!available)('each event is delivered once; after the holder is killed the other instance takes over and resumes', async () => {
    const env = {
      ...WEBHOOK_ENV,
      DATABASE_URL: TEST_POSTGRES_URL.replace(/\/[^/]*$/, `/${database}`),
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      LEDGER_FLUSH_MS: '10',
      WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
    };
    const a = await spawnServer(env);
    const b = await spawnServer(env);
    children.push(a, b);
    const admin = a.adminKey!;
    const created = await childGql(a, admin, CREATE_WEBHOOK, { input: { merchantId: 'm_scale_hooks', url: receiver.url, types: ['KEY_CREATED'] } });
    receiver.setSecret(created.data.createWebhook.secret);
    for (let n = 0; n < 20; n++) expect((await childGql(n % 2 ? b : a, admin, CREATE, { n: `k${n}` })).errors).toBeUndefined();
    const before: string[] = (await childGql(a, admin, IDS)).data.auditEvents.edges.map((edge: any) => edge.node.id);
    expect(before).toHaveLength(20);
    await waitFor(() => before.every((id) => receiver.acknowledged().includes(id)), 30_000, 50);
    expect(receiver.received.map((r) => r.eventId)).toEqual(before);

    const claimed = (child: ChildServer) => child.stdout.some((line) => line.includes('"webhook endpoint claimed"'));
    const holder = [a, b].find(claimed)!;
    const survivor = holder === a ? b : a;
    expect(claimed(survivor)).toBe(false);
    const held = receiver.holdArrival(1);
    expect((await childGql(survivor, admin, CREATE, { n: 'in flight' })).errors).toBeUndefined();
    await held.arrived;
    holder.child.kill('SIGKILL');
    await holder.exited;
    held.release();
    for (let n = 0; n < 5; n++) expect((await childGql(survivor, admin, CREATE, { n: `after ${n}` })).errors).toBeUndefined();
    const all: string[] = (await childGql(survivor, admin, IDS)).data.auditEvents.edges.map((edge: any) => edge.node.id);
    expect(all).toHaveLength(26);
    // Taken over once the killed holder's lease (1 s here; 15 s by default) ran out: well within 30 s.
    await waitFor(() => all.every((id) => receiver.acknowledged().includes(id)), 30_000, 50);
    // The survivor's log line says it claimed the endpoint (a log line can reach stdout after the delivery it preceded).
    expect(await waitFor(() => claimed(survivor), 5_000, 20)).toBe(true);
    // Once each, but the event in flight at the kill, which the survivor sends again.
    expect(receiver.received.map((r) => r.eventId)).toEqual([...all.slice(0, 21), ...all.slice(20)]);
    expect(receiver.badSignatures).toBe(0);
  }, 120_000);
});
