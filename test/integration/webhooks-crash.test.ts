import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childGql, spawnServer, type ChildServer } from '../helpers/child.js';
import { waitFor } from '../helpers/server.js';
import { CREATE_WEBHOOK, startReceiver, WEBHOOK_ENV } from '../helpers/webhook-receiver.js';

const CREATE = 'mutation($n: String!) { createKey(input: { merchantId: "m_crash", name: $n, type: SECRET, scopes: [] }) { key { id } } }';

describe('webhook delivery across a SIGKILL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-webhook-crash-'));
  const children: ChildServer[] = [];
  afterAll(() => {
    for (const child of children) child.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes from the last acknowledged event: nothing missing, duplicates only of the event in flight at the kill', async () => {
    const env = { ...WEBHOOK_ENV, DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`, LEDGER_FLUSH_MS: '10' };
    const receiver = await startReceiver();
    const first = await spawnServer(env);
    children.push(first);
    const admin = first.adminKey!;
    const created = await childGql(first, admin, CREATE_WEBHOOK, { input: { merchantId: 'm_crash', url: receiver.url, types: ['KEY_CREATED'] } });
    receiver.setSecret(created.data.createWebhook.secret);
    const held = receiver.holdArrival(5);
    for (let n = 0; n < 10; n++) expect((await childGql(first, admin, CREATE, { n: `before ${n}` })).errors).toBeUndefined();
    await held.arrived;
    first.child.kill('SIGKILL');
    await first.exited;
    held.release();

    const second = await spawnServer(env);
    children.push(second);
    for (let n = 0; n < 3; n++) expect((await childGql(second, admin, CREATE, { n: `after ${n}` })).errors).toBeUndefined();
    const stored = await childGql(second, admin, '{ auditEvents(first: 100, order: ASC, filter: { types: [KEY_CREATED], merchantId: "m_crash" }) { edges { node { id } } } }');
    const ids: string[] = stored.data.auditEvents.edges.map((edge: any) => edge.node.id);
    expect(ids).toHaveLength(13);
    await waitFor(() => ids.every((id) => receiver.acknowledged().includes(id)), 30_000, 50);
    const arrivals = receiver.received.map((r) => r.eventId);
    // In order, with the one event in flight at the kill (the 5th) delivered again after the restart.
    expect(arrivals).toEqual([...ids.slice(0, 5), ...ids.slice(4)]);
    expect(receiver.badSignatures).toBe(0);
    second.child.kill('SIGTERM');
    await second.exited;
    await receiver.close();
  }, 120_000);
});
