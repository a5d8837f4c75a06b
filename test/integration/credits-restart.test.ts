import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { childGql, spawnServer } from '../helpers/child.js';

const VERIFY = 'query($key: String!, $cost: Int) { verifyKey(key: $key, cost: $cost) { code credits } }';

/** The spend is on the ledger: a SIGTERM flushes it, and the next start counts on from the stored number (and the stored grant). */
describe('credits across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-credits-'));
  const file = join(dir, 'keyring.db');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('SIGTERM and a restart keep the count exactly, and the grant CREDITS_LOW measures against', async () => {
    // A long flush interval: every spend is still unwritten when SIGTERM arrives.
    const env = { DATABASE_URL: `sqlite:${file}`, RATE_LIMIT: '100000', LEDGER_FLUSH_MS: '10000' };
    const first = await spawnServer(env);
    const admin = first.adminKey!;
    const created = await childGql(first, admin, 'mutation($input: CreateKeyInput!) { createKey(input: $input) { secret key { id } } }', {
      input: { name: 'counted', type: 'SECRET', scopes: [], credits: { remaining: 50 } },
    });
    const { secret, key } = created.data.createKey;
    const spent = await Promise.all(Array.from({ length: 30 }, () => childGql(first, admin, VERIFY, { key: secret, cost: 1 })));
    expect(spent.every((r) => r.data.verifyKey.code === 'VALID')).toBe(true);
    const own = await childGql(first, secret, '{ viewer { credits { remaining } } }');
    expect(own.data.viewer.credits.remaining).toBe(19);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);

    const lows = () => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare("select metadata from audit_event where key_id = ? and type = 'CREDITS_LOW'").all(key.id) as Array<{ metadata: string }>).map((row) =>
          JSON.parse(row.metadata),
        );
      } finally {
        db.close();
      }
    };
    const db = new Database(file, { readonly: true });
    const row = db.prepare('select credits_remaining, credits_granted from api_key where id = ?').get(key.id) as { credits_remaining: number; credits_granted: number };
    db.close();
    expect(row).toEqual({ credits_remaining: 19, credits_granted: 50 });
    // 19 of a grant of 50 is not low yet.
    expect(lows()).toEqual([]);

    const second = await spawnServer(env);
    try {
      expect((await childGql(second, admin, VERIFY, { key: secret, cost: 0 })).data.verifyKey).toEqual({ code: 'VALID', credits: 19 });
      expect((await childGql(second, admin, VERIFY, { key: secret, cost: 20 })).data.verifyKey).toEqual({ code: 'USAGE_EXCEEDED', credits: 19 });
      // The grant was stored: crossing 10 % of 50 after the restart sends CREDITS_LOW, measured against it.
      expect((await childGql(second, admin, VERIFY, { key: secret, cost: 19 })).data.verifyKey).toEqual({ code: 'VALID', credits: 0 });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    expect(lows()).toEqual([{ remaining: 0, granted: 50 }]);
  });
});
