import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, connect, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import { codeBlocks } from '../helpers/readme.js';
import { createKey, startTestServer, waitFor, type TestServer } from '../helpers/server.js';

/**
 * A real NGINX in front of a small upstream, asking keyring's /authz with `auth_request`,
 * configured with the README's own snippet (only its addresses and port replaced).
 */
const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
const available = existsSync(NGINX);
if (!available && !process.env.CI) console.warn(`[authz-nginx] skipped: no NGINX at ${NGINX} (apt-get install nginx)`);

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

/** The README's NGINX block: its info string is `nginx tested`. */
function readmeSnippet(): string {
  const blocks = codeBlocks(README).filter((block) => block.info.split(/\s+/)[0] === 'nginx' && block.info.split(/\s+/).includes('tested'));
  expect(blocks, 'README.md has exactly one ```nginx tested block').toHaveLength(1);
  return blocks[0]!.code;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Replaces `from` in the snippet, failing loudly when the README no longer has it. */
function replaceIn(text: string, from: string, to: string): string {
  expect(text, `the README's NGINX block has "${from}"`).toContain(from);
  return text.split(from).join(to);
}

describe.skipIf(!available && !process.env.CI)('NGINX auth_request in front of an upstream, asking /authz', () => {
  let keyring: TestServer;
  let upstream: Server;
  let nginx: ChildProcess | undefined;
  let dir: string;
  let base: string;
  let nginxLog = '';
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    if (!available) throw new Error(`CI is set but no NGINX is installed at ${NGINX}`);
    keyring = await startTestServer({ env: { KEYRING_SCOPES: 'orders:read', TRUST_PROXY: 'loopback', AUDIT_REFUSAL_WINDOW_SECONDS: '0' } });
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('upstream ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'keyring-nginx-'));
    let snippet = readmeSnippet();
    snippet = replaceIn(snippet, 'server 127.0.0.1:4000;', `server 127.0.0.1:${keyring.app.port};`);
    snippet = replaceIn(snippet, 'server 127.0.0.1:8080;', `server 127.0.0.1:${upstreamPort};`);
    snippet = replaceIn(snippet, 'listen 8000;', `listen 127.0.0.1:${port};`);
    const conf = [
      'daemon off;',
      'worker_processes 1;',
      // As root, NGINX's workers would switch to `nobody`, who cannot use this folder: they stay the current user.
      ...(process.getuid?.() === 0 ? [`user ${userInfo().username};`] : []),
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log notice;`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`),
      snippet,
      '}',
    ].join('\n');
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stdout!.on('data', (chunk) => (nginxLog += chunk));
    nginx.stderr!.on('data', (chunk) => (nginxLog += chunk));
    const exited = new Promise<never>((_, reject) => nginx!.once('exit', (code) => reject(new Error(`nginx exited (${code}): ${nginxLog}`))));
    await Promise.race([waitFor(() => accepts(port), 10_000), exited]);
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await new Promise((resolve) => upstream?.close(resolve));
    await keyring?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const through = async (key: string | null, headers: Record<string, string> = {}) => {
    const before = seen.length;
    const res = await fetch(`${base}/orders/42`, { headers: { ...headers, ...(key ? { authorization: `Bearer ${key}` } : {}) } });
    const body = await res.text();
    return { status: res.status, headers: res.headers, body, reached: seen.slice(before) };
  };

  it('a valid key reaches the upstream, with its merchant and key id passed on; a spoofed X-Forwarded-For is replaced', async () => {
    const key = await createKey(keyring, { merchantId: 'm_nginx', scopes: ['orders:read'] });
    const res = await through(key.secret, { 'x-forwarded-for': '6.6.6.6' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('upstream ok');
    expect(res.reached).toHaveLength(1);
    expect(res.reached[0]).toMatchObject({ 'x-keyring-merchant-id': 'm_nginx', 'x-keyring-key-id': key.id });
    await keyring.app.services.ledger.flush();
    const [used] = await keyring.app.services.db.fork().find(AuditEventEntity, { type: 'KEY_USED', keyId: key.id });
    expect(used).toMatchObject({ operationName: 'authz', ip: '127.0.0.1' });
  });

  it('no key and a revoked key get 401 and never reach the upstream', async () => {
    const key = await createKey(keyring, { merchantId: 'm_nginx', scopes: ['orders:read'] });
    expect((await through(key.secret)).status).toBe(200);
    const revoked = await keyring.gql('mutation($id: ID!) { revokeKey(id: $id) { id } }', { id: key.id });
    expect(revoked.body.errors).toBeUndefined();
    for (const [label, secret] of [['no key', null], ['revoked', key.secret]] as const) {
      const res = await through(secret);
      expect(res.status, label).toBe(401);
      expect(res.reached, label).toEqual([]);
    }
  });

  it('a key without the required scope gets 403', async () => {
    const key = await createKey(keyring, { merchantId: 'm_nginx', scopes: [] });
    const res = await through(key.secret);
    expect(res.status).toBe(403);
    expect(res.reached).toEqual([]);
  });

  it('over the key’s limit gets 429 with Retry-After and the code, not 500', async () => {
    const key = await createKey(keyring, { merchantId: 'm_nginx', scopes: ['orders:read'], rateLimit: { limit: 2, windowSeconds: 60 } });
    expect((await through(key.secret)).status).toBe(200);
    expect((await through(key.secret)).status).toBe(200);
    const res = await through(key.secret);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('x-keyring-code')).toBe('RATE_LIMITED');
    expect(res.reached).toEqual([]);
  });

  it('keyring unreachable: 500, never the upstream', async () => {
    const key = await createKey(keyring, { merchantId: 'm_nginx', scopes: ['orders:read'] });
    await keyring.stop();
    const res = await through(key.secret);
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(res.reached).toEqual([]);
  });
});
