import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/child.js';

const CREATE = 'mutation($n: String!) { createKey(input: { merchantId: "crash", name: $n, type: SECRET, scopes: [] }) { key { id } } }';

async function post(url: string, key: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as any;
}

describe('crash safety', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-crash-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`, RATE_LIMIT: '100000', IP_RATE_LIMIT: '100000' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loses no acknowledged write when killed with SIGKILL mid-load', async () => {
    const first = await spawnServer(env);
    const adminKey = first.adminKey!;
    expect(adminKey).toMatch(/^sk_live_/);
    const acknowledged: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const body = await post(first.url, adminKey, CREATE, { n: `w${w}-${i}` });
          if (body.data?.createKey) acknowledged.push(body.data.createKey.key.id);
        } catch {
          return; // the connection died with the server
        }
      }
    });
    // let the load run, then kill the process without warning
    const deadline = Date.now() + 10_000;
    while (acknowledged.length < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    await first.exited;
    stop = true;
    await Promise.all(writers);
    expect(acknowledged.length).toBeGreaterThan(20);

    const second = await spawnServer(env);
    try {
      expect(second.adminKey).toBeNull();
      const db = new Database(join(dir, 'keyring.db'), { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        const ids = new Set((db.prepare("select id from api_key where merchant_id = 'crash'").all() as Array<{ id: string }>).map((r) => r.id));
        for (const id of acknowledged) expect(ids.has(id), id).toBe(true);
        // every created key has its KEY_CREATED event, written in the same transaction
        const created = new Set(
          (db.prepare("select key_id from audit_event where type = 'KEY_CREATED' and merchant_id = 'crash'").all() as Array<{ key_id: string }>).map((r) => r.key_id),
        );
        expect(created).toEqual(ids);
        const eventIds = (db.prepare('select id from audit_event order by id').all() as Array<{ id: number }>).map((r) => Number(r.id));
        expect(eventIds.length).toBeGreaterThan(acknowledged.length);
        eventIds.forEach((id, index) => expect(id).toBe(index + 1)); // no gap, no repeat
      } finally {
        db.close();
      }
      // the service works on the recovered file
      const viewer = await post(second.url, adminKey, '{ viewer { keyId } }', {});
      expect(viewer.data.viewer.keyId).toBeTruthy();
    } finally {
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }
  });
});
