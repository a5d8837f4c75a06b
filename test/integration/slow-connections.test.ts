import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnServer, type ChildServer } from '../helpers/child.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.js';

const HEADERS_TIMEOUT_MS = 4_000;
const PER_ADDRESS = 200;
const DRIBBLERS = 2_000;

interface Dribbler {
  /** Epoch milliseconds (performance.timeOrigin + now(), comparable across processes). */
  connectedAt: number;
  closedAt: number;
  /** The first bytes the server sent, if any. */
  received: string;
}

/**
 * The attacker, in a process of its own (as it would be on its own machine, so its work does
 * not delay the normal client's measurements): `count` slowloris clients from 127.0.0.2 (Linux
 * routes all of 127.0.0.0/8 to loopback), each sending a request line and then one header line
 * every 300 ms, never the blank line that ends the headers. Prints "started", then one JSON
 * array of every connection's fate once all are closed.
 */
const DRIBBLE_SCRIPT = `
  import net from 'node:net';
  const [port, count] = process.argv.slice(1).map(Number);
  const now = () => performance.timeOrigin + performance.now();
  const states = [];
  const closed = [];
  console.log('started ' + now());
  // 100 connections every 10 ms: 2,000 in 200 ms, without overflowing the listen backlog
  // (whose overflow the kernel answers with SYN retries a second or more later).
  const open = (i) => {
    const state = { connectedAt: 0, closedAt: 0, received: '' };
    states.push(state);
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    let timer;
    socket.on('connect', () => {
      state.connectedAt = now();
      socket.write('GET /healthz HTTP/1.1\\r\\nHost: keyring\\r\\n');
      timer = setInterval(() => socket.write('X-Drip: 1\\r\\n'), 300);
    });
    socket.on('data', (chunk) => { if (state.received.length < 64) state.received += chunk.toString('latin1'); });
    // A refused connection may be reset while its first line is in flight.
    socket.on('error', () => {});
    closed.push(new Promise((resolve) => socket.once('close', () => { clearInterval(timer); state.closedAt = now(); resolve(); })));
  };
  let next = 0;
  await new Promise((resolve) => {
    const batch = setInterval(() => {
      for (const end = Math.min(count, next + 100); next < end; next++) open(next);
      if (next === count) resolve(clearInterval(batch));
    }, 10);
  });
  Promise.all(closed).then(() => console.log(JSON.stringify(states)));
`;

/** Starts the attacker; `started` resolves at its first connection attempt, `results` once every connection is closed. */
function dribble(port: number, count: number): { started: Promise<number>; results: Promise<Dribbler[]> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', DRIBBLE_SCRIPT, String(port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let markStarted: (at: number) => void;
  const started = new Promise<number>((resolve) => (markStarted = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    const line = /^started (\S+)$/m.exec(output);
    if (line) markStarted(Number(line[1]));
  });
  const results = new Promise<Dribbler[]>((resolve, reject) =>
    child.once('exit', (code) => {
      const last = output.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('[')) resolve(JSON.parse(last) as Dribbler[]);
      else reject(new Error(`dribbler exited with ${code}: ${output.slice(0, 500)}`));
    }),
  );
  return { started, results };
}

const epoch = () => performance.timeOrigin + performance.now();

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('slow connections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyring-slow-'));
  let server: ChildServer | undefined;
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(`refuses ${DRIBBLERS} dribbling connections from one address past its cap at once, closes the rest at the headers timeout, and serves others within 2× idle latency`, async () => {
    server = await spawnServer({
      DATABASE_URL: `sqlite:${join(dir, 'keyring.db')}`,
      RATE_LIMIT: '100000',
      IP_RATE_LIMIT: '1000000',
      HTTP_HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_MS / 1000),
      HTTP_REQUEST_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_MS / 1000),
      MAX_CONNECTIONS_PER_IP: String(PER_ADDRESS),
      MAX_CONNECTIONS: '5000',
    });
    const { url, adminKey } = server;
    const port = Number(new URL(url).port);
    // The normal client: a key's request over a keep-alive connection from 127.0.0.1.
    const request = async (): Promise<number> => {
      const started = performance.now();
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
        body: JSON.stringify({ query: '{ viewer { keyId } }' }),
      });
      const body = (await res.json()) as { data?: { viewer?: { keyId?: string } } };
      expect(res.status).toBe(200);
      expect(body.data?.viewer?.keyId).toBeTruthy();
      return performance.now() - started;
    };
    for (let i = 0; i < 50; i++) await request(); // warm-up
    // The idle baseline spans about as long as the attack will, so both see the same machine noise.
    const idle: number[] = [];
    const idleUntil = epoch() + HEADERS_TIMEOUT_MS + 1_000;
    while (idle.length < 300 || epoch() < idleUntil) idle.push(await request());

    const attack = dribble(port, DRIBBLERS);
    const attackStart = await attack.started;
    let done = false;
    void attack.results.finally(() => (done = true));
    const underAttack: Array<{ at: number; ms: number }> = [];
    while (!done) {
      const at = epoch() - attackStart;
      underAttack.push({ at, ms: await request() });
    }
    const states = await attack.results;
    const attackMs = epoch() - attackStart;

    expect(states).toHaveLength(DRIBBLERS);
    expect(states.every((s) => s.connectedAt > 0 && s.closedAt > 0)).toBe(true);
    const held = states.filter((s) => s.received.length > 0);
    const refused = states.filter((s) => s.received.length === 0);
    const lifetime = (s: Dribbler) => s.closedAt - s.connectedAt;
    const lastConnect = Math.max(...states.map((s) => s.connectedAt)) - attackStart;
    const firstTimeout = Math.min(...held.map((s) => s.closedAt)) - attackStart;
    const refusedLifetimes = refused.map(lifetime);
    const heldLifetimes = held.map(lifetime);
    const figures = {
      dribblers: DRIBBLERS,
      perAddressCap: PER_ADDRESS,
      held: held.length,
      refused: refused.length,
      lastConnectMs: Math.round(lastConnect),
      refusedClosedWithinMs: { p50: Math.round(percentile(refusedLifetimes, 50)), max: Math.round(Math.max(...refusedLifetimes)) },
      heldClosedAfterMs: { min: Math.round(Math.min(...heldLifetimes)), max: Math.round(Math.max(...heldLifetimes)) },
      normalClient: {
        idle: { n: idle.length, p50: +percentile(idle, 50).toFixed(2), p99: +percentile(idle, 99).toFixed(2) },
        underAttack: {
          n: underAttack.length,
          p50: +percentile(underAttack.map((s) => s.ms), 50).toFixed(2),
          p99: +percentile(underAttack.map((s) => s.ms), 99).toFixed(2),
          max: +Math.max(...underAttack.map((s) => s.ms)).toFixed(2),
        },
      },
      attackMs: Math.round(attackMs),
    };
    console.log('slow connections:', JSON.stringify(figures, null, 2));

    // Every connection reached the server before the first held one timed out, so exactly the cap was held.
    expect(lastConnect).toBeLessThan(firstTimeout);
    expect(held).toHaveLength(PER_ADDRESS);
    expect(refused).toHaveLength(DRIBBLERS - PER_ADDRESS);
    // Refused at once: nothing read, closed long before any timeout.
    expect(Math.max(...refusedLifetimes)).toBeLessThan(HEADERS_TIMEOUT_MS / 2);
    // Held ones: answered 408 and closed at the headers timeout (checked every 500 ms), not before.
    for (const s of held) expect(s.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(Math.min(...heldLifetimes)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(Math.max(...heldLifetimes)).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);

    // Served throughout, within 2× idle p99 (with a 50 ms floor against scheduling noise).
    expect(underAttack.length).toBeGreaterThan(10);
    expect(underAttack[0]!.at).toBeLessThan(lastConnect + 100);
    expect(underAttack.at(-1)!.at).toBeGreaterThan(firstTimeout - 100);
    const idleP99 = percentile(idle, 99);
    expect(figures.normalClient.underAttack.p99).toBeLessThanOrEqual(Math.max(2 * idleP99, idleP99 + 50));
  });
});

describe('per-address cap on connections and WebSockets together', () => {
  let server: TestServer | undefined;
  const open: Array<Socket | WebSocket> = [];
  afterAll(async () => {
    for (const item of open) (item instanceof WebSocket ? item.terminate() : item.destroy());
    await server?.stop();
  });

  /** A raw connection from `from`: resolves 'open' once the server answers a request on it, 'refused' when it is closed unanswered. */
  const httpConnection = (port: number, from: string) =>
    new Promise<'open' | 'refused'>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: from });
      open.push(socket);
      socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: keyring\r\n\r\n'));
      socket.once('data', () => resolve('open'));
      socket.on('error', () => {});
      socket.once('close', () => resolve('refused'));
    });
  const webSocket = (port: number, from: string, forwardedFor?: string) =>
    new Promise<'open' | number | 'refused'>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', {
        localAddress: from,
        headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
      });
      open.push(ws);
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve('refused'));
    });

  it('counts WebSockets and HTTP connections of one address against one cap, and frees a slot when one closes', async () => {
    server = await startTestServer({ env: { MAX_CONNECTIONS_PER_IP: '4' } });
    const port = server.app.port;
    expect(await webSocket(port, '127.0.0.3')).toBe('open');
    expect(await webSocket(port, '127.0.0.3')).toBe('open');
    expect(await httpConnection(port, '127.0.0.3')).toBe('open');
    expect(await httpConnection(port, '127.0.0.3')).toBe('open');
    expect(await webSocket(port, '127.0.0.3')).toBe('refused');
    expect(await httpConnection(port, '127.0.0.3')).toBe('refused');
    // Another address is not affected.
    expect(await httpConnection(port, '127.0.0.4')).toBe('open');
    (open[0] as WebSocket).close();
    await waitFor(async () => (await httpConnection(port, '127.0.0.3')) === 'open');
  });

  it('behind a proxy named in TRUST_PROXY, does not cap the proxy but counts WebSockets by the forwarded client', async () => {
    await server?.stop();
    server = await startTestServer({ env: { MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '127.0.0.5' } });
    const port = server.app.port;
    for (let i = 0; i < 4; i++) expect(await httpConnection(port, '127.0.0.5')).toBe('open');
    expect(await webSocket(port, '127.0.0.5', '203.0.113.1')).toBe('open');
    expect(await webSocket(port, '127.0.0.5', '203.0.113.1')).toBe('open');
    expect(await webSocket(port, '127.0.0.5', '203.0.113.1')).toBe(429);
    expect(await webSocket(port, '127.0.0.5', '203.0.113.2')).toBe('open');
  });
});
