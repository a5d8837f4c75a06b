import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnServer, type ChildServer } from '../helpers/child.js';
import { fileURLToPath } from 'node:url';

/** Bounded soak: `npm run test:soak` (SOAK_SECONDS, default 120; warm-up is a quarter of it). */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const PROBE = fileURLToPath(new URL('./gc-probe.mjs', import.meta.url));

/** The server's live heap after a full GC (the probe answers SIGUSR2 on stderr). */
async function liveHeap(server: ChildServer): Promise<{ heapUsed: number; rss: number }> {
  const seen = server.stderr.length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const line = server.stderr.slice(seen).join('').split('\n').find((l) => l.startsWith('gc-probe '));
    if (line) return JSON.parse(line.slice('gc-probe '.length));
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the gc probe did not answer');
}

describe('soak', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-soak-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`holds steady for ${SECONDS}s of load with key churn and subscribers coming and going`, { timeout: (SECONDS + 60) * 1000 }, async () => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`, RATE_LIMIT: '100000', IP_RATE_LIMIT: '100000', NODE_OPTIONS: `--expose-gc --import=${PROBE}` });
    const admin = server.adminKey!;
    const counts = { http: 0, fivexx: 0, subscribes: 0, created: 0, revoked: 0, errors: [] as string[] };
    const gql = async (key: string, query: string, variables: Record<string, unknown> = {}) => {
      const res = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables }),
      });
      counts.http += 1;
      if (res.status >= 500) counts.fivexx += 1;
      const body = (await res.json()) as any;
      if (body.errors) counts.errors.push(JSON.stringify(body.errors[0]));
      return body.data;
    };
    const end = Date.now() + SECONDS * 1000;
    const churn = async () => {
      while (Date.now() < end) {
        // Short windows: a key's limiter state lives one window, so warm-up covers its whole lifetime.
        const made = await gql(admin, 'mutation { createKey(input: { merchantId: "soak", name: "churn", type: SECRET, scopes: ["audit:read"], rateLimit: { limit: 1000, windowSeconds: 5 } }) { secret key { id } } }');
        counts.created += 1;
        for (let i = 0; i < 5; i++) await gql(made.createKey.secret, '{ viewer { keyId } }');
        await gql(admin, 'mutation($id: ID!) { revokeKey(id: $id) { status } }', { id: made.createKey.key.id });
        counts.revoked += 1;
      }
    };
    const subscribers = async () => {
      while (Date.now() < end) {
        const client = createClient({ url: server.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${admin}` }, retryAttempts: 0 });
        let received = 0;
        const dispose = client.subscribe({ query: 'subscription { auditEvents(types: [KEY_REVOKED]) { id } }' }, { next: () => void (received += 1), error: (e) => counts.errors.push(`ws ${JSON.stringify(e)}`), complete: () => {} });
        counts.subscribes += 1;
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
        dispose();
        await client.dispose();
      }
    };
    let warm = { heapUsed: 0, rss: 0 };
    const warmUp = new Promise<void>((resolve) => setTimeout(() => void liveHeap(server).then((m) => resolve(void (warm = m))), (SECONDS * 1000) / 4));
    await Promise.all([...Array.from({ length: 6 }, churn), ...Array.from({ length: 4 }, subscribers), warmUp]);
    const final = await liveHeap(server);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);

    expect(counts.errors).toEqual([]);
    expect(counts.fivexx).toBe(0);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    console.info(
      `[soak] ${counts.http} requests, ${counts.subscribes} subscriptions; live heap after warm-up ${mib(warm.heapUsed)} → end ${mib(final.heapUsed)} (rss ${mib(warm.rss)} → ${mib(final.rss)})`,
    );
    // memory at the end within 20% of memory after warm-up, measured as the live heap after a full GC
    expect(final.heapUsed).toBeLessThanOrEqual(warm.heapUsed * 1.2);
    const db = new Database(join(dir, 'keyring.db'), { readonly: true });
    try {
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      // one KEY_USED per authenticated HTTP request and per subscribe; one lifecycle event per change
      expect(count("select count(*) n from audit_event where type = 'KEY_USED'")).toBe(counts.http + counts.subscribes);
      expect(count("select count(*) n from audit_event where type = 'KEY_CREATED' and merchant_id = 'soak'")).toBe(counts.created);
      expect(count("select count(*) n from audit_event where type = 'KEY_REVOKED' and merchant_id = 'soak'")).toBe(counts.revoked);
    } finally {
      db.close();
    }
  });
});
