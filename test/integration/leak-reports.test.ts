import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { generateKey } from '../../src/keys/key-material.js';
import type { FeedClient } from '../helpers/feed.js';
import { candidate, leakSigner, postLeaks, type LeakSigner } from '../helpers/leaks.js';
import { subscribedFeed } from '../helpers/scale.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const VIEWER = '{ viewer { keyId } }';
const KEY = 'query($id: ID!) { apiKey(id: $id) { status statusReason } }';
const REVOKE = 'mutation($id: ID!) { revokeKey(id: $id) { status } }';
const REPORT = 'mutation($keys: [String!]!, $url: String, $source: String) { reportLeakedKeys(keys: $keys, url: $url, source: $source) { received } }';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A well-formed key value with its checksum broken. */
const badChecksum = (value: string) => value.slice(0, -1) + (value.endsWith('0') ? '1' : '0');

describe('leak reports: POST /leaks and reportLeakedKeys', () => {
  let github: LeakSigner;
  let stranger: LeakSigner;
  let other: LeakSigner;
  let server: TestServer;
  let off: TestServer;
  const feeds: FeedClient[] = [];

  const events = (keyId: string, type?: string) =>
    server.app.services.db.fork().find(AuditEventEntity, { keyId, ...(type ? { type: type as never } : {}) }, { orderBy: { id: 'asc' } });
  const statusOf = async (id: string, on = server) => (await on.gql(KEY, { id })).body.data.apiKey;

  beforeAll(async () => {
    github = leakSigner();
    stranger = leakSigner();
    other = leakSigner();
    // Several keys in the PEM text (as an env file writes it, with literal \n): any of them may sign.
    const pems = `${other.publicPem}${github.publicPem}`.replaceAll('\n', '\\n');
    server = await startTestServer({ env: { LEAK_REPORT_PUBLIC_KEYS: pems } });
    off = await startTestServer();
  });
  afterAll(async () => {
    await Promise.allSettled(feeds.map((feed) => feed.dispose()));
    await Promise.allSettled([server?.stop(), off?.stop()]);
  });

  it('is not there (404) when LEAK_REPORT_PUBLIC_KEYS names no key', async () => {
    const body = JSON.stringify([candidate(generateKey('SECRET', 'LIVE'))]);
    expect((await postLeaks(off.url, body, github)).status).toBe(404);
  });

  it('answers an unsigned or wrongly signed report 401, telling nothing and changing nothing', async () => {
    const key = await createKey(server, { merchantId: 'm_unsigned' });
    const body = JSON.stringify([candidate(key.secret)]);
    const unsigned = await postLeaks(server.url, body, null);
    const wrongKey = await postLeaks(server.url, body, stranger);
    // Signed, but over another body.
    const wrongBody = await postLeaks(server.url, body, null, { 'github-public-key-identifier': 'x', 'github-public-key-signature': github.sign(`${body} `) });
    const garbage = await postLeaks(server.url, body, null, { 'github-public-key-identifier': 'x', 'github-public-key-signature': 'not base64!' });
    const noIdentifier = await postLeaks(server.url, body, null, { 'github-public-key-signature': github.sign(body) });
    for (const answer of [unsigned, wrongKey, wrongBody, garbage, noIdentifier]) {
      expect(answer.status).toBe(401);
      expect(answer.text).not.toContain(sha256(key.secret));
      expect(answer.text).not.toContain('positive');
    }
    expect(await statusOf(key.id)).toEqual({ status: 'ACTIVE', statusReason: null });
    expect(await events(key.id, 'KEY_LEAKED')).toEqual([]);
    // A signed caller that sends garbage is told so; an unsigned one is not even told that.
    expect((await postLeaks(server.url, 'not json', null)).status).toBe(401);
  });

  it('revokes the SECRET and TOKENIZATION keys of a mixed batch at once, with KEY_LEAKED, and labels each candidate', async () => {
    const secret = await createKey(server, { merchantId: 'm_mixed', scopes: ['audit:read'] });
    const tokenization = await createKey(server, { merchantId: 'm_mixed', type: 'TOKENIZATION' });
    const publicKey = await createKey(server, { merchantId: 'm_mixed', type: 'PUBLIC' });
    const revoked = await createKey(server, { merchantId: 'm_mixed' });
    await server.gql(REVOKE, { id: revoked.id });
    const bystander = await createKey(server, { merchantId: 'm_mixed' });
    const socket = await subscribedFeed(server, secret.secret);
    feeds.push(socket);
    // Cached on this instance before the report: the revocation must reach the cache too.
    expect((await server.gql(VIEWER, {}, secret.secret)).status).toBe(200);

    const tokens = [
      secret.secret,
      tokenization.secret,
      publicKey.secret,
      revoked.secret,
      generateKey('SECRET', 'LIVE'),
      badChecksum(bystander.secret),
      'ghp_not_ours_at_all',
      secret.secret,
    ];
    const body = JSON.stringify(tokens.map((token, i) => ({ ...candidate(token, `https://github.com/acme/app/blob/main/f${i}`), type: `type_${i}` })));
    const answer = await postLeaks(server.url, body, github);
    expect(answer.status).toBe(200);
    const labels = ['true_positive', 'true_positive', 'false_positive', 'true_positive', 'false_positive', 'false_positive', 'false_positive', 'true_positive'];
    expect(answer.json).toEqual(tokens.map((token, i) => ({ token_hash: sha256(token), token_type: `type_${i}`, label: labels[i] })));
    for (const token of tokens) expect(answer.text).not.toContain(token);

    // At once: answered only after the change reached caches and sockets.
    expect((await server.gql(VIEWER, {}, secret.secret)).status).toBe(401);
    expect((await server.gql(VIEWER, {}, tokenization.secret)).status).toBe(401);
    expect(await socket.closed).toBe(4403);
    expect(await statusOf(secret.id)).toEqual({ status: 'REVOKED', statusReason: 'leaked' });
    expect(await statusOf(tokenization.id)).toEqual({ status: 'REVOKED', statusReason: 'leaked' });
    expect(await statusOf(publicKey.id)).toEqual({ status: 'ACTIVE', statusReason: null });
    expect(await statusOf(bystander.id)).toEqual({ status: 'ACTIVE', statusReason: null });

    const leaked = await events(secret.id);
    expect(leaked.filter((e) => e.type === 'KEY_LEAKED' || e.type === 'KEY_REVOKED').map((e) => [e.type, e.reason, e.metadata])).toEqual([
      // The first candidate naming the key says where it was found.
      ['KEY_LEAKED', 'leaked', { source: 'content', url: 'https://github.com/acme/app/blob/main/f0' }],
      ['KEY_REVOKED', 'leaked', null],
    ]);
    expect(leaked.find((e) => e.type === 'KEY_LEAKED')).toMatchObject({ merchantId: 'm_mixed', operationName: 'leaks', actorKeyId: null });
    expect(await events(tokenization.id, 'KEY_LEAKED')).toHaveLength(1);
    expect(await events(publicKey.id, 'KEY_LEAKED')).toEqual([]);
    expect(await events(revoked.id, 'KEY_LEAKED')).toEqual([]);
    expect(await events(revoked.id, 'KEY_REVOKED')).toHaveLength(1);

    // Reported again (GitHub retries): still labelled, never evented twice.
    const again = await postLeaks(server.url, body, github);
    expect(again.json.map((item: { label: string }) => item.label)).toEqual(labels);
    expect(await events(secret.id, 'KEY_LEAKED')).toHaveLength(1);
    expect(await events(secret.id, 'KEY_REVOKED')).toHaveLength(1);
  });

  it('refuses what is not a report: invalid JSON or shape 400, over 1,000 items or 1 MiB 413, other methods 405', async () => {
    const signed = (body: string) => postLeaks(server.url, body, github);
    expect((await signed('[{"token": ')).status).toBe(400);
    expect((await signed('{"token": "x"}')).status).toBe(400);
    expect((await signed('[{"type": "t"}]')).status).toBe(400);
    expect((await signed('["sk_live_x"]')).status).toBe(400);
    expect((await signed(JSON.stringify([{ token: 'x', type: 't', url: 'https://a\u0007b' }]))).status).toBe(400);
    const atBound = Array.from({ length: 1_000 }, () => candidate(generateKey('SECRET', 'TEST')));
    expect((await signed(JSON.stringify(atBound))).status).toBe(200);
    const overItems = await signed(JSON.stringify([...atBound, candidate('one more')]));
    expect(overItems.status).toBe(413);
    // 1 MiB exactly is taken (and then refused for its shape); one byte more is not read.
    const padded = (size: number) => {
      const head = '[{"token":"x","type":"t","url":"';
      return `${head}${'a'.repeat(size - head.length - 3)}"}]`;
    };
    expect(Buffer.byteLength(padded(1_048_576))).toBe(1_048_576);
    expect((await signed(padded(1_048_576))).status).toBe(400);
    expect((await signed(padded(1_048_577))).status).toBe(413);
    expect((await fetch(`${server.url}/leaks`)).status).toBe(405);
  });

  it('reads at most 16 reports at once: one more is answered 503 with Retry-After, and a slot frees when one ends', async () => {
    const { port } = new URL(server.url);
    const slow = Array.from({ length: 16 }, () => {
      const req = request({ host: '127.0.0.1', port, path: '/leaks', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100' } });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
      });
      req.write('[');
      return { req, answered };
    });
    const refused = await waitFor(async () => {
      const answer = await postLeaks(server.url, '[]', github);
      return answer.status === 503 ? answer : null;
    });
    expect(refused.json).toEqual({ error: 'Too many reports at once; retry shortly.' });
    expect(refused.headers.get('retry-after')).toBe('1');
    for (const { req } of slow) req.end(`${' '.repeat(98)}]`);
    // Unsigned, so 401 once their bodies are in.
    expect(await Promise.all(slow.map((one) => one.answered))).toEqual(Array(16).fill(401));
    expect((await postLeaks(server.url, '[]', github)).status).toBe(200);
  });

  it('handles 10,000 candidates in ten reports of 1,000, revoking exactly the ones that are ours', async () => {
    const ours = await Promise.all(Array.from({ length: 50 }, (_, i) => createKey(server, { merchantId: 'm_bulk', name: `bulk ${i}` })));
    const reports = Array.from({ length: 10 }, (_, r) =>
      Array.from({ length: 1_000 }, (_, i) => candidate(i % 200 === 0 ? ours[r * 5 + i / 200]!.secret : i % 2 ? generateKey('SECRET', 'LIVE') : `noise-${r}-${i}`)),
    );
    const answers = await Promise.all(reports.map((report) => postLeaks(server.url, JSON.stringify(report), github)));
    for (const [r, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      expect(answer.json).toHaveLength(1_000);
      const positives = answer.json.flatMap((item: { label: string }, i: number) => (item.label === 'true_positive' ? [i] : []));
      expect(positives).toEqual([0, 200, 400, 600, 800]);
      expect(answer.json[1].token_hash).toBe(sha256(reports[r]![1]!.token));
    }
    const keys = await server.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_LEAKED', merchantId: 'm_bulk' });
    expect(new Set(keys.map((event) => event.keyId))).toEqual(new Set(ours.map((key) => key.id)));
    expect(keys).toHaveLength(50);
    for (const key of ours.slice(0, 3)) expect((await server.gql(VIEWER, {}, key.secret)).status).toBe(401);
  });

  it('reportLeakedKeys: needs leaks:report, answers only a count, revokes what is ours', async () => {
    const scanner = await createKey(server, { merchantId: 'm_scanner', scopes: ['leaks:report'] });
    const plain = await createKey(server, { merchantId: 'm_scanner', scopes: ['keys:read'] });
    // Another merchant's key: a leaked value is compromised whoever reports it.
    const victim = await createKey(server, { merchantId: 'm_victim' });
    const pk = await createKey(server, { merchantId: 'm_victim', type: 'PUBLIC' });
    const keys = [victim.secret, pk.secret, generateKey('SECRET', 'LIVE'), 'nonsense'];

    const refused = await server.gql(REPORT, { keys }, plain.secret);
    expect(refused.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(await statusOf(victim.id)).toEqual({ status: 'ACTIVE', statusReason: null });

    const report = await server.gql(REPORT, { keys, url: 'https://pastebin.example/x', source: 'paste' }, scanner.secret);
    expect(report.body).toEqual({ data: { reportLeakedKeys: { received: 4 } } });
    expect(await statusOf(victim.id)).toEqual({ status: 'REVOKED', statusReason: 'leaked' });
    expect(await statusOf(pk.id)).toEqual({ status: 'ACTIVE', statusReason: null });
    const [event] = await events(victim.id, 'KEY_LEAKED');
    expect(event).toMatchObject({ actorKeyId: scanner.id, merchantId: 'm_victim', metadata: { source: 'paste', url: 'https://pastebin.example/x' } });
    // Nothing matched: the same answer.
    expect((await server.gql(REPORT, { keys: ['nonsense'] }, scanner.secret)).body).toEqual({ data: { reportLeakedKeys: { received: 1 } } });
    expect((await server.gql(REPORT, { keys: [] }, scanner.secret)).body).toEqual({ data: { reportLeakedKeys: { received: 0 } } });
  });

  it('reportLeakedKeys: bounds its input, and PUBLIC or TOKENIZATION keys never hold leaks:report', async () => {
    const scanner = await createKey(server, { merchantId: 'm_bounds', scopes: ['leaks:report'] });
    const atBound = await server.gql(REPORT, { keys: Array.from({ length: 1_000 }, (_, i) => `k${i}`) }, scanner.secret);
    expect(atBound.body.data.reportLeakedKeys.received).toBe(1_000);
    const over = await server.gql(REPORT, { keys: Array.from({ length: 1_001 }, (_, i) => `k${i}`), url: 'x\u202ey', source: 's'.repeat(101) }, scanner.secret);
    expect(over.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['keys', 'url', 'source'] });
    for (const type of ['PUBLIC', 'TOKENIZATION']) {
      const created = await server.gql(
        'mutation($input: CreateKeyInput!) { createKey(input: $input) { secret } }',
        { input: { merchantId: 'm_bounds', name: 'client', type, scopes: ['leaks:report'] } },
      );
      expect(created.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['input.scopes'] });
    }
  });

  describe('with LEAKED_KEY_ACTION=disable and the public keys in a file', () => {
    let disabling: TestServer;
    beforeAll(async () => {
      const file = join(server.dir, 'github-keys.pem');
      writeFileSync(file, `${other.publicPem}\n${github.publicPem}`);
      disabling = await startTestServer({ env: { LEAK_REPORT_PUBLIC_KEYS: file, LEAKED_KEY_ACTION: 'disable' } });
    });
    afterAll(async () => {
      await disabling?.stop();
    });

    it('disables the key instead of revoking it, once', async () => {
      const key = await createKey(disabling, { merchantId: 'm_disable', scopes: ['audit:read'] });
      const socket = await subscribedFeed(disabling, key.secret);
      feeds.push(socket);
      const body = JSON.stringify([candidate(key.secret)]);
      expect((await postLeaks(disabling.url, body, github)).json[0].label).toBe('true_positive');
      expect(await socket.closed).toBe(4403);
      expect(await statusOf(key.id, disabling)).toEqual({ status: 'DISABLED', statusReason: 'leaked' });
      expect((await disabling.gql(VIEWER, {}, key.secret)).status).toBe(401);
      await postLeaks(disabling.url, body, github);
      const rows = await disabling.app.services.db.fork().find(AuditEventEntity, { keyId: key.id, type: { $in: ['KEY_LEAKED', 'KEY_DISABLED'] } }, { orderBy: { id: 'asc' } });
      expect(rows.map((row) => [row.type, row.reason])).toEqual([
        ['KEY_LEAKED', 'leaked'],
        ['KEY_DISABLED', 'leaked'],
      ]);
    });
  });
});
